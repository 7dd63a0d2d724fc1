package report_test

import (
	"math/rand/v2"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/report"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/verify"
)

// journalEvent is verify's journal entry as written to storage.History
// (verify/journal.go); ReadJournal reading it back is checked by the
// figures the benchmark asserts before timing.
type journalEvent struct {
	Serial credential.Serial `cbor:"1,keyasint"`
	Use    bool              `cbor:"3,keyasint,omitempty"`
	Entry  verify.Entry      `cbor:"4,keyasint"`
}

// bigLedger writes a year of one bakery: 100,000 cards, 850,000 stamps,
// 50,000 rewards of which 40,000 redeemed, 10,000 campaign coupons of
// which 5,000 redeemed: 945,000 journal events and 160,000 issuance
// records, all of one merchant (the worst case for one stats request).
func bigLedger(b *testing.B) (*storage.Bolt, time.Time) {
	db, err := storage.OpenBolt(filepath.Join(b.TempDir(), "big.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	enc, _ := cbor.EncOptions{Time: cbor.TimeRFC3339Nano}.EncMode()
	r := rand.New(rand.NewPCG(7, 7))
	start := time.Date(2025, 11, 25, 0, 0, 0, 0, time.UTC)
	year := int64(365 * 24 * 3600)
	at := func() time.Time { return start.Add(time.Duration(r.Int64N(year-7200)) * time.Second) }
	serial := func() credential.Serial {
		var s credential.Serial
		for i := range s {
			s[i] = byte(r.Uint32())
		}
		return s
	}
	value := &credential.Value{Amount: 350, Currency: "EUR"}
	type write struct {
		rec    *credential.Record
		serial credential.Serial
		ev     *journalEvent
	}
	var batch []write
	flush := func() {
		err := db.Update(func(tx storage.Tx) error {
			for _, w := range batch {
				if w.rec != nil {
					if err := credential.Save(tx, w.serial[:], w.rec); err != nil {
						return err
					}
					continue
				}
				seq, err := tx.Sequence(storage.History)
				if err != nil {
					return err
				}
				raw, err := enc.Marshal(w.ev)
				if err != nil {
					return err
				}
				if err := tx.Put(storage.History, binaryKey(seq), raw); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	add := func(w write) {
		if batch = append(batch, w); len(batch) == 50_000 {
			flush()
		}
	}
	// The journal is in commit order, which is time order: events are
	// collected, sorted by time, then written.
	var journal []*journalEvent
	addEvent := func(e *journalEvent) { journal = append(journal, e) }
	cards := make([]credential.Serial, 100_000)
	for i := range cards {
		cards[i] = serial()
		add(write{rec: &credential.Record{Kind: credential.KindCard, Merchant: "bakery", Program: "coffee", IssuedAt: start}, serial: cards[i]})
	}
	for range 850_000 {
		addEvent(&journalEvent{Serial: cards[r.IntN(len(cards))], Entry: verify.Entry{At: at(), Op: "stamp", Register: tills[r.IntN(len(tills))], Stamps: 1}})
	}
	for i := range 50_000 {
		earned := at()
		reward := serial()
		add(write{rec: &credential.Record{Kind: credential.KindCoupon, Merchant: "bakery", Program: "coffee", Offer: "free coffee",
			RewardOf: cards[i].String(), IssuedAt: earned, Expires: earned.Add(30 * 24 * time.Hour), Value: value}, serial: reward})
		addEvent(&journalEvent{Serial: cards[i], Entry: verify.Entry{At: earned, Op: "reward", Reward: reward.String()}})
		if i < 40_000 {
			addEvent(&journalEvent{Serial: reward, Use: true, Entry: verify.Entry{At: earned.Add(time.Hour), Op: "redeem", Register: "till-1"}})
		}
	}
	for i := range 10_000 {
		c := serial()
		add(write{rec: &credential.Record{Kind: credential.KindCoupon, Merchant: "bakery", Offer: offers[i%len(offers)], IssuedAt: at(), MaxUses: 1}, serial: c})
		if i%2 == 0 {
			addEvent(&journalEvent{Serial: c, Use: true, Entry: verify.Entry{At: at(), Op: "redeem", Register: "till-2"}})
		}
	}
	sort.SliceStable(journal, func(i, j int) bool { return journal[i].Entry.At.Before(journal[j].Entry.At) })
	for _, e := range journal {
		add(write{ev: e})
	}
	flush()
	return db, start
}

var (
	tills  = []string{"till-1", "till-2", "till-3", "till-4"}
	offers = []string{"croissant", "cake", "baguette"}
)

func binaryKey(seq uint64) []byte {
	k := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		k[i] = byte(seq)
		seq >>= 8
	}
	return k
}

// BenchmarkStatsOfAMillionEvents times one stats request, catch-up with
// the ledger included, over a ledger of about a million events.
func BenchmarkStatsOfAMillionEvents(b *testing.B) {
	db, start := bigLedger(b)
	end := start.AddDate(0, 0, 364)
	began := time.Now()
	book, err := report.Open(db)
	if err != nil {
		b.Fatal(err)
	}
	rebuild := time.Since(began)
	year, err := book.Stats("bakery", start, end)
	if err != nil {
		b.Fatal(err)
	}
	if year.Stamps != 850_000 || year.RewardsEarned != 50_000 || year.RewardsRedeemed != 40_000 || year.CouponsRedeemed != 5_000 || year.CouponsIssued != 10_000 {
		b.Fatalf("the ledger was not read back whole: %d stamps, %d rewards earned, %d redeemed, %d coupons issued, %d redeemed",
			year.Stamps, year.RewardsEarned, year.RewardsRedeemed, year.CouponsIssued, year.CouponsRedeemed)
	}
	for _, w := range []struct {
		name string
		days int
	}{{"30-days", 30}, {"365-days", 365}} {
		b.Run(w.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := book.Stats("bakery", end.AddDate(0, 0, 1-w.days), end); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rebuild.Milliseconds()), "rebuild-ms")
		})
	}
}
