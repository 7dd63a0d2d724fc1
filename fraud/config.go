package fraud

import (
	"fmt"
	"time"
)

// Config holds the thresholds of the detectors. Zero fields take the value
// of DefaultConfig. Every count is per authenticated API key or per card,
// never per register label or address.
//
// The defaults are judgements from published visit patterns of coffee-shop
// loyalty programmes (most members visit one to three times a week, heavy
// regulars once or twice a day, rarely more than three times) and from what
// a till's honest day looks like (a handful of unreadable scans); the
// simulator in fraud/sim measures them (docs/detection.md).
type Config struct {
	// DuplicateWindow: one card used successfully with two API keys of one
	// shop (or of no shop) within it raises duplicate_card.
	DuplicateWindow time.Duration
	// TravelSpeed (km/h) and TravelSlack bound how fast one person gets
	// from one shop to another: a card at two shops faster is cloned_card.
	TravelSpeed float64
	TravelSlack time.Duration

	// Card life over CardWindow (a week): more than DayVisits visits in
	// 24 h, more than DayShops distinct shops on BusyDays days, or more
	// than WeekRewards rewards paid out raise cloned_card. A visit is a
	// stamp or claim at least VisitGap after the card's previous one (a
	// double scan is one visit).
	CardWindow time.Duration
	DayVisits  int
	DayShops   int
	// MixedVisits visits in one day at two shops or more raise cloned_card:
	// a family of two, each at most twice a day, makes four.
	MixedVisits int
	WeekRewards int
	VisitGap    time.Duration
	// A paper card is in one pocket: a family hands it over, and one
	// person's visits of a day are hours apart, so a card's visits are
	// TightGap or more apart. Two places closer than that (though travel
	// allows it) on a day of TightVisits visits or more raise cloned_card.
	TightGap    time.Duration
	TightVisits int
	// A family's busiest day (more than DayShops shops: two members, one
	// of them at another shop) happens; such a day on BusyDays days of
	// CardWindow is a copy's holders each keeping to their own shop.
	BusyDays int

	// GuessLimit invalid codes from one API key within GuessWindow, or
	// GuessHour within an hour, or GuessDay within a day, raise guessing
	// and throttle that key (only that key) for ThrottleFor. The throttle
	// refuses only requests that could be guesses (short codes, texts that
	// are not a code): an honest till with a misreading scanner still
	// serves every real card.
	// PeerMin invalid codes in a day at PeerFactor times the rate of the
	// merchant's other keys also raise guessing (slow guessing).
	GuessLimit  int
	GuessWindow time.Duration
	GuessHour   int
	GuessDay    int
	PeerMin     int
	PeerFactor  float64
	ThrottleFor time.Duration
	// ShapedLimit made-up codes (see Event.Shaped) within an hour make the
	// counterfeit incident of a key high; the first is medium already.
	ShapedLimit int

	// More than VelocityLimit stamps, claims or redemptions of one serial
	// within VelocityWindow raise velocity, as does a card collecting more
	// than VelocityStamps stamps within VelocityWindow.
	VelocityLimit  int
	VelocityStamps int
	VelocityWindow time.Duration

	// Insider (a till's shift): one API key giving one card ShiftVisits
	// visits within Shift, or ShiftVisitsRepeat within Shift on two days of
	// CardWindow; InsiderQuickClaims punches claimed onto one card within
	// Shift, each less than QuickClaim after it was printed at the same
	// place (shop, key, label or address); any stamp on a staff card. The
	// day rule: a key gave more than InsiderShare of a card's stamps, once
	// the card has InsiderMinStamps within InsiderWindow.
	Shift              time.Duration
	ShiftVisits        int
	ShiftVisitsRepeat  int
	QuickClaim         time.Duration
	InsiderQuickClaims int
	InsiderWindow      time.Duration
	InsiderMinStamps   int
	InsiderShare       float64
	// Over days: a key gave a card InsiderWeekVisits visits or more on
	// InsiderWeekDays days or more within CardWindow, more than
	// InsiderWeekShare of its visits, while the key did less than
	// InsiderShopShare of its shop's visits (a shop of one till is not a
	// cashier's favour). InsiderRewards rewards paid out onto one card by
	// one key within Shift are a cashier rewarding a card of their own.
	InsiderWeekVisits int
	InsiderWeekDays   int
	InsiderWeekShare  float64
	InsiderShopShare  float64
	InsiderRewards    int

	// ReplayGrace: an already_redeemed code at the API key that used it
	// less than ReplayGrace earlier is a double scan, not a replay.
	// ReplayStale: a code used longer ago than this, presented once again,
	// is an honest customer's old coupon: noted at low severity, not opened
	// for review; a second presentation opens a replay.
	ReplayGrace time.Duration
	ReplayStale time.Duration

	// WriteEvery bounds storage writes for one hot incident.
	WriteEvery time.Duration
	// MaxTracked bounds the cards, keys and codes held in memory; beyond it
	// the stalest are dropped.
	MaxTracked int
	// EvidenceLimit bounds each list in an alert's evidence.
	EvidenceLimit int
}

// DefaultConfig returns thresholds meant for a shop with a few registers.
func DefaultConfig() Config {
	return Config{
		DuplicateWindow:    3 * time.Minute,
		TravelSpeed:        40,
		TravelSlack:        5 * time.Minute,
		CardWindow:         7 * 24 * time.Hour,
		DayVisits:          5,
		DayShops:           2,
		MixedVisits:        5,
		WeekRewards:        3,
		VisitGap:           2 * time.Minute,
		TightGap:           time.Hour,
		TightVisits:        3,
		BusyDays:           2,
		GuessLimit:         20,
		GuessWindow:        time.Minute,
		GuessHour:          30,
		GuessDay:           60,
		PeerMin:            15,
		PeerFactor:         8,
		ThrottleFor:        5 * time.Minute,
		ShapedLimit:        5,
		VelocityLimit:      5,
		VelocityStamps:     12,
		VelocityWindow:     2 * time.Hour,
		Shift:              8 * time.Hour,
		ShiftVisits:        4,
		ShiftVisitsRepeat:  4,
		QuickClaim:         2 * time.Minute,
		InsiderQuickClaims: 3,
		InsiderWindow:      24 * time.Hour,
		InsiderMinStamps:   10,
		InsiderShare:       0.8,
		InsiderWeekVisits:  12,
		InsiderWeekDays:    4,
		InsiderWeekShare:   0.9,
		InsiderShopShare:   0.6,
		InsiderRewards:     2,
		ReplayGrace:        time.Minute,
		ReplayStale:        24 * time.Hour,
		WriteEvery:         time.Second,
		MaxTracked:         1 << 20,
		EvidenceLimit:      10,
	}
}

// maxHistory bounds the uses kept per card; VelocityLimit must stay below it.
const maxHistory = 64

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	for _, p := range []struct{ v, def *time.Duration }{
		{&c.DuplicateWindow, &d.DuplicateWindow}, {&c.TravelSlack, &d.TravelSlack}, {&c.CardWindow, &d.CardWindow},
		{&c.VisitGap, &d.VisitGap}, {&c.GuessWindow, &d.GuessWindow}, {&c.ThrottleFor, &d.ThrottleFor},
		{&c.VelocityWindow, &d.VelocityWindow}, {&c.Shift, &d.Shift}, {&c.QuickClaim, &d.QuickClaim},
		{&c.InsiderWindow, &d.InsiderWindow}, {&c.ReplayGrace, &d.ReplayGrace}, {&c.ReplayStale, &d.ReplayStale},
		{&c.WriteEvery, &d.WriteEvery}, {&c.TightGap, &d.TightGap},
	} {
		if *p.v == 0 {
			*p.v = *p.def
		}
	}
	for _, p := range []struct{ v, def *int }{
		{&c.DayVisits, &d.DayVisits}, {&c.DayShops, &d.DayShops}, {&c.MixedVisits, &d.MixedVisits}, {&c.WeekRewards, &d.WeekRewards}, {&c.TightVisits, &d.TightVisits},
		{&c.GuessLimit, &d.GuessLimit}, {&c.GuessHour, &d.GuessHour},
		{&c.GuessDay, &d.GuessDay}, {&c.PeerMin, &d.PeerMin}, {&c.ShapedLimit, &d.ShapedLimit},
		{&c.VelocityLimit, &d.VelocityLimit}, {&c.VelocityStamps, &d.VelocityStamps},
		{&c.ShiftVisits, &d.ShiftVisits}, {&c.ShiftVisitsRepeat, &d.ShiftVisitsRepeat},
		{&c.InsiderQuickClaims, &d.InsiderQuickClaims}, {&c.InsiderMinStamps, &d.InsiderMinStamps},
		{&c.InsiderWeekVisits, &d.InsiderWeekVisits}, {&c.InsiderWeekDays, &d.InsiderWeekDays}, {&c.InsiderRewards, &d.InsiderRewards},
		{&c.BusyDays, &d.BusyDays},
		{&c.MaxTracked, &d.MaxTracked}, {&c.EvidenceLimit, &d.EvidenceLimit},
	} {
		if *p.v == 0 {
			*p.v = *p.def
		}
	}
	for _, p := range []struct{ v, def *float64 }{
		{&c.TravelSpeed, &d.TravelSpeed}, {&c.PeerFactor, &d.PeerFactor}, {&c.InsiderShare, &d.InsiderShare},
		{&c.InsiderWeekShare, &d.InsiderWeekShare}, {&c.InsiderShopShare, &d.InsiderShopShare},
	} {
		if *p.v == 0 {
			*p.v = *p.def
		}
	}
	return c
}

// Validate reports the first field that no detector can work with, by name.
// Zero fields are valid: they take the defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"DuplicateWindow", c.DuplicateWindow}, {"TravelSlack", c.TravelSlack}, {"CardWindow", c.CardWindow},
		{"VisitGap", c.VisitGap}, {"GuessWindow", c.GuessWindow}, {"ThrottleFor", c.ThrottleFor},
		{"VelocityWindow", c.VelocityWindow}, {"Shift", c.Shift}, {"QuickClaim", c.QuickClaim},
		{"InsiderWindow", c.InsiderWindow}, {"ReplayGrace", c.ReplayGrace}, {"ReplayStale", c.ReplayStale},
		{"WriteEvery", c.WriteEvery}, {"TightGap", c.TightGap},
	} {
		if d.v < 0 {
			return fmt.Errorf("fraud config: %s = %v, want a positive duration", d.name, d.v)
		}
	}
	switch {
	case c.GuessLimit < 1 || c.GuessLimit > 10000:
		return fmt.Errorf("fraud config: GuessLimit = %d, want 1 to 10000", c.GuessLimit)
	case c.GuessHour < 1 || c.GuessDay < 1 || c.PeerMin < 1:
		return fmt.Errorf("fraud config: GuessHour, GuessDay and PeerMin must be at least 1")
	case c.VelocityLimit < 1 || c.VelocityLimit >= maxHistory:
		return fmt.Errorf("fraud config: VelocityLimit = %d, want 1 to %d", c.VelocityLimit, maxHistory-1)
	case c.DayVisits < 1 || c.DayVisits >= maxHistory:
		return fmt.Errorf("fraud config: DayVisits = %d, want 1 to %d", c.DayVisits, maxHistory-1)
	case c.ShiftVisits < 1 || c.ShiftVisits >= maxHistory || c.ShiftVisitsRepeat < 1:
		return fmt.Errorf("fraud config: ShiftVisits = %d, want 1 to %d", c.ShiftVisits, maxHistory-1)
	case c.InsiderMinStamps < 1:
		return fmt.Errorf("fraud config: InsiderMinStamps = %d, want at least 1", c.InsiderMinStamps)
	case c.InsiderShare <= 0 || c.InsiderShare > 1:
		return fmt.Errorf("fraud config: InsiderShare = %v, want more than 0 and at most 1", c.InsiderShare)
	case c.InsiderWeekShare <= 0 || c.InsiderWeekShare > 1 || c.InsiderShopShare <= 0 || c.InsiderShopShare > 1:
		return fmt.Errorf("fraud config: InsiderWeekShare and InsiderShopShare must be more than 0 and at most 1")
	case c.InsiderWeekVisits < 1 || c.InsiderWeekVisits >= maxHistory || c.InsiderWeekDays < 1 || c.InsiderWeekDays > 7 || c.InsiderRewards < 1:
		return fmt.Errorf("fraud config: InsiderWeekVisits (1 to %d), InsiderWeekDays (1 to 7) and InsiderRewards (at least 1) out of range", maxHistory-1)
	case c.BusyDays < 2 || c.BusyDays > 7:
		return fmt.Errorf("fraud config: BusyDays = %d, want 2 to 7", c.BusyDays)
	case c.InsiderQuickClaims < 1 || c.InsiderQuickClaims > maxHistory:
		return fmt.Errorf("fraud config: InsiderQuickClaims = %d, want 1 to %d", c.InsiderQuickClaims, maxHistory)
	case c.TravelSpeed <= 0 || c.PeerFactor <= 0:
		return fmt.Errorf("fraud config: TravelSpeed and PeerFactor must be positive")
	case c.MaxTracked < numShards:
		return fmt.Errorf("fraud config: MaxTracked = %d, want at least %d", c.MaxTracked, numShards)
	case c.EvidenceLimit < 1 || c.EvidenceLimit > 100:
		return fmt.Errorf("fraud config: EvidenceLimit = %d, want 1 to 100", c.EvidenceLimit)
	}
	return nil
}
