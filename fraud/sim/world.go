package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// The chain: three shops of a bakery in one city, each with two tills
// (register keys) and a point of sale that prints punches (an issuer key).
// The tills of a shop share one address, as tills behind one router do.

const merchant = "bakery"

type till struct {
	shop   int
	label  string // the register label it sends: evidence only
	id     string // API key id
	token  string
	source string // address
}

type shop struct {
	id       string
	lat, lon float64
	tills    []*till
	pos      *till // the issuer key that prints punches and coupons
}

// customer is one card holder, or two (a family sharing the card).
type customer struct {
	card     string // the card's code
	serial   string
	members  []member
	rewards  []string // reward coupons not yet redeemed (codes)
	used     []usedCoupon
	promo    string // a campaign coupon, until used
	punch    string // a punch printed on a receipt, to claim on a later visit
	shownOld bool   // has shown an old used coupon once
}

type member struct {
	home      int     // index of the home shop
	perWeek   float64 // visits a week
	preferred float64 // preferred hour of the day
}

type usedCoupon struct {
	code string
	at   time.Time
}

// visitsPerWeek draws a member's visit rate. Coffee-shop loyalty studies
// and operators' published figures put most members at one to three
// visits a week, a fifth at near daily, a few at twice a day; the split
// below is that, as a judgement: 40% occasional (0.3-1), 40% regular
// (1.5-4), 17% daily (5-7), 3% heavy (8-14).
func visitsPerWeek(r *rand.Rand) float64 {
	switch p := r.Float64(); {
	case p < 0.40:
		return 0.3 + 0.7*r.Float64()
	case p < 0.80:
		return 1.5 + 2.5*r.Float64()
	case p < 0.97:
		return 5 + 2*r.Float64()
	default:
		return 8 + 6*r.Float64()
	}
}

// preferredHour draws when a member likes to come: the morning peak, lunch
// or the afternoon (a judgement from shops' published busy hours).
func preferredHour(r *rand.Rand) float64 {
	switch p := r.Float64(); {
	case p < 0.5:
		return 7.5 + r.NormFloat64()*0.8
	case p < 0.8:
		return 12.5 + r.NormFloat64()*0.6
	default:
		return 16 + r.NormFloat64()*1.0
	}
}

// visitTimes draws a member's visits over days days from start: a Poisson
// number a day at its rate, each near its preferred hour (a heavy member's
// second visit at another time of day), within opening hours 7-19.
func visitTimes(r *rand.Rand, m member, start time.Time, days int) []time.Time {
	var out []time.Time
	rate := m.perWeek / 7
	for d := range days {
		// Occasional and regular members come at random (Poisson); a daily
		// member's day is a habit: the whole visits of their rate, and one
		// more with its fraction (a judgement: habits are regular).
		n := min(2, poisson(r, rate)) // three coffees a day at one chain is not a habit
		if rate >= 5.0/7 {
			n = int(rate)
			if r.Float64() < rate-float64(n) {
				n++
			}
		}
		var hours []float64
		for i := range n {
			h := m.preferred + r.NormFloat64()*0.33
			if i > 0 {
				// One person's visits of a day are hours apart (lunch, the
				// way home), not minutes.
				for try := 0; try < 20; try++ {
					h = 7 + 12*r.Float64()
					if !slices.ContainsFunc(hours, func(x float64) bool { return math.Abs(x-h) < 2 }) {
						break
					}
				}
			}
			h = math.Min(18.9, math.Max(7, h))
			if slices.ContainsFunc(hours, func(x float64) bool { return math.Abs(x-h) < 2 }) {
				continue
			}
			hours = append(hours, h)
			out = append(out, start.Add(time.Duration(d)*24*time.Hour+time.Duration(h*float64(time.Hour))))
		}
	}
	return out
}

func poisson(r *rand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// shopFor is where a member goes: home nine times in ten.
func shopFor(r *rand.Rand, m member, shops int) int {
	if r.Float64() < 0.9 {
		return m.home
	}
	return r.IntN(shops)
}

func label(shop, till int) string { return fmt.Sprintf("s%d-till-%d", shop+1, till+1) }
