package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestBenchSelfPrintsATable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and loads it for a second")
	}
	for _, mode := range [][]string{{}, {"--rate", "200"}} {
		var out, errOut bytes.Buffer
		args := append([]string{"bench", "--self", "--duration", "1s", "--clients", "4", "--coupons", "5000", "--cards", "20", "--progress", "500ms"}, mode...)
		if err := run(args, &out, &errOut); err != nil {
			t.Fatalf("stampseal %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
		for _, want := range []string{"op", "verify", "redeem", "stamp", "issue", "all", "p99", "p999"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("stampseal %s printed no %q:\n%s", strings.Join(args, " "), want, out.String())
			}
		}
		if strings.Contains(out.String(), "first error") {
			t.Errorf("stampseal %s saw errors:\n%s", strings.Join(args, " "), out.String())
		}
		if len(mode) > 0 && !strings.Contains(out.String(), "sent late by the generator") {
			t.Errorf("stampseal %s did not report the generator's own lateness:\n%s", strings.Join(args, " "), out.String())
		}
		if !strings.Contains(errOut.String(), "requests") {
			t.Errorf("stampseal %s showed no progress on stderr:\n%s", strings.Join(args, " "), errOut.String())
		}
	}
}
