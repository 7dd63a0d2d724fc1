package fraud

import "time"

// KindOfflineDoubleSpend is a single-use code used twice, at least once at a
// till that was offline: the first use stands, the second is a loss.
const KindOfflineDoubleSpend = "offline_double_spend"

// The kind joins Kinds here rather than in its list, so that this file is
// the whole of the offline tills' part of the fraud module.
func init() { Kinds = append(Kinds, KindOfflineDoubleSpend) }

// Use is one use of a code: where and when.
type Use struct {
	Register string    // the register label the till sent
	APIKey   string    // id of the till's API key
	At       time.Time // the till's time
	Offline  bool      // decided by a till agent without the server
	Op       Op        // stamp, claim or redeem, where known
}

// DoubleSpend is a conflict found when an offline till synced: the code
// was already used (First) when the till's use (Second) arrived.
type DoubleSpend struct {
	Merchant string
	Serial   string
	Kind     string // coupon or punch
	KeyID    uint32
	Source   string // address the sync came from
	First    Use
	Second   Use
}

// RaiseDoubleSpend opens (or adds to) the serial's offline_double_spend
// alert. Its evidence lists both registers and both times, first use first,
// and the API key of the till whose use was lost.
func (m *Monitor) RaiseDoubleSpend(d DoubleSpend) {
	ev := Event{Time: d.Second.At, Op: OpRedeem, Result: KindOfflineDoubleSpend, Merchant: d.Merchant,
		CodeMerchant: d.Merchant, Kind: d.Kind, Serial: d.Serial, KeyID: d.KeyID,
		Register: d.Second.Register, APIKey: d.Second.APIKey, Source: d.Source}
	bound(&ev)
	f := finding{kind: KindOfflineDoubleSpend, severity: SeverityHigh, rule: "offline_double_spend",
		scope: scopeSerial, subject: d.Serial, serial: d.Serial,
		otherRegister: d.First.Register, otherAt: d.First.At.UnixNano()}
	m.raise(&ev, ev.Time.UnixNano(), &f)
}
