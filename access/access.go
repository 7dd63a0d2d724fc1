// Package access keeps merchants and the API keys that act for them. A key
// is shown once at creation and stored only as its SHA-256: the tokens are
// 256-bit random strings, so a fast hash is as good as a slow one and keeps
// authentication off the hot path.
package access

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/storage"
)

// Role is what an API key may do.
type Role string

// The roles.
const (
	Admin    Role = "admin"
	Issuer   Role = "issuer"
	Register Role = "register"
	Auditor  Role = "auditor"
)

// AllMerchants is the scope of the bootstrap admin key.
const AllMerchants = "*"

// Errors of this package. ErrKeyRevoked and ErrKeyExpired are also
// ErrUnauthenticated: a caller that only knows that error refuses them too.
var (
	ErrUnauthenticated = errors.New("missing or unknown API key")
	ErrKeyRevoked      = fmt.Errorf("%w: API key revoked", ErrUnauthenticated)
	ErrKeyExpired      = fmt.Errorf("%w: API key expired", ErrUnauthenticated)
	ErrUnknownKey      = errors.New("no such API key")
	ErrLastAdmin       = errors.New("the last all-merchants admin key cannot be revoked")
	ErrMerchantExists  = errors.New("merchant already exists")
	ErrUnknownMerchant = errors.New("no such merchant")
	ErrInvalid         = errors.New("invalid request")
)

// Merchant is a shop that issues credentials.
type Merchant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Key is an API key as stored: never the token itself.
type Key struct {
	ID        string    `json:"id"`
	Merchant  string    `json:"merchant"`
	Role      Role      `json:"role"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	Hash      []byte    `json:"hash"`

	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	RevokeReason string     `json:"revoke_reason,omitempty"`
	RevokedBy    string     `json:"revoked_by,omitempty"` // the revoking key's id
	LastUsedAt   *time.Time `json:"last_used_at,omitempty"`
}

// Actor is the key as the audit trail names it, acting from source.
func (k Key) Actor(source string) audit.Actor {
	return audit.Actor{KeyID: k.ID, Name: k.Name, Role: string(k.Role), Source: source}
}

// ServesAll reports whether the key acts for every merchant: the scope of
// the bootstrap admin key and of the operators' keys.
func (k Key) ServesAll() bool { return k.Merchant == AllMerchants }

// RunsService reports whether the key may act on the service as a whole
// (create merchants, take a backup of every merchant's ledger): an admin
// of all merchants.
func (k Key) RunsService() bool { return k.ServesAll() && k.Role == Admin }

// MerchantFor is the merchant a request of the key acts on: the key's own,
// or for a key of all merchants the one the request names. ok is false
// when a key of all merchants names none.
func (k Key) MerchantFor(named string) (merchant string, ok bool) {
	if !k.ServesAll() {
		return k.Merchant, true
	}
	return named, named != ""
}

// Can reports whether the key may act in role for merchant.
func (k Key) Can(merchant string, roles ...Role) bool {
	if !k.ServesAll() && k.Merchant != merchant {
		return false
	}
	for _, r := range roles {
		if k.Role == r {
			return true
		}
	}
	return false
}

// KeyCreator makes a merchant's signing keyset unless it has one;
// keys.Ring is one.
type KeyCreator interface {
	Ensure(merchant string) error
}

// Service manages merchants and API keys.
type Service struct {
	store storage.Backend
	keys  KeyCreator
	now   func() time.Time

	mu      sync.Mutex
	touched map[string]time.Time // key id -> when last_used_at was last written

	cache keyCache // authenticated keys (keycache.go)
}

// New returns a Service over store that creates keysets with keys. On a
// storage.Shared backend the cache of authenticated keys starts off, since
// other nodes revoke keys too: call KeepKeysCached once a storage Watch of
// storage.APIKeys calls ForgetStored.
func New(store storage.Backend, keys KeyCreator) *Service {
	s := &Service{store: store, keys: keys, now: time.Now, touched: map[string]time.Time{}}
	s.cache.off = storage.IsShared(store)
	return s
}

// KeepKeysCached turns the cache of authenticated keys on over a shared
// backend, whose changes by other nodes the caller now forwards to Forget,
// ForgetStored or ForgetAll.
func (s *Service) KeepKeysCached() {
	s.cache.mu.Lock()
	s.cache.off = false
	s.cache.mu.Unlock()
}

// SetClock replaces the service's clock; for tests of expiry.
func (s *Service) SetClock(now func() time.Time) { s.now = now }

func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// NewToken returns a fresh random API token.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "ssk_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// Authenticate returns the key a token belongs to, or ErrUnauthenticated.
// A key that authenticated once is served from memory afterwards (see
// keyCache); revocation and expiry still take effect at once.
func (s *Service) Authenticate(token string) (Key, error) {
	if token == "" || len(token) > 256 {
		return Key{}, ErrUnauthenticated
	}
	h := sha256.Sum256([]byte(token))
	k, cached := s.cache.get(h)
	if !cached {
		var err error
		if k, err = s.load(h); err != nil {
			return Key{}, err
		}
	}
	// The lookup found the key by its hash; compare in constant time anyway
	// so that no code path compares a secret with ==.
	if subtle.ConstantTimeCompare(k.Hash, h[:]) != 1 {
		return Key{}, ErrUnauthenticated
	}
	now := s.now()
	switch {
	case k.RevokedAt != nil:
		return Key{}, ErrKeyRevoked
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return Key{}, ErrKeyExpired
	}
	s.touch(k, now)
	return k, nil
}

// load reads the key stored under h and caches it.
func (s *Service) load(h [32]byte) (Key, error) {
	gen := s.cache.generation()
	var k Key
	err := s.store.View(func(tx storage.Tx) error { return storage.GetJSON(tx, storage.APIKeys, h[:], &k) })
	if errors.Is(err, storage.ErrNotFound) {
		return Key{}, ErrUnauthenticated
	}
	if err != nil {
		return Key{}, err
	}
	s.cache.put(h, k, gen)
	return k, nil
}

// MinTokenLen is the length below which a chosen token is weak: serve
// warns loudly about a bootstrap token shorter than this.
const MinTokenLen = 32

// MinBootstrapTokenLen is the shortest bootstrap token accepted at all;
// below it an admin key falls to guessing even through the failure
// throttle. It is not MinTokenLen because deployments (and CI) use tokens
// of 14 to 22 characters today.
const MinBootstrapTokenLen = 12

// Bootstrap creates the all-merchants admin key with token, unless an
// admin key was bootstrapped before. It reports whether it created one.
func (s *Service) Bootstrap(token string) (bool, error) {
	if len(token) < MinBootstrapTokenLen || len(token) > 256 {
		return false, fmt.Errorf("%w: bootstrap token must be %d to 256 characters", ErrInvalid, MinBootstrapTokenLen)
	}
	created := false
	err := s.store.Update(func(tx storage.Tx) error {
		created = false
		if tx.Get(storage.Meta, []byte("bootstrapped")) != nil {
			return nil
		}
		k := Key{ID: "bootstrap-admin", Merchant: AllMerchants, Role: Admin, Name: "bootstrap admin", CreatedAt: s.now().UTC(), Hash: hashToken(token)}
		if err := storage.PutJSON(tx, storage.APIKeys, k.Hash, k); err != nil {
			return err
		}
		created = true
		return tx.Put(storage.Meta, []byte("bootstrapped"), []byte(k.CreatedAt.Format(time.RFC3339)))
	})
	return created, err
}

// Bootstrapped reports whether the first admin key exists.
func (s *Service) Bootstrapped() (bool, error) {
	var ok bool
	err := s.store.View(func(tx storage.Tx) error { ok = tx.Get(storage.Meta, []byte("bootstrapped")) != nil; return nil })
	return ok, err
}

// CreateMerchant records a merchant and creates its signing keyset, as the
// operator (the command line).
func (s *Service) CreateMerchant(id, name string) (Merchant, error) {
	return s.CreateMerchantAs(audit.Operator, id, name)
}

// CreateMerchantAs records a merchant, created by by, and creates its
// signing keyset; the audit entry commits with the merchant.
func (s *Service) CreateMerchantAs(by audit.Actor, id, name string) (Merchant, error) {
	if err := credential.ValidID(id); err != nil {
		return Merchant{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if name == "" || len(name) > 200 {
		return Merchant{}, fmt.Errorf("%w: name must be 1 to 200 characters", ErrInvalid)
	}
	if _, err := s.Merchant(id); err == nil {
		return Merchant{}, ErrMerchantExists
	}
	// The keyset first: a crash between the two leaves a keyset without a
	// merchant, which a retry completes, never a merchant that cannot sign.
	if err := s.keys.Ensure(id); err != nil {
		return Merchant{}, fmt.Errorf("create keyset: %w", err)
	}
	m := Merchant{ID: id, Name: name, CreatedAt: s.now().UTC()}
	err := s.store.Update(func(tx storage.Tx) error {
		if tx.Get(storage.Merchants, []byte(id)) != nil {
			return ErrMerchantExists
		}
		if err := storage.PutJSON(tx, storage.Merchants, []byte(id), m); err != nil {
			return err
		}
		return audit.Record(tx, m.CreatedAt, id, audit.MerchantCreated, by, id, map[string]string{"name": name})
	})
	return m, err
}

// Merchant returns a merchant, or ErrUnknownMerchant.
func (s *Service) Merchant(id string) (Merchant, error) {
	var m Merchant
	err := s.store.View(func(tx storage.Tx) error { return storage.GetJSON(tx, storage.Merchants, []byte(id), &m) })
	if errors.Is(err, storage.ErrNotFound) {
		return m, ErrUnknownMerchant
	}
	return m, err
}

// KeySpec is what an API key is created with.
type KeySpec struct {
	Merchant  string
	Role      Role
	Name      string        // empty: the role
	ExpiresIn time.Duration // 0: never expires
}

// MaxKeyLife bounds expires_in.
const MaxKeyLife = 10 * 365 * 24 * time.Hour

// CreateKey makes an API key of role for merchant, as the operator, and
// returns it with its token, which is never stored and cannot be shown
// again.
func (s *Service) CreateKey(merchant string, role Role, name string) (Key, string, error) {
	return s.CreateKeyAs(audit.Operator, KeySpec{Merchant: merchant, Role: role, Name: name})
}

// CreateKeyAs makes the API key spec describes, created by by, and returns
// it with its token, which is never stored and cannot be shown again. The
// audit entry commits with the key.
func (s *Service) CreateKeyAs(by audit.Actor, spec KeySpec) (Key, string, error) {
	merchant, role, name := spec.Merchant, spec.Role, spec.Name
	switch role {
	case Admin, Issuer, Register, Auditor:
	default:
		return Key{}, "", fmt.Errorf("%w: role must be admin, issuer, register or auditor", ErrInvalid)
	}
	if len(name) > 100 {
		return Key{}, "", fmt.Errorf("%w: name must be at most 100 characters", ErrInvalid)
	}
	if spec.ExpiresIn < 0 || spec.ExpiresIn > MaxKeyLife {
		return Key{}, "", fmt.Errorf("%w: expires_in must be positive and at most %s", ErrInvalid, MaxKeyLife)
	}
	if name == "" {
		name = string(role)
	}
	if merchant == AllMerchants {
		// A second all-merchants admin is how the first one is replaced.
		if role != Admin {
			return Key{}, "", fmt.Errorf("%w: a key for all merchants must have the role admin", ErrInvalid)
		}
	} else if _, err := s.Merchant(merchant); err != nil {
		return Key{}, "", err
	}
	token, err := NewToken()
	if err != nil {
		return Key{}, "", err
	}
	idb := make([]byte, 8)
	rand.Read(idb)
	k := Key{ID: "key_" + hex.EncodeToString(idb), Merchant: merchant, Role: role, Name: name, CreatedAt: s.now().UTC(), Hash: hashToken(token)}
	details := map[string]string{"role": string(role), "name": name}
	if spec.ExpiresIn > 0 {
		exp := k.CreatedAt.Add(spec.ExpiresIn)
		k.ExpiresAt = &exp
		details["expires_at"] = exp.Format(time.RFC3339)
	}
	err = s.store.Update(func(tx storage.Tx) error {
		if err := storage.PutJSON(tx, storage.APIKeys, k.Hash, k); err != nil {
			return err
		}
		return audit.Record(tx, k.CreatedAt, merchant, audit.APIKeyCreated, by, k.ID, details)
	})
	return k, token, err
}
