package shortcode

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
)

// Keyed gives every credential a short code derived from its serial under
// a server secret, so that the code can be printed again later (on a card
// face) without ever being stored: the ledger keeps only a keyed hash of
// it, and without the secret neither can be computed from the other.
type Keyed struct {
	derive, index []byte
}

// NewKeyed derives the two keys Keyed needs from secret (32 bytes or more).
func NewKeyed(secret []byte) (*Keyed, error) {
	d, err := hkdf.Key(sha256.New, secret, nil, "stampseal short code derive", 32)
	if err != nil {
		return nil, err
	}
	i, err := hkdf.Key(sha256.New, secret, nil, "stampseal short code index", 32)
	if err != nil {
		return nil, err
	}
	return &Keyed{derive: d, index: i}, nil
}

// Derive returns the short code of a serial (55 bits of HMAC-SHA256).
func (k *Keyed) Derive(serial []byte) string {
	m := hmac.New(sha256.New, k.derive)
	m.Write(serial)
	var v [codeLen]byte
	copy(v[:dataLen], m.Sum(nil))
	return fromBytes(v)
}

// LookupKey checks a typed short code (a typo fails with ErrBadCheck before
// any look-up) and returns the keyed hash the ledger indexes it under.
func (k *Keyed) LookupKey(input string) ([]byte, error) {
	canonical, err := Parse(input)
	if err != nil {
		return nil, err
	}
	return Hash(k.index, canonical), nil
}
