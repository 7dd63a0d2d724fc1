package keys

import (
	"encoding/hex"
	"fmt"
)

// Codes are the bearer credentials themselves: whoever holds one can
// redeem it. The ledger keeps each one only to render it again (barcodes,
// printed cards, short-code look-ups), so it keeps it sealed under the
// master key, bound to its serial, like the keysets: a copy of the
// database or a backup without the master key redeems nothing.

func codeAssociatedData(serial []byte) []byte {
	return []byte("stampseal code:" + hex.EncodeToString(serial))
}

// SealCode encrypts the code of serial under the master key.
func (r *Ring) SealCode(serial []byte, code string) ([]byte, error) {
	sealed, err := r.master.Encrypt([]byte(code), codeAssociatedData(serial))
	if err != nil {
		return nil, fmt.Errorf("seal code: %w", err)
	}
	return sealed, nil
}

// OpenCode decrypts a code sealed by SealCode for the same serial.
func (r *Ring) OpenCode(serial, sealed []byte) (string, error) {
	plain, err := r.master.Decrypt(sealed, codeAssociatedData(serial))
	if err != nil {
		return "", fmt.Errorf("open sealed code (wrong master key?): %w", err)
	}
	return string(plain), nil
}
