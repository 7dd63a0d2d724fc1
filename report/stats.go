package report

import (
	"errors"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/stampseal/stampseal/credential"
)

// MaxWindow bounds the window of one stats request.
const MaxWindow = 5 * 366 * 24 * time.Hour

// DefaultWindow is the window when a request names none: the last 30
// days, today included.
const DefaultWindow = 30

// ErrWindow is returned for a window that ends before it starts or spans
// more than MaxWindow.
var ErrWindow = errors.New("invalid window")

// Stats are one merchant's figures over a window of whole UTC days.
type Stats struct {
	Merchant string    `json:"merchant"`
	From     time.Time `json:"from"` // first instant of the first day
	To       time.Time `json:"to"`   // first instant after the last day

	CardsIssued int `json:"cards_issued"`
	ActiveCards int `json:"active_cards"` // cards stamped in the window
	Stamps      int `json:"stamps"`

	RewardsEarned           int                `json:"rewards_earned"`
	RewardsRedeemed         int                `json:"rewards_redeemed"`
	RewardsOutstanding      int                `json:"rewards_outstanding"` // earned, not redeemed, not expired at the end of the window
	RewardsEarnedValue      []credential.Value `json:"rewards_earned_value"`
	RewardsRedeemedValue    []credential.Value `json:"rewards_redeemed_value"`
	RewardsOutstandingValue []credential.Value `json:"rewards_outstanding_value"`

	CouponsIssued        int                `json:"coupons_issued"`   // campaign coupons, not rewards
	CouponsRedeemed      int                `json:"coupons_redeemed"` // uses of campaign coupons
	CouponsRedeemedValue []credential.Value `json:"coupons_redeemed_value"`
	RedemptionRate       float64            `json:"redemption_rate"` // coupons_redeemed / coupons_issued
	Campaigns            []Campaign         `json:"campaigns"`

	RepeatVisitRate         float64  `json:"repeat_visit_rate"`          // active cards with two visits or more / active cards
	MedianDaysBetweenVisits *float64 `json:"median_days_between_visits"` // null without two visits of one card

	Registers    []Register         `json:"registers"`
	Refused      map[string]int     `json:"refused"`
	RefusedValue []credential.Value `json:"refused_value"` // what the refused redemptions would have cost
	Alerts       map[string]int     `json:"alerts"`
	Blocks       int                `json:"blocks"`        // blocks placed in the window
	BlockedCards int                `json:"blocked_cards"` // serials on the blocklist now

	Days []Day `json:"days"`
}

// Campaign is a coupon offer's figures in the window.
type Campaign struct {
	Offer           string             `json:"offer"`
	CouponsIssued   int                `json:"coupons_issued"`
	CouponsRedeemed int                `json:"coupons_redeemed"`
	RedemptionRate  float64            `json:"redemption_rate"`
	RedeemedValue   []credential.Value `json:"redeemed_value"`
}

// Register is what one register label did in the window.
type Register struct {
	Register    string `json:"register"`
	Stamps      int    `json:"stamps"`
	Redemptions int    `json:"redemptions"`
}

// Day is one day of the window, for charts.
type Day struct {
	Day                string `json:"day"` // YYYY-MM-DD
	CardsIssued        int    `json:"cards_issued"`
	Stamps             int    `json:"stamps"`
	Redemptions        int    `json:"redemptions"` // rewards and coupons
	RewardsOutstanding int    `json:"rewards_outstanding"`
	Alerts             int    `json:"alerts"`
	Refused            int    `json:"refused"`
}

// Window is the default window at now: the last DefaultWindow days.
func Window(now time.Time) (from, to time.Time) {
	return now.AddDate(0, 0, -(DefaultWindow - 1)), now
}

// Stats answers the merchant's figures over the UTC days from from's day
// to to's day, both included, after catching up with the ledger.
func (b *Book) Stats(merchant string, from, to time.Time) (Stats, error) {
	if to.Before(from) || to.Sub(from) > MaxWindow {
		return Stats{}, ErrWindow
	}
	if err := b.CatchUp(); err != nil {
		return Stats{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats(merchant, dayOf(from), dayOf(to)), nil
}

func (b *Book) stats(merchant string, first, last int32) Stats {
	s := Stats{Merchant: merchant, From: dayStart(first), To: dayStart(last + 1),
		Refused: map[string]int{}, Alerts: map[string]int{}, Registers: []Register{}, Campaigns: []Campaign{}, Days: []Day{}}
	m := b.merchants[merchant]
	if m == nil {
		m = &merchantBook{}
	}
	var earnedV, redeemedV, couponV, refusedV, outstandingV Money
	registers := map[string]*Register{}
	campaigns := map[string]*Campaign{}
	campaignV := map[string]*Money{}

	// Rewards outstanding carry over from before the window.
	days := make([]int32, 0, len(m.days))
	for n := range m.days {
		days = append(days, n)
	}
	slices.Sort(days)
	outstanding := 0
	for _, n := range days {
		if n >= first {
			break
		}
		d := m.days[n]
		outstanding += d.rewardsEarned - d.rewardsRedeemed - d.rewardsExpiring
		outstandingV.plus(d.earnedValue, 1)
		outstandingV.plus(d.rewardRedeemedValue, -1)
		outstandingV.plus(d.expiringValue, -1)
	}
	for n := first; n <= last; n++ {
		day := Day{Day: dayStart(n).Format(time.DateOnly)}
		if d := m.days[n]; d != nil {
			s.CardsIssued += d.cardsIssued
			s.Stamps += d.stamps
			s.RewardsEarned += d.rewardsEarned
			s.RewardsRedeemed += d.rewardsRedeemed
			s.CouponsIssued += d.couponsIssued
			s.CouponsRedeemed += d.couponsRedeemed
			s.Blocks += d.blocks
			earnedV.plus(d.earnedValue, 1)
			redeemedV.plus(d.rewardRedeemedValue, 1)
			couponV.plus(d.couponRedeemedValue, 1)
			refusedV.plus(d.refusedValue, 1)
			outstanding += d.rewardsEarned - d.rewardsRedeemed - d.rewardsExpiring
			outstandingV.plus(d.earnedValue, 1)
			outstandingV.plus(d.rewardRedeemedValue, -1)
			outstandingV.plus(d.expiringValue, -1)
			for reason, k := range d.refused {
				s.Refused[reason] += k
				day.Refused += k
			}
			for kind, k := range d.alerts {
				s.Alerts[kind] += k
				day.Alerts += k
			}
			for name, r := range d.registers {
				t := registers[name]
				if t == nil {
					t = &Register{Register: name}
					registers[name] = t
				}
				t.Stamps += r.Stamps
				t.Redemptions += r.Redemptions
			}
			for offer, c := range d.campaigns {
				t := campaigns[offer]
				if t == nil {
					t = &Campaign{Offer: offer}
					campaigns[offer] = t
					campaignV[offer] = new(Money)
				}
				t.CouponsIssued += c.issued
				t.CouponsRedeemed += c.redeemed
				campaignV[offer].plus(c.redeemedValue, 1)
			}
			day.CardsIssued, day.Stamps = d.cardsIssued, d.stamps
			day.Redemptions = d.rewardsRedeemed + d.couponsRedeemed
		}
		day.RewardsOutstanding = outstanding
		s.Days = append(s.Days, day)
	}
	s.RewardsOutstanding = outstanding
	s.RewardsEarnedValue, s.RewardsRedeemedValue, s.RewardsOutstandingValue = earnedV.List(), redeemedV.List(), outstandingV.List()
	s.CouponsRedeemedValue, s.RefusedValue = couponV.List(), refusedV.List()
	s.RedemptionRate = rate(s.CouponsRedeemed, s.CouponsIssued)
	for _, r := range registers {
		if r.Stamps != 0 || r.Redemptions != 0 { // all voided: nothing happened there
			s.Registers = append(s.Registers, *r)
		}
	}
	sort.Slice(s.Registers, func(i, j int) bool { return s.Registers[i].Register < s.Registers[j].Register })
	for offer, c := range campaigns {
		c.RedemptionRate = rate(c.CouponsRedeemed, c.CouponsIssued)
		c.RedeemedValue = campaignV[offer].List()
		s.Campaigns = append(s.Campaigns, *c)
	}
	sort.Slice(s.Campaigns, func(i, j int) bool { return s.Campaigns[i].Offer < s.Campaigns[j].Offer })
	for _, owner := range b.blocks {
		if owner == merchant {
			s.BlockedCards++
		}
	}
	s.ActiveCards, s.RepeatVisitRate, s.MedianDaysBetweenVisits = m.visits(first, last)
	return s
}

// scratch is per-card space for one stats request, reused: the request
// marks each card it meets with its epoch instead of clearing arrays.
type scratch struct {
	epoch uint32
	seen  []uint32 // epoch of the request that last met the card
	count []int32  // visits of the card in the window
	last  []int64  // the card's latest visit so far
	gaps  []int64
}

// visits counts the cards visited in the days first to last, the share of
// them visited twice or more, and the median time between two visits of
// one card, in days. It reads only the window's visits.
func (m *merchantBook) visits(first, last int32) (active int, repeat float64, median *float64) {
	sc := &m.scratch
	if n := int(m.ncards); len(sc.seen) < n {
		sc.seen, sc.count, sc.last = make([]uint32, n+n/4), make([]int32, n+n/4), make([]int64, n+n/4)
		sc.epoch = 0
	}
	if sc.epoch++; sc.epoch == 0 { // wrapped: forget every mark
		clear(sc.seen)
		sc.epoch = 1
	}
	gaps, repeats := sc.gaps[:0], 0
	for n := first; n <= last; n++ {
		d := m.days[n]
		if d == nil {
			continue
		}
		for _, v := range d.visits {
			if sc.seen[v.card] != sc.epoch {
				sc.seen[v.card], sc.count[v.card], sc.last[v.card] = sc.epoch, 1, v.at
				active++
				continue
			}
			if sc.count[v.card]++; sc.count[v.card] == 2 {
				repeats++
			}
			gaps = append(gaps, v.at-sc.last[v.card])
			sc.last[v.card] = v.at
		}
	}
	sc.gaps = gaps
	if len(gaps) > 0 {
		days := math.Round(middle(gaps)/86400*100) / 100
		median = &days
	}
	return active, rate(repeats, active), median
}

// middle is the median of xs (reordered in place), in O(n) expected time.
func middle(xs []int64) float64 {
	n := len(xs)
	hi := nth(xs, n/2)
	if n%2 == 1 {
		return float64(hi)
	}
	lo := slices.Max(xs[:n/2])
	return (float64(lo) + float64(hi)) / 2
}

// nth puts the k-th smallest element at xs[k], smaller ones before it, and
// returns it (Hoare's selection).
func nth(xs []int64, k int) int64 {
	lo, hi := 0, len(xs)-1
	for lo < hi {
		p := xs[lo+(hi-lo)/2]
		i, j := lo, hi
		for i <= j {
			for xs[i] < p {
				i++
			}
			for xs[j] > p {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	return xs[k]
}

// rate is n/of rounded to four decimals; 0 when of is 0.
func rate(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return math.Round(float64(n)/float64(of)*10000) / 10000
}
