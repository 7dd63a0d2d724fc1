package sim

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestSmallMonth runs a small version of the month: every attack kind,
// a few hundred cards over ten days, through the real service.
func TestSmallMonth(t *testing.T) {
	rep, err := Run(Config{Days: 12, Customers: 250, Attacks: 2, Seed: 7, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	rep.Write(os.Stdout)
	for _, k := range rep.Kinds {
		if k.Recall < 1 {
			t.Errorf("%s: caught %d of %d, want all (missed %v)", k.Kind, k.Caught, k.Attacks, k.MissedSubject)
		}
		// The target counts from the first request from which a
		// careful human could have told (truth.go).
		if k.OnTimeTold < k.Caught {
			t.Errorf("%s: %d of %d caught within %v of the moment a human could tell, want all (worst %v; strict worst %v)",
				k.Kind, k.OnTimeTold, k.Caught, k.Target, k.WorstTold, k.WorstDetect)
		}
	}
	if rep.HonestRequests < 1000 {
		t.Fatalf("only %d honest requests: the month is too small to say anything", rep.HonestRequests)
	}
	// Fewer than 1 in 10,000 each; this small month has a few thousand
	// honest requests, so any false alert or refusal fails it.
	if rep.FalsePer10k >= 1 {
		t.Errorf("false alerts = %d (%.2f per 10,000 honest requests), want below 1 per 10,000", rep.FalseAlerts, rep.FalsePer10k)
	}
	if rep.RefusedPer10k >= 1 {
		t.Errorf("honest refusals = %d (%.2f per 10,000), want below 1 per 10,000: %v", rep.HonestRefused, rep.RefusedPer10k, rep.Refusals)
	}
}

// TestSameSeedSameMonth runs one small month twice with one seed: every
// figure must come out the same, although the service's keys, serials and
// codes are fresh random each time.
func TestSameSeedSameMonth(t *testing.T) {
	figures := func() Report {
		rep, err := Run(Config{Days: 10, Customers: 120, Attacks: 4, Seed: 3, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		r := *rep
		r.Elapsed, r.FalseSamples, r.Config.Dir = 0, nil, ""
		for i := range r.Kinds {
			r.Kinds[i].MissedSubject = nil // serials: random in each run
		}
		return r
	}
	a, b := figures(), figures()
	if !reflect.DeepEqual(a, b) {
		var wa, wb strings.Builder
		a.Write(&wa)
		b.Write(&wb)
		t.Errorf("two runs of seed 3 differ:\n%s\n---\n%s", wa.String(), wb.String())
	}
}
