package credential

import "strings"

// Shaped reports whether text has the shape of a code (the prefix, then
// valid Base45) whatever its content. A scanner reads a symbol all or
// nothing, so a shaped text that does not Parse was made up or tampered
// with rather than mis-scanned.
func Shaped(text string) bool {
	if len(text) > MaxCodeLen || len(text) <= len(Prefix) || !strings.HasPrefix(text, Prefix) {
		return false
	}
	_, err := decodeBase45(text[len(Prefix):])
	return err == nil
}
