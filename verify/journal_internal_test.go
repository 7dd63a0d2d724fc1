package verify

import (
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/stampseal/stampseal/storage"
)

// BenchmarkLoadIndex reads back a journal of one million redemptions (one
// in four with an idempotency answer): the start-up cost of the index.
func BenchmarkLoadIndex(b *testing.B) {
	store, err := storage.OpenBolt(filepath.Join(b.TempDir(), "ledger.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	const entries, perTx = 1_000_000, 20_000
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for done := 0; done < entries; done += perTx {
		err := store.Update(func(tx storage.Tx) error {
			o := journal{newOverlay(newIndex())}
			for i := range perTx {
				e := event{Use: true, Entry: Entry{At: now, Op: "redeem", Register: "till-1"}}
				rand.Read(e.Serial[:])
				if i%4 == 0 {
					e.Answer = &answer{Key: keyOf("bakery-1", e.Serial.String()), Fingerprint: fingerprint("redeem", e.Serial.String()),
						Redemption: &Redemption{Redeemed: true, Serial: e.Serial.String(), RedeemedAt: now, Register: "till-1"}}
				}
				if err := o.append(tx, e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		ix, err := loadIndex(store, now)
		if err != nil || len(ix.trails) != entries || len(ix.answers) != entries/4 {
			b.Fatalf("loadIndex: %d trails, %d answers, %v", len(ix.trails), len(ix.answers), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/million")
}
