package till

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/signature"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/offline"
)

// view is a snapshot made ready to decide with: the keyset parsed, the
// blocklist and the batches indexed.
type view struct {
	snap     offline.Snapshot
	verifier tink.Verifier
	states   map[uint32]keys.State
	blocked  map[string]bool
	batches  map[string]*offline.Batch // coupon serial -> its batch
	fetched  time.Time
}

func newView(raw []byte, fetched time.Time) (*view, error) {
	v := &view{states: map[uint32]keys.State{}, blocked: map[string]bool{}, batches: map[string]*offline.Batch{}, fetched: fetched}
	if err := json.Unmarshal(raw, &v.snap); err != nil {
		return nil, fmt.Errorf("decode snapshot: %w", err)
	}
	h, err := keyset.ReadWithNoSecrets(keyset.NewJSONReader(bytes.NewReader(v.snap.PublicKeyset)))
	if err != nil {
		return nil, fmt.Errorf("snapshot keyset: %w", err)
	}
	if v.verifier, err = signature.NewVerifier(h); err != nil {
		return nil, fmt.Errorf("snapshot keyset: %w", err)
	}
	for _, k := range v.snap.Keys {
		v.states[k.ID] = k.State
	}
	// The explicit lists win over the states, should the two disagree.
	for _, id := range v.snap.RetiredKeyIDs {
		v.states[id] = keys.Retired
	}
	for _, id := range v.snap.CompromisedKeyIDs {
		v.states[id] = keys.Compromised
	}
	for _, s := range v.snap.Blocked {
		v.blocked[s] = true
	}
	for i := range v.snap.Policy.Batches {
		b := &v.snap.Policy.Batches[i]
		for _, s := range b.Serials {
			v.batches[s] = b
		}
	}
	return v, nil
}

// refusal is an answer other than a success, in the contract's error shape.
type refusal struct {
	status  int
	code    string
	message string
	details map[string]any
}

func (r *refusal) Error() string { return r.code + ": " + r.message }

// The refusals the agent gives by itself, with the server's codes where
// the server has the same refusal.
func refused(code, message string) *refusal {
	return &refusal{status: http.StatusUnprocessableEntity, code: code, message: message}
}

var (
	errMalformed      = refused("malformed", "the code is not a stampseal code")
	errWrongMerchant  = refused("wrong_merchant", "the code belongs to another merchant")
	errUnknownKey     = refused("unknown_key", "the code was signed by a key this merchant does not have")
	errBadSignature   = refused("invalid_signature", "the code's signature does not verify")
	errRevoked        = refused("revoked", "the key that signed the code is no longer trusted")
	errBlocked        = refused("blocked", "the credential is blocked")
	errExpired        = refused("expired", "the code has expired")
	errNotYetValid    = refused("not_yet_valid", "the code is not valid yet")
	errWrongKind      = refused("wrong_kind", "this kind of credential cannot be used here")
	errWrongProgram   = refused("wrong_program", "the punch belongs to another program than the card")
	errNoSnapshot     = &refusal{http.StatusServiceUnavailable, "offline_unavailable", "the server cannot be reached and this till has no snapshot to decide with", nil}
	errShortOffline   = &refusal{http.StatusServiceUnavailable, "offline_unavailable", "short codes need the server; scan the barcode", nil}
	errNotAllowed     = &refusal{http.StatusServiceUnavailable, "offline_not_allowed", "the server cannot be reached and this offer may not be used offline", nil}
	errTooLong        = &refusal{http.StatusServiceUnavailable, "offline_too_long", "this till has been offline longer than the offer allows", nil}
	errCapped         = &refusal{http.StatusServiceUnavailable, "offline_cap_reached", "this till has redeemed as much offline as the merchant allows before it syncs", nil}
	errDisowned       = &refusal{http.StatusServiceUnavailable, "offline_unavailable", "the server refused this till's API key; nothing is decided offline until it takes it again", nil}
	errInvalidRequest = &refusal{http.StatusBadRequest, "invalid_request", "the request is not one this till understands", nil}
)

// statusOf is the verification status a refusal reports.
func statusOf(r *refusal) string {
	switch r {
	case errRevoked:
		return "revoked"
	case errBlocked:
		return "blocked"
	case errExpired:
		return "expired"
	case errNotYetValid:
		return "not_yet_valid"
	}
	return "invalid"
}

// check runs every check the snapshot allows on a code: format, merchant,
// key, signature, key state, blocklist, validity window at now.
func (v *view) check(text string, now time.Time) (*credential.Code, *refusal) {
	c, err := credential.Parse(text)
	if err != nil {
		return nil, errMalformed
	}
	if c.Claims.Merchant != v.snap.Merchant {
		return c, errWrongMerchant
	}
	state, ok := v.states[c.KeyID]
	if !ok {
		return c, errUnknownKey
	}
	// The snapshot's keyset has untrusted keys disabled (keys.Ring
	// PublicKeyset), so the state decides before the signature can.
	if state != keys.Active {
		return c, errRevoked
	}
	if v.verifier.Verify(c.Signature, c.Signed) != nil {
		return c, errBadSignature
	}
	if v.blocked[c.Claims.Serial.String()] {
		return c, errBlocked
	}
	if now.Before(c.Claims.ValidFrom()) {
		return c, errNotYetValid
	}
	if exp := c.Claims.Expires(); !exp.IsZero() && !now.Before(exp) {
		return c, errExpired
	}
	return c, nil
}

// policy is the offline policy that covers a code, and the value of a
// coupon when its batch names one.
func (v *view) policy(c *credential.Code) (offline.Policy, int64) {
	if c.Claims.Kind == credential.KindCoupon {
		if b := v.batches[c.Claims.Serial.String()]; b != nil {
			return b.Policy, b.Value
		}
		return v.snap.Policy.Default, 0
	}
	if p, ok := v.snap.Policy.Programs[c.Claims.Program]; ok {
		return p, 0
	}
	return v.snap.Policy.Default, 0
}

// allow checks that the policy lets this till decide alone now: offline
// use allowed, and neither the outage nor the snapshot older than
// max_offline.
func (v *view) allow(p offline.Policy, lastContact, now time.Time) *refusal {
	if !p.Allowed {
		return errNotAllowed
	}
	if now.Sub(lastContact) > p.MaxOffline || now.Sub(v.fetched) > p.MaxOffline {
		return errTooLong
	}
	return nil
}

// maxUses is how often a single-use code may be used; 0 for a card.
func maxUses(c *credential.Code) int {
	switch c.Claims.Kind {
	case credential.KindCoupon:
		return max(int(c.Claims.Count), 1)
	case credential.KindPunch:
		return 1
	}
	return 0
}
