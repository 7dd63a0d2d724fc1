// Package credential is the one place that knows what a stampseal code is:
// the signed claims, their compact binary form, the text a barcode carries,
// and the issuance record kept for every serial.
package credential

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Prefix opens every code. The digit is the format version, so that a
// future format can be told apart before anything is decoded.
const Prefix = "SS1:"

// MaxCodeLen bounds the text a decoder will look at; real codes are under 200.
const MaxCodeLen = 512

// MaxMerchantLen bounds merchant and program ids: they travel inside every
// code. With ids of up to 24 characters a coupon code stays under 200
// characters (QR version 8 at error correction M); at 64 it still fits
// QR version 10.
const MaxMerchantLen = 64

// ErrMalformed is returned for any text that is not a well-formed code.
var ErrMalformed = errors.New("malformed code")

// Kind says what a credential is.
type Kind uint8

// The kinds of credential.
const (
	KindCard   Kind = 1 // a stamp card: an identity, stamps live in the ledger
	KindPunch  Kind = 2 // one or more stamps, single-use, claimed onto a card
	KindCoupon Kind = 3 // an offer with a validity window and a use limit
)

// String returns the API name of the kind.
func (k Kind) String() string {
	switch k {
	case KindCard:
		return "card"
	case KindPunch:
		return "punch"
	case KindCoupon:
		return "coupon"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// MarshalText writes the API name, so records and answers read "coupon".
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads an API name.
func (k *Kind) UnmarshalText(b []byte) error {
	for _, c := range []Kind{KindCard, KindPunch, KindCoupon} {
		if string(b) == c.String() {
			*k = c
			return nil
		}
	}
	return fmt.Errorf("unknown credential kind %q", b)
}

// Serial is a credential's 128-bit random identity.
type Serial [16]byte

// NewSerial draws a serial from the system's CSPRNG.
func NewSerial() (Serial, error) {
	var s Serial
	_, err := rand.Read(s[:])
	return s, err
}

// String is the serial as 32 lowercase hex digits, as the API shows it.
func (s Serial) String() string { return hex.EncodeToString(s[:]) }

// ParseSerial reads the hex form of a serial.
func ParseSerial(v string) (Serial, error) {
	var s Serial
	if len(v) != 32 {
		return s, fmt.Errorf("serial must be 32 hex digits")
	}
	if _, err := hex.Decode(s[:], []byte(v)); err != nil {
		return s, fmt.Errorf("serial must be 32 hex digits")
	}
	return s, nil
}

// Claims is what a code asserts, signed by the merchant's key. It is encoded
// as a CBOR array (no field names) to keep codes short.
type Claims struct {
	_         struct{} `cbor:",toarray"`
	Kind      Kind
	Merchant  string
	Serial    Serial
	IssuedAt  int64  // Unix seconds
	NotBefore int64  // seconds after IssuedAt before the code is valid
	ValidFor  int64  // seconds the code stays valid after NotBefore; 0: no expiry
	Program   string // program of a card or punch; empty for coupons
	Count     uint32 // coupon: maximum uses; punch: stamps it carries; card: 0
}

// ValidFrom is when the code starts being valid.
func (c *Claims) ValidFrom() time.Time { return time.Unix(c.IssuedAt+c.NotBefore, 0).UTC() }

// Expires is when the code stops being valid, or the zero time for never.
func (c *Claims) Expires() time.Time {
	if c.ValidFor == 0 {
		return time.Time{}
	}
	return time.Unix(c.IssuedAt+c.NotBefore+c.ValidFor, 0).UTC()
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	if encMode, err = (cbor.EncOptions{Sort: cbor.SortCoreDeterministic}).EncMode(); err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		MaxNestedLevels:   4,
		MaxArrayElements:  16,
		MaxMapPairs:       16,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Marshal returns the canonical binary form of the claims.
func (c *Claims) Marshal() ([]byte, error) { return encMode.Marshal(c) }

// Validate checks the claims for values no issuer would write.
func (c *Claims) Validate() error {
	switch {
	case c.Kind < KindCard || c.Kind > KindCoupon:
		return fmt.Errorf("unknown kind %d", c.Kind)
	case c.Merchant == "" || len(c.Merchant) > MaxMerchantLen:
		return fmt.Errorf("merchant id must be 1 to %d characters", MaxMerchantLen)
	case c.IssuedAt <= 0 || c.NotBefore < 0 || c.ValidFor < 0:
		return errors.New("negative time")
	case len(c.Program) > 64:
		return errors.New("program id too long")
	}
	return nil
}

// signingContext separates stampseal's signatures from any other use of the
// same key.
const signingContext = "stampseal code v1\x00"

// SigningInput is the message the merchant's key signs for claims in their
// binary form.
func SigningInput(claims []byte) []byte {
	return append([]byte(signingContext), claims...)
}

// Code is a decoded but not yet verified code.
type Code struct {
	Claims    Claims
	Signed    []byte // the message the signature covers
	Signature []byte // Tink output: 0x01, the key id, then the raw signature
	KeyID     uint32 // from the signature's Tink prefix
}

// tinkPrefixLen is the length of the output prefix Tink puts before a
// signature: a version byte of 1 and the 32-bit key id. It is how the key id travels in the code.
const tinkPrefixLen = 5

// Encode writes claims (in their binary form) and a Tink signature as a code.
func Encode(claims, signature []byte) string {
	raw := make([]byte, 0, len(claims)+len(signature))
	raw = append(append(raw, claims...), signature...)
	return string(encodeBase45([]byte(Prefix), raw))
}

// Parse decodes a code without verifying it. Any input that is not exactly a
// code stampseal could have written yields ErrMalformed; Parse never panics.
func Parse(text string) (*Code, error) {
	if len(text) > MaxCodeLen || !strings.HasPrefix(text, Prefix) {
		return nil, ErrMalformed
	}
	raw, err := decodeBase45(text[len(Prefix):])
	if err != nil {
		return nil, ErrMalformed
	}
	var c Code
	rest, err := decMode.UnmarshalFirst(raw, &c.Claims)
	if err != nil || c.Claims.Validate() != nil {
		return nil, ErrMalformed
	}
	if len(rest) < tinkPrefixLen+32 || len(rest) > tinkPrefixLen+132 || rest[0] != 1 {
		return nil, ErrMalformed
	}
	claims := raw[:len(raw)-len(rest)]
	// Only the canonical encoding is accepted, so that one set of claims has
	// exactly one code.
	if again, err := c.Claims.Marshal(); err != nil || string(again) != string(claims) {
		return nil, ErrMalformed
	}
	c.Signed = SigningInput(claims)
	c.Signature = rest
	c.KeyID = binary.BigEndian.Uint32(rest[1:tinkPrefixLen])
	return &c, nil
}
