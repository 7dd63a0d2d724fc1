package loadgen_test

import (
	"bytes"
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/stampseal/stampseal/client"
	"github.com/stampseal/stampseal/internal/loadgen"
	"github.com/stampseal/stampseal/internal/testserver"
)

// TestHonestCardsRaiseNoAlertsRoamingCardsDo: by default the bench shows
// each card at its home register, as honest traffic is, so that a verify
// run measures verifying and not the fraud module writing alerts; with
// Roaming, cards go to any register and the fraud module sees copies.
func TestHonestCardsRaiseNoAlertsRoamingCardsDo(t *testing.T) {
	srv := testserver.Start(t)
	admin, err := client.New(srv.URL, client.WithToken(testserver.AdminToken))
	if err != nil {
		t.Fatal(err)
	}
	merchantLine := regexp.MustCompile(`merchant (\S+),`)
	for _, roaming := range []bool{false, true} {
		var out, errOut bytes.Buffer
		c := loadgen.Config{Addr: srv.URL, Token: testserver.AdminToken, Duration: time.Second, Clients: 4, Rate: 200,
			Mix: map[string]int{"verify": 1}, Cards: 50, Registers: 4, Progress: time.Hour, Roaming: roaming}
		if err := loadgen.Run(c, &out, &errOut); err != nil {
			t.Fatalf("roaming %v: %v\n%s", roaming, err, errOut.String())
		}
		m := merchantLine.FindStringSubmatch(errOut.String())
		if m == nil {
			t.Fatalf("no merchant named on stderr:\n%s", errOut.String())
		}
		alerts, err := admin.Alerts(context.Background(), client.AlertFilter{Merchant: m[1]})
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for _, a := range alerts {
			kinds[a.Kind]++
		}
		switch {
		case !roaming && len(alerts) > 0:
			t.Errorf("cards at their home registers raised alerts: %v", kinds)
		case roaming && kinds["duplicate_card"] == 0:
			t.Errorf("cards at any register raised no duplicate_card alert: %v", kinds)
		}
	}
}
