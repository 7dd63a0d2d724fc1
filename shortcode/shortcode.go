// Package shortcode makes and checks short human codes such as
// "K7QF-3MZ9-W2XD" that a cashier can type when a scanner fails.
//
// A credential's code is derived, not drawn: Keyed computes its 11 data
// symbols (55 bits) from the credential's serial under a server secret, so
// it can be printed again at any time and is never stored. (New draws
// random ones, for tests and tools.) A code is those 11 symbols and one
// check symbol, from Crockford's base32 alphabet (0-9 A-Z without I L O U),
// written in three groups of four. The check symbol is a Damm-style check
// over GF(32): it catches every single-symbol substitution and every
// adjacent transposition, so a typo is reported as ErrBadCheck before any
// lookup. Short codes are bearer secrets: store Hash, never the code.
package shortcode

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// alphabet is Crockford's base32: no I, L, O or U, so nothing reads as
// another symbol.
const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

const (
	dataLen  = 11          // random symbols, 55 bits
	codeLen  = dataLen + 1 // plus the check symbol
	groupLen = 4
	// maxInput bounds what Parse looks at; a code with generous spacing is
	// far shorter, and hostile input is rejected before any allocation.
	maxInput = 64
)

// ErrMalformed reports input of the wrong length or with characters outside
// the alphabet.
var ErrMalformed = errors.New("shortcode: malformed code")

// ErrBadCheck reports a well-formed code whose check symbol does not match:
// almost always a typo.
var ErrBadCheck = errors.New("shortcode: check symbol does not match (typo?)")

// value maps an input byte to its symbol value, or -1. It accepts lower case
// and Crockford's aliases O->0, I and L->1.
var value = func() (v [256]int8) {
	for i := range v {
		v[i] = -1
	}
	for i := 0; i < len(alphabet); i++ {
		c := alphabet[i]
		v[c] = int8(i)
		v[c|0x20] = int8(i) // lower case; harmless for digits
	}
	for _, c := range "oO" {
		v[c] = 0
	}
	for _, c := range "iIlL" {
		v[c] = 1
	}
	return v
}()

// step is one step of the check: interim*x + d in GF(32) with the
// primitive polynomial x^5+x^2+1. Because x != 0 and x != 1 the operation
// is a totally anti-symmetric quasigroup (Damm): a changed symbol always
// changes the result, and so does swapping two neighbours.
func step(interim, d byte) byte {
	interim <<= 1
	if interim&0x20 != 0 {
		interim ^= 0x25
	}
	return interim ^ d
}

// checkSymbol returns the value that brings the running check of data to 0.
func checkSymbol(data []byte) byte {
	var interim byte
	for _, d := range data {
		interim = step(interim, d)
	}
	return step(interim, 0) // in GF(2^k), a*i + c = 0 means c = a*i
}

// New returns a fresh code in canonical form, e.g. "K7QF-3MZ9-W2XD".
func New() (string, error) {
	var v [codeLen]byte
	if _, err := rand.Read(v[:dataLen]); err != nil {
		return "", fmt.Errorf("shortcode: read random: %w", err)
	}
	return fromBytes(v), nil
}

// fromBytes makes a code of the low five bits of the first dataLen bytes.
func fromBytes(v [codeLen]byte) string {
	for i := range dataLen {
		v[i] &= 0x1f // the low five bits of a random byte are uniform
	}
	v[dataLen] = checkSymbol(v[:dataLen])
	return format(v[:])
}

// Parse normalises input as a cashier may type it (surrounding space, lower
// case, '-' and spaces anywhere, O for 0, I or L for 1), checks length,
// alphabet and check symbol, and returns the canonical form. It returns an
// error wrapping ErrMalformed or ErrBadCheck.
func Parse(input string) (string, error) {
	if len(input) > maxInput {
		return "", fmt.Errorf("%w: longer than %d characters", ErrMalformed, maxInput)
	}
	var v [codeLen]byte
	n := 0
	for i := 0; i < len(input); i++ {
		c := input[i]
		switch c {
		case '-', ' ', '\t', '\r', '\n':
			continue
		}
		d := value[c]
		if d < 0 {
			return "", fmt.Errorf("%w: character %q not allowed", ErrMalformed, rune(c))
		}
		if n == codeLen {
			return "", fmt.Errorf("%w: more than %d symbols", ErrMalformed, codeLen)
		}
		v[n] = byte(d)
		n++
	}
	if n != codeLen {
		return "", fmt.Errorf("%w: %d symbols, want %d", ErrMalformed, n, codeLen)
	}
	if checkSymbol(v[:dataLen]) != v[dataLen] {
		return "", ErrBadCheck
	}
	return format(v[:]), nil
}

// format writes symbol values in groups of four joined by '-'.
func format(v []byte) string {
	var b strings.Builder
	b.Grow(len(v) + len(v)/groupLen)
	for i, d := range v {
		if i > 0 && i%groupLen == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(alphabet[d])
	}
	return b.String()
}

// Hash returns HMAC-SHA256(secret, canonical), the value to store and look
// up instead of the code itself. Pass the canonical form returned by New or
// Parse so that every spelling of a code hashes alike.
func Hash(secret []byte, canonical string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(canonical))
	return m.Sum(nil)
}
