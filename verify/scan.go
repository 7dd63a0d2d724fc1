package verify

import "strings"

// scanSpace is what a scanner may send around a code: keyboard-wedge
// scanners end every scan with CR, LF or a tab.
const scanSpace = " \t\r\n"

// TrimScan removes the spaces, tabs, CRs and LFs a scanner or a paste puts
// around a code or short code; nothing inside the code is touched.
func TrimScan(code string) string { return strings.Trim(code, scanSpace) }
