// Package scan reads barcodes in tests with ZXing-cpp's ZXingReader (Debian
// zxing-cpp-tools, installed by .ci/run), a decoder stampseal did not write,
// for the symbologies gozxing cannot read.
//
// Fallback: tests read QR, Aztec, DataMatrix and Code 128 with gozxing first
// and with ZXingReader when gozxing finds nothing. gozxing's finder-pattern
// detector misses about one random 180-character QR code in a hundred (3 of
// 300 card faces, each read by ZXingReader), so a test that trusted gozxing
// alone would fail on the decoder's weakness, not on stampseal's.
package scan

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// ZXing decodes a PNG holding one symbol of format ("PDF417", "QRCode",
// ...) and returns its bytes; finding none fails t.
func ZXing(t testing.TB, pngData []byte, format string) string {
	t.Helper()
	bin, err := exec.LookPath("ZXingReader")
	if err != nil {
		t.Fatalf("ZXingReader is needed to read %s: install zxing-cpp-tools (.ci/run does): %v", format, err)
	}
	path := filepath.Join(t.TempDir(), "symbol.png")
	if err := os.WriteFile(path, pngData, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-format", format, "-bytes", path).Output()
	if err != nil || len(out) == 0 {
		t.Fatalf("ZXingReader found no %s in %s: %v", format, path, err)
	}
	return string(out)
}
