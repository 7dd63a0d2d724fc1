package fraud

import (
	"fmt"
	"sync"
	"time"
)

// Operations of the register's day (holds and voids), beside those in
// event.go.
const (
	OpReserve Op = "reserve" // a use of a coupon held during checkout
	OpRelease Op = "release" // a hold ended without a use
	OpVoid    Op = "void"    // a redemption or stamp undone
)

// Voids are where cashier fraud hides: redeem a coupon for a friend, void
// it, redeem it again; or void sales and pocket the difference. Two rules,
// both raising insider against the API key that voided (the till is its
// key; the register label is evidence only):
//
//   - void share: within InsiderWindow, a key with at least voidMin voids
//     whose void rate (voids per redemption and stamp it made) is at least
//     voidFactor times the rate of the merchant's other keys (taken as at
//     least voidFloor).
//   - void and redeem: a voided redemption's code is redeemed again within
//     InsiderWindow.
const (
	voidMin    = 5
	voidFactor = 3.0
	voidFloor  = 0.02
	// voidMarks bounds the voided serials remembered per process.
	voidMarks = 1 << 16
)

var (
	ruleVoidShare  = fmt.Sprintf("one till voided at least %d sales, at least %.0f times as often per sale as the merchant's other tills", voidMin, voidFactor)
	ruleVoidRedeem = "a voided redemption's code was redeemed again"
)

// voidTallies is the memory of the void rules: hourly counts per key and
// per merchant, and the recently voided serials.
type voidTallies struct {
	mu     sync.Mutex
	keys   map[string]*hourly // merchant + key id -> sales and voids
	shops  map[string]*hourly // merchant -> sales and voids
	voided map[string]voidMark
}

// voidMark is a voided redemption.
type voidMark struct {
	at               int64
	apiKey, register string
}

// hourly counts sales and voids in the last 24 one-hour slots.
type hourly struct {
	hour         [24]int64
	sales, voids [24]int
}

func (h *hourly) add(now int64, void bool) {
	hr := now / int64(time.Hour)
	i := hr % 24
	if h.hour[i] != hr {
		h.hour[i], h.sales[i], h.voids[i] = hr, 0, 0
	}
	if void {
		h.voids[i]++
	} else {
		h.sales[i]++
	}
}

func (h *hourly) sum(now int64, window time.Duration) (sales, voids int) {
	hr := now / int64(time.Hour)
	span := min(max(int64(window/time.Hour), 1), 24)
	for i := range h.hour {
		if h.hour[i] > hr-span && h.hour[i] <= hr {
			sales += h.sales[i]
			voids += h.voids[i]
		}
	}
	return sales, voids
}

// watchVoids runs the void rules on one event.
func (m *Monitor) watchVoids(ev *Event, now int64, found *findings) {
	if ev.Result != ResultOK || ev.APIKey == "" {
		return
	}
	sale := ev.Op == OpRedeem || ev.Op == OpStamp || ev.Op == OpClaim
	if !sale && ev.Op != OpVoid {
		return
	}
	t := &m.voids
	window := m.cfg.InsiderWindow
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.keys == nil {
		t.keys, t.shops, t.voided = map[string]*hourly{}, map[string]*hourly{}, map[string]voidMark{}
	}
	kk := ev.Merchant + "\x00" + ev.APIKey
	key, shop := t.keys[kk], t.shops[ev.Merchant]
	if key == nil {
		key = &hourly{}
		t.keys[kk] = key
	}
	if shop == nil {
		shop = &hourly{}
		t.shops[ev.Merchant] = shop
	}
	key.add(now, !sale)
	shop.add(now, !sale)
	sk := ev.Merchant + "\x00" + ev.Serial
	if sale {
		if v, ok := t.voided[sk]; ok && ev.Op == OpRedeem && ev.Serial != "" {
			if now-v.at < int64(window) {
				found.add(finding{kind: KindInsider, severity: SeverityHigh, rule: ruleVoidRedeem,
					scope: scopeAPIKey, subject: v.apiKey, serial: ev.Serial, otherRegister: v.register, otherAt: v.at})
			}
			delete(t.voided, sk)
		}
		return
	}
	if ev.Kind == "coupon" && ev.Serial != "" {
		if len(t.voided) >= voidMarks {
			for k, v := range t.voided {
				if now-v.at >= int64(window) || len(t.voided) >= voidMarks {
					delete(t.voided, k)
				}
			}
		}
		t.voided[sk] = voidMark{at: now, apiKey: ev.APIKey, register: ev.Register}
	}
	ks, kv := key.sum(now, window)
	ss, sv := shop.sum(now, window)
	if kv < voidMin {
		return
	}
	mine := float64(kv) / float64(max(ks, 1))
	others := max(float64(sv-kv)/float64(max(ss-ks, 1)), voidFloor)
	if mine >= voidFactor*others {
		found.add(finding{kind: KindInsider, severity: SeverityMedium, rule: ruleVoidShare,
			scope: scopeAPIKey, subject: ev.APIKey, serial: ev.Serial})
	}
}
