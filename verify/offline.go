package verify

import (
	"bytes"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/keyset"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/signature"

	"github.com/stampseal/stampseal/credential"
)

// Offline checks a code's format and signature with only a merchant's
// public keyset (Tink JSON), as a register without a connection would. It
// cannot know whether the code was used or blocked: those answers need the
// ledger. A key the export marks disabled (compromised or retired when the
// keyset was exported) is refused as revoked.
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
	known, enabled := false, false
	for _, k := range h.KeysetInfo().GetKeyInfo() {
		if k.GetKeyId() == code.KeyID {
			known, enabled = true, k.GetStatus() == tinkpb.KeyStatusType_ENABLED
		}
	}
	switch {
	case !known:
		return nil, ErrUnknownKey
	case !enabled:
		// The export disables compromised and retired keys (keys.Ring.PublicKeyset).
		return nil, ErrRevoked
	}
	if err := v.Verify(code.Signature, code.Signed); err != nil {
		return nil, ErrInvalidSignature
	}
	return &code.Claims, nil
}
