package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestParseMix(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[string]int
		fail     bool
	}{
		{name: "the default mix parses", in: "verify=40,redeem=30,stamp=20,issue=10", want: map[string]int{"verify": 40, "redeem": 30, "stamp": 20, "issue": 10}},
		{name: "one operation alone is a mix", in: "redeem=1", want: map[string]int{"redeem": 1}},
		{name: "an unknown operation is refused", in: "verify=1,refund=2", fail: true},
		{name: "a weight that is not a number is refused", in: "verify=x", fail: true},
		{name: "weights adding up to zero are refused", in: "verify=0", fail: true},
		{name: "a negative weight is refused", in: "verify=-1,redeem=2", fail: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMix(tc.in)
			if tc.fail {
				if err == nil {
					t.Fatalf("parseMix(%q) = %v, want an error", tc.in, got)
				}
				return
			}
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("parseMix(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("parseMix(%q)[%s] = %d, want %d", tc.in, k, got[k], v)
				}
			}
		})
	}
}

func TestQuantileIsNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 1000; i++ {
		d = append(d, time.Duration(i))
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500}, {0.99, 990}, {0.999, 999}, {1, 1000}, {0, 1}} {
		if got := quantile(d, tc.q); got != tc.want {
			t.Errorf("quantile(1..1000, %v) = %d, want %d", tc.q, got, tc.want)
		}
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile(nil) = %v, want 0", got)
	}
}

func TestBenchSelfPrintsATable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and loads it for a second")
	}
	for _, mode := range [][]string{{}, {"--rate", "200"}} {
		var out, errOut bytes.Buffer
		args := append([]string{"bench", "--self", "--duration", "1s", "--clients", "4", "--coupons", "5000", "--cards", "20", "--progress", "500ms"}, mode...)
		if err := run(args, &out, &errOut); err != nil {
			t.Fatalf("stampseal %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
		for _, want := range []string{"op", "verify", "redeem", "stamp", "issue", "all", "p99", "p999"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("stampseal %s printed no %q:\n%s", strings.Join(args, " "), want, out.String())
			}
		}
		if strings.Contains(out.String(), "first error") {
			t.Errorf("stampseal %s saw errors:\n%s", strings.Join(args, " "), out.String())
		}
		if !strings.Contains(errOut.String(), "requests") {
			t.Errorf("stampseal %s showed no progress on stderr:\n%s", strings.Join(args, " "), errOut.String())
		}
	}
}
