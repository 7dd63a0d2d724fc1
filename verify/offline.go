package verify

import (
	"bytes"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/signature"

	"github.com/stampseal/stampseal/credential"
)

// Offline checks a code's format and signature with only a merchant's
// public keyset (Tink JSON), as a register without a connection would. It
// cannot know whether the code was used, blocked or its key compromised:
// those answers need the ledger.
func Offline(publicKeyset []byte, text string) (*credential.Claims, error) {
	h, err := keyset.ReadWithNoSecrets(keyset.NewJSONReader(bytes.NewReader(publicKeyset)))
	if err != nil {
		return nil, fmt.Errorf("read public keyset: %w", err)
	}
	v, err := signature.NewVerifier(h)
	if err != nil {
		return nil, fmt.Errorf("public keyset: %w", err)
	}
	code, err := credential.Parse(text)
	if err != nil {
		return nil, ErrMalformed
	}
	known := false
	for _, k := range h.KeysetInfo().GetKeyInfo() {
		known = known || k.GetKeyId() == code.KeyID
	}
	if !known {
		return nil, ErrUnknownKey
	}
	if err := v.Verify(code.Signature, code.Signed); err != nil {
		return nil, ErrInvalidSignature
	}
	return &code.Claims, nil
}
