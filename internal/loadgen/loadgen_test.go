package loadgen

import (
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
			got, err := ParseMix(tc.in)
			if tc.fail {
				if err == nil {
					t.Fatalf("ParseMix(%q) = %v, want an error", tc.in, got)
				}
				return
			}
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("ParseMix(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("ParseMix(%q)[%s] = %d, want %d", tc.in, k, got[k], v)
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
