package sim

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/stampseal/stampseal/fraud"
)

// KindResult is how the detectors did on one attack kind.
type KindResult struct {
	Kind         string
	Attacks      int
	Caught       int
	Recall       float64
	OnTime       int           // caught within the target of its first request: a minute, or a day for slow attacks
	MedianDetect time.Duration // from the attack's first request to its alert (the strict figure)
	WorstDetect  time.Duration
	// From the first request from which a careful human could have told
	// (truth.go), the figure the target counts from; an alert
	// before that counts as 0. Told attacks are those a human could tell
	// within the month; an untold one is judged by its strict figure.
	Told          int
	OnTimeTold    int
	MedianTold    time.Duration
	WorstTold     time.Duration
	Target        time.Duration
	MissedSubject []string // what the missed attacks were about, for debugging
}

// Report is a simulated month's figures.
type Report struct {
	Config          Config
	Kinds           []KindResult
	Attacks, Caught int
	Recall          float64
	HonestRequests  int
	FalseAlerts     int
	FalsePer10k     float64
	HonestRefused   int
	RefusedPer10k   float64
	Refusals        map[string]int // honest refusals by status and code
	Alerts          int            // opened for review in the month, all merchants
	AlertsByKind    map[string]int
	FalseByKind     map[string]int
	FalseByRule     map[string]int
	FalseSamples    []fraud.Alert // the first few false alerts, for a human to read
	Noted           int           // old coupons shown once: recorded, not opened
	Elapsed         time.Duration
}

func (w *world) report(start time.Time, elapsed time.Duration) (*Report, error) {
	rep := &Report{Config: w.cfg, HonestRequests: w.honest, HonestRefused: w.honestRefused, Refusals: w.refusals,
		AlertsByKind: map[string]int{}, FalseByKind: map[string]int{}, FalseByRule: map[string]int{}, Elapsed: elapsed}
	for _, k := range attackKinds {
		kr := KindResult{Kind: k, Target: time.Minute}
		var times, fromTell []time.Duration
		for _, a := range w.attacks {
			if a.kind != k {
				continue
			}
			if a.slow {
				kr.Target = 24 * time.Hour
			}
			kr.Attacks++
			if a.detected.IsZero() {
				kr.MissedSubject = append(kr.MissedSubject, a.serial+a.keyID)
				continue
			}
			kr.Caught++
			d := a.detected.Sub(a.start)
			times = append(times, d)
			if d <= kr.Target {
				kr.OnTime++
			}
			if tell := w.tell(a); !tell.IsZero() {
				kr.Told++
				d = max(0, a.detected.Sub(tell))
			}
			fromTell = append(fromTell, d)
			if d <= kr.Target {
				kr.OnTimeTold++
			}
		}
		if kr.Attacks > 0 {
			kr.Recall = float64(kr.Caught) / float64(kr.Attacks)
		}
		if len(times) > 0 {
			slices.Sort(times)
			slices.Sort(fromTell)
			kr.MedianDetect, kr.WorstDetect = times[len(times)/2], times[len(times)-1]
			kr.MedianTold, kr.WorstTold = fromTell[len(fromTell)/2], fromTell[len(fromTell)-1]
		}
		rep.Attacks += kr.Attacks
		rep.Caught += kr.Caught
		rep.Kinds = append(rep.Kinds, kr)
	}
	if rep.Attacks > 0 {
		rep.Recall = float64(rep.Caught) / float64(rep.Attacks)
	}
	for _, m := range []string{merchant, "kiosk"} {
		alerts, err := w.svc.monitor.Alerts(m, fraud.Filter{Limit: fraud.MaxLimit})
		if err != nil {
			return nil, err
		}
		for i := range alerts {
			al := &alerts[i]
			rep.Alerts++
			rep.AlertsByKind[al.Kind]++
			explained := false
			for _, a := range w.attacks {
				if a.about(al) {
					explained = true
					break
				}
			}
			if !explained {
				rep.FalseAlerts++
				rep.FalseByKind[al.Kind]++
				if len(rep.FalseSamples) < 5 {
					rep.FalseSamples = append(rep.FalseSamples, *al)
				}
				for _, r := range al.Evidence.Rules {
					rep.FalseByRule[r]++
				}
			}
		}
		noted, err := w.svc.monitor.Alerts(m, fraud.Filter{Status: fraud.StatusNoted, Limit: fraud.MaxLimit})
		if err != nil {
			return nil, err
		}
		rep.Noted += len(noted)
	}
	if rep.HonestRequests > 0 {
		rep.FalsePer10k = float64(rep.FalseAlerts) * 10000 / float64(rep.HonestRequests)
		rep.RefusedPer10k = float64(rep.HonestRefused) * 10000 / float64(rep.HonestRequests)
	}
	return rep, nil
}

// Write prints the report as Markdown tables.
func (r *Report) Write(out io.Writer) {
	c := r.Config
	fmt.Fprintf(out, "Simulated %d days, %d cards, %d attacks of each kind, seed %d (%s of wall time).\n\n", c.Days, c.Customers, c.Attacks, c.Seed, r.Elapsed.Round(time.Second))
	fmt.Fprintf(out, "Time to detect, strict: from the attack's first request; told: from the first request from which a careful human could have told (fraud/sim/truth.go), the issue's target.\n\n")
	fmt.Fprintf(out, "| attack | attacks | caught | recall | target | strict: on time | median | worst | told | told: on time | median | worst |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, k := range r.Kinds {
		fmt.Fprintf(out, "| %s | %d | %d | %.0f%% | %s | %d | %s | %s | %d | %d | %s | %s |\n", k.Kind, k.Attacks, k.Caught, k.Recall*100, short(k.Target),
			k.OnTime, short(k.MedianDetect), short(k.WorstDetect), k.Told, k.OnTimeTold, short(k.MedianTold), short(k.WorstTold))
	}
	fmt.Fprintf(out, "| **all** | %d | %d | **%.1f%%** | | | | | | | | |\n\n", r.Attacks, r.Caught, r.Recall*100)
	fmt.Fprintf(out, "| honest traffic | value |\n|---|---:|\n")
	fmt.Fprintf(out, "| honest requests | %d |\n", r.HonestRequests)
	fmt.Fprintf(out, "| false alerts | %d (%.2f per 10,000) |\n", r.FalseAlerts, r.FalsePer10k)
	fmt.Fprintf(out, "| honest requests refused | %d (%.2f per 10,000) |\n", r.HonestRefused, r.RefusedPer10k)
	fmt.Fprintf(out, "| alerts opened for review (month) | %d |\n", r.Alerts)
	fmt.Fprintf(out, "| old coupons shown once, noted at low severity | %d |\n\n", r.Noted)
	fmt.Fprintf(out, "Alerts by kind: %s. False alerts by kind: %s. Honest refusals: %s.\n", kv(r.AlertsByKind), kv(r.FalseByKind), kv(r.Refusals))
	if len(r.FalseByRule) > 0 {
		fmt.Fprintf(out, "\nRules behind the false alerts: %s.\n", kv(r.FalseByRule))
	}
	for _, a := range r.FalseSamples {
		fmt.Fprintf(out, "\n- false %s on %s: shops %v, registers %v, times %v", a.Kind, a.Serial, a.Evidence.Shops, a.Evidence.Registers, a.Evidence.Times)
	}
}

func short(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	default:
		return d.Round(time.Minute).String()
	}
}

func kv(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", k, m[k])
	}
	return b.String()
}
