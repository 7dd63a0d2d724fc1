package client

import (
	"context"
	"encoding/json"
	"io"
	"net/url"
	"time"
)

// Roles of API keys.
const (
	RoleAdmin    = "admin"
	RoleIssuer   = "issuer"
	RoleRegister = "register"
	RoleAuditor  = "auditor"
)

// AllMerchants is the merchant of an all-merchants admin key.
const AllMerchants = "*"

// Merchant is a shop owner with its own signing keys.
type Merchant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// CreateMerchant is POST /v1/merchants (all-merchants admin). A taken id
// answers merchant_exists.
func (c *Client) CreateMerchant(ctx context.Context, id, name string) (Merchant, error) {
	var m Merchant
	err := c.call(ctx, request{method: "POST", path: "/v1/merchants", body: Merchant{ID: id, Name: name}}, &m)
	return m, err
}

// APIKeyRequest is the body of POST /v1/apikeys.
type APIKeyRequest struct {
	Merchant  string   `json:"merchant"`
	Role      string   `json:"role"`
	Name      string   `json:"name"`
	ExpiresIn Duration `json:"expires_in,omitzero"` // zero: never
	Shop      string   `json:"shop,omitempty"`      // a register key's shop
}

// NewAPIKey is a created key; Token is shown this once.
type NewAPIKey struct {
	ID        string    `json:"id"`
	Token     string    `json:"token"`
	Merchant  string    `json:"merchant"`
	Role      string    `json:"role"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// CreateAPIKey is POST /v1/apikeys (admin of the merchant).
func (c *Client) CreateAPIKey(ctx context.Context, r APIKeyRequest) (NewAPIKey, error) {
	var k NewAPIKey
	err := c.call(ctx, request{method: "POST", path: "/v1/apikeys", body: r}, &k)
	return k, err
}

// APIKey is a key as listed: never its token or hash. Zero times are unset.
type APIKey struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Role       string    `json:"role"`
	Merchant   string    `json:"merchant"`
	Shop       string    `json:"shop,omitempty"`
	CreatedAt  time.Time `json:"created_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
}

// APIKeys is GET /v1/apikeys?merchant= (admin of the merchant).
func (c *Client) APIKeys(ctx context.Context, merchant string) ([]APIKey, error) {
	var out struct {
		APIKeys []APIKey `json:"apikeys"`
	}
	err := c.call(ctx, request{method: "GET", path: "/v1/apikeys", query: url.Values{"merchant": {merchant}}}, &out)
	return out.APIKeys, err
}

// RevokeAPIKey is POST /v1/apikeys/{id}/revoke (admin). The last
// all-merchants admin key answers last_admin.
func (c *Client) RevokeAPIKey(ctx context.Context, id, reason string) error {
	return c.act(ctx, "apikeys", id, "revoke", nil, reasonBody{reason}, nil)
}

type reasonBody struct {
	Reason string `json:"reason"`
}

// Rotation is the answer of a key rotation.
type Rotation struct {
	PrimaryKeyID uint32 `json:"primary_key_id"`
}

// RotateKeys is POST /v1/merchants/{id}/keys/rotate (admin). With
// compromised, codes under the replaced key stop verifying.
func (c *Client) RotateKeys(ctx context.Context, merchant string, compromised bool) (Rotation, error) {
	var r Rotation
	body := struct {
		Compromised bool `json:"compromised"`
	}{compromised}
	err := c.call(ctx, request{method: "POST", path: "/v1/merchants/" + seg(merchant) + "/keys/rotate", body: body}, &r)
	return r, err
}

// PublicKeyset is GET /v1/merchants/{id}/keys/public: the merchant's
// public keyset in Tink's JSON format, to verify codes offline.
func (c *Client) PublicKeyset(ctx context.Context, merchant string) (json.RawMessage, error) {
	b, err := c.bytesOf(ctx, request{method: "GET", path: "/v1/merchants/" + seg(merchant) + "/keys/public"})
	return json.RawMessage(b), err
}

// Backup is GET /v1/admin/backup (all-merchants admin): it streams a
// consistent snapshot of the database to w and returns its size.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := c.send(ctx, request{method: "GET", path: "/v1/admin/backup"})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return io.Copy(w, resp.Body)
}

// AuditEvent is one entry of the audit trail.
type AuditEvent struct {
	At         time.Time       `json:"at"`
	Action     string          `json:"action"`
	ActorKeyID string          `json:"actor_key_id"`
	ActorName  string          `json:"actor_name"`
	ActorRole  string          `json:"actor_role"`
	Source     string          `json:"source"`
	Target     string          `json:"target"`
	Details    json.RawMessage `json:"details,omitempty"`
}

// AuditFilter narrows GET /v1/audit.
type AuditFilter struct {
	Merchant string
	Since    time.Time // zero: from the start
	Limit    int       // zero: the server's default
}

// Audit is GET /v1/audit (admin or auditor of the merchant), newest first.
func (c *Client) Audit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	q := url.Values{"merchant": {f.Merchant}}
	setTime(q, "since", f.Since)
	setInt(q, "limit", f.Limit)
	var out struct {
		Events []AuditEvent `json:"events"`
	}
	err := c.call(ctx, request{method: "GET", path: "/v1/audit", query: q}, &out)
	return out.Events, err
}

// Location is a place on earth, in degrees.
type Location struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Shop is one of a merchant's places; a register key's uses happen there.
type Shop struct {
	Merchant  string    `json:"merchant"`
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Location  Location  `json:"location"`
	CreatedAt time.Time `json:"created_at,omitzero"` // in answers
}

// CreateShop is POST /v1/shops (admin).
func (c *Client) CreateShop(ctx context.Context, s Shop) (Shop, error) {
	var out Shop
	err := c.call(ctx, request{method: "POST", path: "/v1/shops", body: s}, &out)
	return out, err
}
