package audit_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/storage"
)

func openStore(t *testing.T) *storage.Bolt {
	t.Helper()
	st, err := storage.OpenBolt(filepath.Join(t.TempDir(), "stampseal.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestTrailListsNewestFirstPerMerchant(t *testing.T) {
	st := openStore(t)
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	by := audit.Actor{KeyID: "key_1", Name: "Owner", Role: "admin", Source: "10.0.0.7"}
	for i, m := range []string{"bakery-1", "bakery-2", "bakery-1", "bakery-1"} {
		at := base.Add(time.Duration(i) * time.Minute)
		if err := st.Update(func(tx storage.Tx) error {
			return audit.Record(tx, at, m, audit.CredentialBlocked, by, "serial-"+string(rune('a'+i)), map[string]string{"reason": "r"})
		}); err != nil {
			t.Fatal(err)
		}
	}
	tr := audit.New(st)
	got, err := tr.List(audit.Query{Merchant: "bakery-1"})
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, e := range got {
		targets = append(targets, e.Target)
		if e.ActorKeyID != "key_1" || e.ActorName != "Owner" || e.ActorRole != "admin" || e.Source != "10.0.0.7" || e.Merchant != "bakery-1" {
			t.Errorf("entry %+v: actor or merchant lost", e)
		}
	}
	if strings.Join(targets, ",") != "serial-d,serial-c,serial-a" {
		t.Errorf("targets %v, want bakery-1's newest first", targets)
	}
	since, _ := tr.List(audit.Query{Merchant: "bakery-1", Since: base.Add(2 * time.Minute)})
	if len(since) != 2 {
		t.Errorf("since the third minute: %d entries, want 2", len(since))
	}
	one, _ := tr.List(audit.Query{Merchant: "bakery-1", Limit: 1})
	if len(one) != 1 || one[0].Target != "serial-d" {
		t.Errorf("limit 1: %+v", one)
	}
	if _, err := tr.List(audit.Query{Merchant: "bakery-1", Limit: audit.MaxList + 1}); !errors.Is(err, audit.ErrInvalid) {
		t.Errorf("limit over max: %v", err)
	}
	if _, err := tr.List(audit.Query{}); !errors.Is(err, audit.ErrInvalid) {
		t.Errorf("no merchant: %v", err)
	}
}

func TestRecordCommitsWithItsTransaction(t *testing.T) {
	st := openStore(t)
	boom := errors.New("the change failed")
	err := st.Update(func(tx storage.Tx) error {
		if err := audit.Record(tx, time.Now(), "bakery-1", audit.APIKeyRevoked, audit.Operator, "key_1", nil); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	got, _ := audit.New(st).List(audit.Query{Merchant: "bakery-1"})
	if len(got) != 0 {
		t.Errorf("a rolled-back change left %d audit entries", len(got))
	}
}

func TestRecordBoundsWhatItKeeps(t *testing.T) {
	st := openStore(t)
	tr := audit.New(st)
	long := strings.Repeat("é", 400) + "\xff"
	if err := tr.Record("bakery-1", audit.AlertResolved, audit.Actor{Name: long}, long, map[string]string{"note": long}); err != nil {
		t.Fatal(err)
	}
	got, _ := tr.List(audit.Query{Merchant: "bakery-1"})
	if len(got) != 1 || len(got[0].ActorName) > 200 || len(got[0].Details["note"]) > 500 || strings.Contains(got[0].Target, "\xff") {
		t.Errorf("entry not bounded: name %d bytes, note %d bytes", len(got[0].ActorName), len(got[0].Details["note"]))
	}
	if err := tr.Record("", audit.AlertResolved, audit.Operator, "x", nil); !errors.Is(err, audit.ErrInvalid) {
		t.Errorf("entry without merchant: %v", err)
	}
}
