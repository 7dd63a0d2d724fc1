package report

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestMiddleIsTheMedian(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 1; n < 200; n++ {
		xs := make([]int64, n)
		for i := range xs {
			xs[i] = r.Int64N(50) // many repeats
		}
		sorted := slices.Clone(xs)
		slices.Sort(sorted)
		want := float64(sorted[n/2])
		if n%2 == 0 {
			want = (float64(sorted[n/2-1]) + float64(sorted[n/2])) / 2
		}
		if got := middle(xs); got != want {
			t.Fatalf("median of %v = %v; want %v", sorted, got, want)
		}
	}
}

func TestDayOf(t *testing.T) {
	for _, c := range []struct {
		unix int64
		want int32
	}{{0, 0}, {86399, 0}, {86400, 1}, {-1, -1}, {-86400, -1}, {-86401, -2}} {
		if got := dayOf(unixTime(c.unix)); got != c.want {
			t.Errorf("dayOf(%d) = %d; want %d", c.unix, got, c.want)
		}
	}
}

func unixTime(s int64) time.Time { return time.Unix(s, 0) }
