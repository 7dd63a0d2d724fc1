// Package keys keeps one Tink signature keyset per merchant. Private
// keysets are stored only encrypted under the master key AEAD; what leaves
// this package is signatures, verification results and public keysets.
package keys

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/signature"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/storage"
)

// Errors of key lookup and verification.
var (
	ErrExists           = errors.New("keyset already exists")
	ErrUnknownMerchant  = errors.New("merchant has no keyset")
	ErrUnknownKey       = errors.New("key id not in the merchant's keyset")
	ErrInvalidSignature = errors.New("signature does not verify")
	ErrCompromised      = errors.New("key marked compromised")
	ErrRetired          = errors.New("key retired")
)

// State is the life-cycle state of one key, beside Tink's own status.
type State string

// Key states. A compromised or retired key stays in the keyset (so that its
// codes can still be recognised) but its codes no longer pass.
const (
	Active      State = "active"
	Compromised State = "compromised"
	Retired     State = "retired"
)

// Template is the key template for new keys. Ed25519 was chosen over ECDSA
// P-256 by measurement (BenchmarkVerify*): faster to verify, 64-byte fixed
// signatures that keep codes short, and no per-signature randomness.
var Template = signature.ED25519KeyTemplate

// Ring holds the merchants' keysets. It is safe for concurrent use.
type Ring struct {
	store  storage.Backend
	master tink.AEAD

	mu    sync.RWMutex
	cache map[string]*merchantKeys
	gen   uint64 // counts forgets (follow.go)
	// off: nothing is cached, on a shared backend until Follow passes
	// other nodes' changes on.
	off bool
	now func() time.Time
}

type merchantKeys struct {
	signer   tink.Signer
	verifier tink.Verifier
	primary  uint32
	states   map[uint32]State
	public   []byte // Tink JSON of the public keyset
}

// stored is the keyset record: the encrypted keyset and key states.
type stored struct {
	Keyset []byte           `json:"keyset"` // Tink EncryptedKeyset, binary
	States map[string]State `json:"states"` // key id -> state
}

// NewRing returns a Ring over store whose keysets are encrypted with master.
func NewRing(store storage.Backend, master tink.AEAD) *Ring {
	return &Ring{store: store, master: master, cache: map[string]*merchantKeys{}, now: time.Now, off: storage.IsShared(store)}
}

func associatedData(merchant string) []byte { return []byte("stampseal keyset:" + merchant) }

// Ensure creates the merchant's keyset unless it has one.
func (r *Ring) Ensure(merchant string) error {
	if err := r.Create(merchant); err != nil && !errors.Is(err, ErrExists) {
		return err
	}
	return nil
}

// Create makes the merchant's first keyset. ErrExists if it has one.
func (r *Ring) Create(merchant string) error {
	h, err := keyset.NewHandle(Template())
	if err != nil {
		return fmt.Errorf("new keyset: %w", err)
	}
	rec, err := r.seal(merchant, h, nil)
	if err != nil {
		return err
	}
	return r.store.Update(func(tx storage.Tx) error {
		if tx.Get(storage.Keysets, []byte(merchant)) != nil {
			return ErrExists
		}
		return storage.PutJSON(tx, storage.Keysets, []byte(merchant), rec)
	})
}

// seal encrypts h, carrying over the states of old keys; a new key is active.
func (r *Ring) seal(merchant string, h *keyset.Handle, states map[string]State) (stored, error) {
	var buf bytes.Buffer
	if err := h.WriteWithAssociatedData(keyset.NewBinaryWriter(&buf), r.master, associatedData(merchant)); err != nil {
		return stored{}, fmt.Errorf("encrypt keyset: %w", err)
	}
	rec := stored{Keyset: buf.Bytes(), States: map[string]State{}}
	for _, k := range h.KeysetInfo().GetKeyInfo() {
		id := strconv.FormatUint(uint64(k.GetKeyId()), 10)
		rec.States[id] = Active
		if s, ok := states[id]; ok {
			rec.States[id] = s
		}
	}
	return rec, nil
}

func (r *Ring) open(merchant string, rec stored) (*keyset.Handle, error) {
	h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(rec.Keyset)), r.master, associatedData(merchant))
	if err != nil {
		return nil, fmt.Errorf("decrypt keyset of %s (wrong master key?): %w", merchant, err)
	}
	return h, nil
}

// load returns the merchant's keys, from cache or storage.
func (r *Ring) load(merchant string) (*merchantKeys, error) {
	r.mu.RLock()
	mk, gen := r.cache[merchant], r.gen
	r.mu.RUnlock()
	if mk != nil {
		return mk, nil
	}
	var rec stored
	err := r.store.View(func(tx storage.Tx) error {
		return storage.GetJSON(tx, storage.Keysets, []byte(merchant), &rec)
	})
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrUnknownMerchant
	}
	if err != nil {
		return nil, err
	}
	mk, err = r.build(merchant, rec)
	if err != nil {
		return nil, err
	}
	r.keep(merchant, mk, gen)
	return mk, nil
}

func (r *Ring) build(merchant string, rec stored) (*merchantKeys, error) {
	h, err := r.open(merchant, rec)
	if err != nil {
		return nil, err
	}
	pub, err := h.Public()
	if err != nil {
		return nil, err
	}
	mk := &merchantKeys{states: map[uint32]State{}, primary: h.KeysetInfo().GetPrimaryKeyId()}
	if mk.signer, err = signature.NewSigner(h); err != nil {
		return nil, err
	}
	if mk.verifier, err = signature.NewVerifier(pub); err != nil {
		return nil, err
	}
	for id, s := range rec.States {
		n, err := strconv.ParseUint(id, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("keyset of %s: bad key id %q", merchant, id)
		}
		mk.states[uint32(n)] = s
	}
	if mk.public, err = exportPublic(pub, mk.states); err != nil {
		return nil, fmt.Errorf("export public keyset of %s: %w", merchant, err)
	}
	return mk, nil
}

// exportPublic writes the public keyset as Tink JSON with every key that
// is not active (compromised or retired) DISABLED, so that a verifier
// built from the export, a till's or `stampseal verify --public-keyset`,
// refuses what it signs instead of calling it valid.
func exportPublic(pub *keyset.Handle, states map[uint32]State) ([]byte, error) {
	m := keyset.NewManagerFromHandle(pub)
	for _, k := range pub.KeysetInfo().GetKeyInfo() {
		if s, ok := states[k.GetKeyId()]; ok && s != Active {
			if err := m.Disable(k.GetKeyId()); err != nil {
				return nil, err
			}
		}
	}
	marked, err := m.Handle()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := marked.WriteWithNoSecrets(keyset.NewJSONWriter(&buf)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Sign signs msg with the merchant's primary key. The signature starts with
// Tink's prefix, which carries the key id.
func (r *Ring) Sign(merchant string, msg []byte) ([]byte, uint32, error) {
	mk, err := r.load(merchant)
	if err != nil {
		return nil, 0, err
	}
	sig, err := mk.signer.Sign(msg)
	return sig, mk.primary, err
}

// Verify checks sig over msg with the merchant's key keyID, then the key's
// state: ErrUnknownKey, ErrInvalidSignature, ErrCompromised or ErrRetired.
// The signature is checked before the state so that a compromised-key
// alert is only raised for codes that key really signed.
func (r *Ring) Verify(merchant string, keyID uint32, sig, msg []byte) error {
	mk, err := r.load(merchant)
	if err != nil {
		return err
	}
	state, ok := mk.states[keyID]
	if !ok {
		return ErrUnknownKey
	}
	if err := mk.verifier.Verify(sig, msg); err != nil {
		return ErrInvalidSignature
	}
	switch state {
	case Compromised:
		return ErrCompromised
	case Retired:
		return ErrRetired
	}
	return nil
}

// PublicKeyset returns the merchant's public keyset as Tink JSON, for
// offline verification. It contains every key; those no longer trusted
// (compromised or retired: KeyStates says which) are DISABLED, so that
// Tink verifiers built from it refuse their signatures.
func (r *Ring) PublicKeyset(merchant string) ([]byte, error) {
	mk, err := r.load(merchant)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(mk.public), nil
}

// KeyStates returns the state of each of the merchant's keys and the primary.
func (r *Ring) KeyStates(merchant string) (map[uint32]State, uint32, error) {
	mk, err := r.load(merchant)
	if err != nil {
		return nil, 0, err
	}
	out := make(map[uint32]State, len(mk.states))
	for k, v := range mk.states {
		out[k] = v
	}
	return out, mk.primary, nil
}

// Rotate adds a new primary key. The old primary keeps verifying its codes,
// unless compromised is true: then it is marked compromised and its codes
// fail from now on.
func (r *Ring) Rotate(merchant string, compromised bool) (uint32, error) {
	return r.RotateAs(audit.Operator, merchant, compromised)
}

// RotateAs is Rotate done by by; the audit entry commits with the new
// keyset.
func (r *Ring) RotateAs(by audit.Actor, merchant string, compromised bool) (uint32, error) {
	var old uint32
	note := func(tx storage.Tx, h *keyset.Handle) error {
		return audit.Record(tx, r.now(), merchant, audit.KeysRotated, by, merchant, map[string]string{
			"primary_key_id": strconv.FormatUint(uint64(h.KeysetInfo().GetPrimaryKeyId()), 10),
			"old_key_id":     strconv.FormatUint(uint64(old), 10), "compromised": strconv.FormatBool(compromised)})
	}
	return r.change(merchant, note, func(h *keyset.Handle, states map[string]State) (*keyset.Handle, error) {
		old = h.KeysetInfo().GetPrimaryKeyId()
		m := keyset.NewManagerFromHandle(h)
		id, err := m.Add(Template())
		if err != nil {
			return nil, err
		}
		if err := m.SetPrimary(id); err != nil {
			return nil, err
		}
		if compromised {
			states[strconv.FormatUint(uint64(old), 10)] = Compromised
		}
		return m.Handle()
	})
}

// Retire marks a non-primary key retired: its codes fail from now on, with
// no alert (a planned end of life, unlike a compromise).
func (r *Ring) Retire(merchant string, keyID uint32) error {
	_, err := r.change(merchant, nil, func(h *keyset.Handle, states map[string]State) (*keyset.Handle, error) {
		id := strconv.FormatUint(uint64(keyID), 10)
		if _, ok := states[id]; !ok {
			return nil, ErrUnknownKey
		}
		if h.KeysetInfo().GetPrimaryKeyId() == keyID {
			return nil, errors.New("cannot retire the primary key: rotate first")
		}
		states[id] = Retired
		return h, nil
	})
	return err
}

// change applies edit to the merchant's keyset in one transaction, lets note
// (if any) record it in the same transaction, and swaps the cached keys
// once it is durable.
func (r *Ring) change(merchant string, note func(storage.Tx, *keyset.Handle) error, edit func(*keyset.Handle, map[string]State) (*keyset.Handle, error)) (uint32, error) {
	var next stored
	err := r.store.Update(func(tx storage.Tx) error {
		var rec stored
		if err := storage.GetJSON(tx, storage.Keysets, []byte(merchant), &rec); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return ErrUnknownMerchant
			}
			return err
		}
		h, err := r.open(merchant, rec)
		if err != nil {
			return err
		}
		h, err = edit(h, rec.States)
		if err != nil {
			return err
		}
		if next, err = r.seal(merchant, h, rec.States); err != nil {
			return err
		}
		if note != nil {
			if err := note(tx, h); err != nil {
				return err
			}
		}
		return storage.PutJSON(tx, storage.Keysets, []byte(merchant), next)
	})
	if err != nil {
		return 0, err
	}
	mk, err := r.build(merchant, next)
	if err != nil {
		return 0, err
	}
	r.swap(merchant, mk)
	return mk.primary, nil
}
