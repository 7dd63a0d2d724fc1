package fraud

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// step is one event, observed after the clock moved on by after.
type step struct {
	after time.Duration
	ev    Event
}

// repeat returns n steps of ev, each after the one before.
func repeat(n int, after time.Duration, ev func(i int) Event) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = step{after, ev(i)}
	}
	return out
}

// Tills are API keys: the key of till-1 is key-till-1.
func ok(op Op, register, serial string) Event {
	return Event{Op: op, Result: ResultOK, Merchant: "bakery", Register: register, APIKey: "key-" + register, Serial: serial, Kind: "card", Stamps: 1}
}

func refused(op Op, result Reason, register, serial string) Event {
	return Event{Op: op, Result: result, Merchant: "bakery", Register: register, APIKey: "key-" + register,
		Source: "10.0.0." + strings.TrimPrefix(register, "till-"), Serial: serial, KeyID: 3}
}

func issuePunch(register, punch string) Event {
	return Event{Op: OpIssue, Result: ResultOK, Merchant: "bakery", Register: register, APIKey: "pos-key", Serial: punch, Kind: "punch"}
}

func claim(register, punch, card string) Event {
	return Event{Op: OpClaim, Result: ResultOK, Merchant: "bakery", Register: register, APIKey: "till-key", Serial: punch, Card: card, Kind: "punch", Stamps: 1}
}

func TestDetectors(t *testing.T) {
	card, coupon := serial(1), serial(2)
	for name, tc := range map[string]struct {
		steps        []step
		wantKinds    []string
		wantSeverity string // of the first alert, when set
	}{
		// counterfeit
		"a forged signature at a till raises counterfeit": {
			steps: []step{{0, refused(OpVerify, "invalid_signature", "till-1", card)}}, wantKinds: []string{KindCounterfeit}, wantSeverity: SeverityHigh},
		"a code under an unknown key raises counterfeit": {
			steps: []step{{0, refused(OpRedeem, "unknown_key", "till-1", card)}}, wantKinds: []string{KindCounterfeit}},
		"another merchant's card raises a low counterfeit": {
			steps: []step{{0, refused(OpVerify, "wrong_merchant", "till-1", card)}}, wantKinds: []string{KindCounterfeit}, wantSeverity: SeverityLow},
		"one malformed scan at a till raises nothing": {
			steps: []step{{0, refused(OpVerify, "malformed", "till-1", "")}}},
		"a cashier's single typo of a short code raises nothing": {
			steps: []step{{0, refused(OpRedeem, "bad_short_code", "till-1", "")}, {time.Second, refused(OpRedeem, "unknown_short_code", "till-1", "")}}},
		"an expired coupon raises nothing": {
			steps: []step{{0, refused(OpRedeem, "expired", "till-1", coupon)}}},

		// replay
		"a used coupon presented again at another till raises replay": {
			steps:     []step{{0, ok(OpRedeem, "till-1", coupon)}, {time.Hour, refused(OpRedeem, "already_redeemed", "till-2", coupon)}},
			wantKinds: []string{KindReplay}, wantSeverity: SeverityMedium},
		"a used coupon an offline till spent again, synced later, raises no replay (the sync raises offline_double_spend)": {
			steps: []step{{0, ok(OpRedeem, "till-1", coupon)}, {time.Hour, func() Event {
				e := refused(OpRedeem, "already_redeemed", "till-2", coupon)
				e.Offline = true
				return e
			}()}}},
		"a double scan at the same till within seconds raises nothing": {
			steps: []step{{0, ok(OpRedeem, "till-1", coupon)}, {2 * time.Second, refused(OpRedeem, "already_redeemed", "till-1", coupon)}}},
		"an idempotent retry of a redeem raises nothing": {
			steps: []step{
				{0, ok(OpRedeem, "till-1", coupon)},
				{time.Minute, func() Event { e := ok(OpRedeem, "till-1", coupon); e.Retry = true; return e }()},
				{time.Minute, func() Event { e := refused(OpRedeem, "already_redeemed", "till-2", coupon); e.Retry = true; return e }()},
			}},

		// duplicate_card
		"one card at two tills within a minute raises duplicate_card": {
			steps:     []step{{0, ok(OpStamp, "till-1", card)}, {time.Minute, ok(OpVerify, "till-2", card)}},
			wantKinds: []string{KindDuplicateCard}, wantSeverity: SeverityHigh},
		"an honest customer at two tills an hour apart raises nothing": {
			steps: []step{{0, ok(OpStamp, "till-1", card)}, {time.Hour, ok(OpStamp, "till-2", card)}}},
		"a card verified then stamped at the same till raises nothing": {
			steps: []step{{0, ok(OpVerify, "till-1", card)}, {5 * time.Second, ok(OpStamp, "till-1", card)}}},

		// velocity
		"a stamp over the program limit raises velocity": {
			steps: []step{{0, refused(OpStamp, "limit_exceeded", "till-1", card)}}, wantKinds: []string{KindVelocity}},
		"an issuer key over its issuance rate limit raises insider": {
			steps: []step{{0, func() Event { e := issuePunch("pos", ""); e.Result = "limit_exceeded"; return e }()}}, wantKinds: []string{KindInsider}},
		"an issuer key issuing within its limit raises nothing": {
			steps: repeat(50, time.Second, func(i int) Event { return issuePunch("pos", serial(i)) })},
		"six stamps on one card within ten minutes raise velocity": {
			steps: repeat(6, time.Minute, func(int) Event { return ok(OpStamp, "till-1", card) }), wantKinds: []string{KindVelocity}},
		"five stamps on one card within ten minutes raise nothing": {
			steps: repeat(5, time.Minute, func(int) Event { return ok(OpStamp, "till-1", card) })},
		"a stamp a day for a fortnight raises nothing": {
			steps: repeat(14, 24*time.Hour, func(int) Event { return ok(OpStamp, "till-1", card) })},

		// unissued_serial and compromised_key
		"a valid code with an unissued serial raises a critical alert": {
			steps: []step{{0, refused(OpVerify, "unissued_serial", "till-1", card)}}, wantKinds: []string{KindUnissuedSerial}, wantSeverity: SeverityCritical},
		"a code under a compromised key raises compromised_key": {
			steps: []step{{0, refused(OpRedeem, "compromised_key", "till-1", coupon)}}, wantKinds: []string{KindCompromisedKey}, wantSeverity: SeverityHigh},

		// guessing
		"twenty short-code guesses within a minute from one till raise guessing": {
			steps: repeat(20, time.Second, func(int) Event { return refused(OpRedeem, "unknown_short_code", "till-1", "") }), wantKinds: []string{KindGuessing}},
		"fourteen short-code guesses within a minute raise nothing": {
			steps: repeat(14, time.Second, func(int) Event { return refused(OpRedeem, "unknown_short_code", "till-1", "") })},
		"nineteen mistyped short codes within a minute raise nothing": {
			steps: repeat(19, time.Second, func(int) Event { return refused(OpRedeem, "bad_short_code", "till-1", "") })},
		"fifteen short-code guesses in a day, far above the other tills, raise guessing": {
			steps: slices.Concat(
				repeat(200, time.Minute, func(i int) Event { return ok(OpStamp, "till-2", serial(100+i)) }),
				repeat(15, time.Minute, func(int) Event { return refused(OpRedeem, "unknown_short_code", "till-1", "") })),
			wantKinds: []string{KindGuessing}},
		"guessing ten codes a minute for an hour raises guessing": {
			steps: repeat(60, 6*time.Second, func(int) Event { return refused(OpRedeem, "invalid_signature", "till-1", "") }), wantKinds: []string{KindCounterfeit, KindGuessing}},
		"a made-up code of stampseal's shape raises counterfeit": {
			steps:     []step{{0, func() Event { e := refused(OpVerify, "malformed", "till-1", ""); e.Shaped = true; return e }()}},
			wantKinds: []string{KindCounterfeit}, wantSeverity: SeverityMedium},
		"a product barcode scanned by mistake raises nothing": {
			steps: repeat(5, time.Minute, func(int) Event { return refused(OpVerify, "malformed", "till-1", "") })},
		"another merchant's codes in volume raise guessing": {
			steps: repeat(30, 10*time.Second, func(int) Event { return refused(OpVerify, "wrong_merchant", "till-1", card) }), wantKinds: []string{KindCounterfeit, KindGuessing}},
		"twenty bad scans over twenty minutes raise nothing": {
			steps: repeat(20, time.Minute, func(int) Event { return refused(OpVerify, "malformed", "till-1", "") })},
		"twenty guesses from one key naming itself like twenty tills raise guessing": {
			steps: repeat(20, time.Second, func(i int) Event {
				e := refused(OpVerify, "unknown_short_code", "till-x", "")
				e.Register, e.Source = serial(i), "203.0.113.9"
				return e
			}), wantKinds: []string{KindGuessing}},
		"a hundred guesses from many keys sharing one address raise nothing": {
			steps: repeat(100, 500*time.Millisecond, func(i int) Event {
				e := refused(OpVerify, "unknown_short_code", "till-x", "")
				e.APIKey, e.Source = fmt.Sprintf("key-%d", i%10), "203.0.113.9"
				return e
			})},

		// insider
		"one till giving a card ten stamps in a day raises insider": {
			steps: repeat(10, 30*time.Minute, func(int) Event { return ok(OpStamp, "till-1", card) }), wantKinds: []string{KindClonedCard, KindInsider}},
		"a card's ten stamps over two days spread over three tills raise nothing": {
			steps: repeat(10, 5*time.Hour, func(i int) Event { return ok(OpStamp, []string{"till-1", "till-2", "till-3"}[i%3], card) })},
		"a regular's daily stamp at the same till raises nothing": {
			steps: repeat(12, 24*time.Hour, func(int) Event { return ok(OpStamp, "till-1", card) })},
		"three punches claimed onto one card right after their issue at the same till raise insider": {
			steps: slices.Concat(
				[]step{{0, issuePunch("till-1", serial(11))}, {5 * time.Second, claim("till-1", serial(11), card)}},
				[]step{{15 * time.Minute, issuePunch("till-1", serial(12))}, {5 * time.Second, claim("till-1", serial(12), card)}},
				[]step{{15 * time.Minute, issuePunch("till-1", serial(13))}, {5 * time.Second, claim("till-1", serial(13), card)}},
			),
			wantKinds: []string{KindInsider}},
		"a customer claiming a punch right after buying raises nothing": {
			steps: []step{{0, issuePunch("till-1", serial(11))}, {5 * time.Second, claim("till-1", serial(11), card)}}},
		"punches claimed later at another till raise nothing": {
			steps: slices.Concat(
				[]step{{0, issuePunch("till-1", serial(11))}, {time.Hour, claim("till-2", serial(11), card)}},
				[]step{{0, issuePunch("till-1", serial(12))}, {time.Hour, claim("till-2", serial(12), card)}},
				[]step{{0, issuePunch("till-1", serial(13))}, {time.Hour, claim("till-2", serial(13), card)}},
			)},
	} {
		t.Run(name, func(t *testing.T) {
			m, clk, _ := newMonitor(t)
			playAndCheck(t, m, clk, tc.steps, tc.wantKinds, tc.wantSeverity)
		})
	}
}

func TestEvidence(t *testing.T) {
	m, clk, _ := newMonitor(t)
	card := serial(1)
	first := ok(OpStamp, "till-1", card)
	first.Source, first.CodeHash = "10.0.0.1", "abcdef0123456789ffff"
	m.Observe(first)
	clk.Advance(30 * time.Second)
	second := ok(OpVerify, "till-2", card)
	second.Source = "10.0.0.2"
	m.Observe(second)

	as := openAlerts(t, m, "bakery")
	if len(as) != 1 {
		t.Fatalf("alerts = %+v, want one duplicate_card", as)
	}
	a := as[0]
	e := a.Evidence
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"serial", a.Serial, card},
		{"merchant", a.Merchant, "bakery"},
		{"count", a.Count, 1},
		{"status", a.Status, StatusOpen},
		{"registers", e.Registers, []string{"till-1", "till-2"}},
		{"sources", e.Sources, []string{"10.0.0.2"}},
		{"times", len(e.Times), 2},
		{"created_at", a.CreatedAt, clk.Now()},
		{"results", e.Results, map[string]int{"ok": 1}},
	} {
		if got, want := fmt.Sprint(c.got), fmt.Sprint(c.want); got != want {
			t.Errorf("%s = %s, want %s", c.what, got, want)
		}
	}

	// A code hash longer than a prefix is cut before it is kept.
	m.Observe(Event{Op: OpVerify, Result: "invalid_signature", Merchant: "bakery", Register: "till-3", CodeHash: strings.Repeat("a", 64)})
	as, _ = m.Alerts("bakery", Filter{Kind: KindCounterfeit})
	if len(as) != 1 || len(as[0].Evidence.CodeHashes) != 1 || len(as[0].Evidence.CodeHashes[0]) > 16 {
		t.Errorf("counterfeit evidence code hashes = %+v, want one prefix of at most 16 hex digits", as)
	}
}

// playAndCheck feeds steps to m, advancing clk before each, then checks the
// bakery's open alert kinds and, when wantSeverity is set, the first one's
// severity.
func playAndCheck(t *testing.T, m *Monitor, clk *clock, steps []step, wantKinds []string, wantSeverity string) {
	t.Helper()
	for _, s := range steps {
		clk.Advance(s.after)
		m.Observe(s.ev)
	}
	as := openAlerts(t, m, "bakery")
	var kinds []string
	for _, a := range as {
		kinds = append(kinds, a.Kind)
	}
	slices.Sort(kinds)
	if !slices.Equal(kinds, wantKinds) {
		t.Fatalf("alert kinds = %v, want %v", kinds, wantKinds)
	}
	if wantSeverity != "" && as[0].Severity != wantSeverity {
		t.Errorf("severity = %s, want %s", as[0].Severity, wantSeverity)
	}
}
