package verify

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/storage"
)

// MaxListPage bounds how many credentials one page of a list holds.
const MaxListPage = 500

// ListQuery selects a page of a merchant's credentials. Kind and Status
// filter when not empty; After is the cursor the previous page returned.
type ListQuery struct {
	Merchant string
	Kind     string // card, punch or coupon
	Status   string // active, redeemed, expired, not_yet_valid, blocked
	After    string
	Limit    int
}

// Listed is one credential in a list: what an owner needs to see, never
// its code.
type Listed struct {
	Serial   string            `json:"serial"`
	Kind     string            `json:"kind"`
	Status   string            `json:"status"`
	UsesLeft int               `json:"uses_left"`
	Stamps   *int              `json:"stamps,omitempty"`
	Program  string            `json:"program,omitempty"`
	Offer    string            `json:"offer,omitempty"`
	Value    *credential.Value `json:"value,omitempty"`
	RewardOf string            `json:"reward_of,omitempty"`
	IssuedAt time.Time         `json:"issued_at"`
	Expires  time.Time         `json:"expires,omitzero"`
}

var listStatuses = map[string]bool{StatusActive: true, StatusRedeemed: true, StatusExpired: true, StatusNotYetValid: true, StatusBlocked: true}

var errListFull = errors.New("page full")

// listChunk is how many of a merchant's credentials List judges together.
const listChunk = 64

// listRow is a credential of the merchant List has yet to judge.
type listRow struct {
	serial credential.Serial
	rec    credential.Record
}

// prefetchRows reads the trails and block records of rows in one request
// on a shared ledger (the embedded one keeps trails in memory).
func (v *Verifier) prefetchRows(tx storage.Tx, rows []listRow) {
	if v.idx != nil || len(rows) == 0 {
		return
	}
	keys := make([]storage.Key, 0, 2*len(rows))
	for _, r := range rows {
		keys = append(keys, storage.Key{Bucket: storage.Trails, Key: r.serial[:]},
			storage.Key{Bucket: storage.Blocklist, Key: []byte(hex.EncodeToString(r.serial[:]))})
	}
	storage.Prefetch(tx, keys...)
}

// List returns a page of the merchant's credentials in serial order and
// the cursor of the next page ("" on the last). Codes are never listed.
func (v *Verifier) List(q ListQuery) (page []Listed, next string, err error) {
	var kind credential.Kind
	switch {
	case q.Limit < 1 || q.Limit > MaxListPage:
		return nil, "", fmt.Errorf("%w: limit must be 1 to %d", ErrInvalidRequest, MaxListPage)
	case q.Kind != "" && kind.UnmarshalText([]byte(q.Kind)) != nil:
		return nil, "", fmt.Errorf("%w: kind must be card, punch or coupon", ErrInvalidRequest)
	case q.Status != "" && !listStatuses[q.Status]:
		return nil, "", fmt.Errorf("%w: status must be active, redeemed, expired, not_yet_valid or blocked", ErrInvalidRequest)
	}
	var after []byte
	if q.After != "" {
		s, err := credential.ParseSerial(q.After)
		if err != nil {
			return nil, "", fmt.Errorf("%w: cursor is not one this API gave", ErrInvalidRequest)
		}
		after = s[:]
	}
	now := v.now()
	page = []Listed{}
	err = v.store.View(func(tx storage.Tx) error {
		// Rows of the merchant are judged a chunk at a time, so that a
		// shared ledger reads the chunk's trails and blocks in one request.
		var chunk []listRow
		judge := func() error {
			v.prefetchRows(tx, chunk)
			for _, r := range chunk {
				t, err := v.trailOf(tx, r.serial, v.committed(r.serial))
				if err != nil {
					return err
				}
				l := listed(tx, r.serial, r.rec, t.uses, now)
				if q.Status != "" && l.Status != q.Status {
					continue
				}
				if len(page) == q.Limit {
					next = page[len(page)-1].Serial
					return errListFull
				}
				page = append(page, l)
			}
			chunk = chunk[:0]
			return nil
		}
		// A page starts at its cursor: page n reads no row of the pages
		// before it.
		err := tx.ScanFrom(storage.Credentials, after, func(k, raw []byte) error {
			if len(k) != len(credential.Serial{}) || bytes.Equal(k, after) {
				return nil
			}
			rec, err := credential.Decode(raw)
			if err != nil {
				return err
			}
			if rec.Merchant != q.Merchant || (q.Kind != "" && rec.Kind != kind) {
				return nil
			}
			r := listRow{rec: rec}
			copy(r.serial[:], k)
			if chunk = append(chunk, r); len(chunk) == listChunk {
				return judge()
			}
			return nil
		})
		if err != nil {
			return err
		}
		return judge()
	})
	if errors.Is(err, errListFull) {
		err = nil
	}
	return page, next, err
}

// listed describes one credential as Status does, without its history.
func listed(tx storage.Tx, s credential.Serial, rec credential.Record, used int, now time.Time) Listed {
	l := Listed{Serial: hex.EncodeToString(s[:]), Kind: rec.Kind.String(), Status: StatusActive,
		UsesLeft: rec.UsesLeft(used), Program: rec.Program, Offer: rec.Offer, Value: rec.Value,
		RewardOf: rec.RewardOf, IssuedAt: rec.IssuedAt, Expires: rec.Expires}
	switch {
	case fraud.IsBlocked(tx, l.Serial):
		l.Status = StatusBlocked
	case rec.Kind != credential.KindCard && l.UsesLeft == 0:
		l.Status = StatusRedeemed
	case !rec.Expires.IsZero() && !now.Before(rec.Expires):
		l.Status = StatusExpired
	case now.Before(rec.NotBefore):
		l.Status = StatusNotYetValid
	}
	if rec.Kind == credential.KindCard {
		n := rec.Stamps
		l.Stamps = &n
	}
	return l
}
