package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stampseal/stampseal/internal/service"
	"github.com/stampseal/stampseal/internal/testserver"
	"github.com/stampseal/stampseal/issuer"
)

// The fuzz targets drive the real router (real bbolt file, real Tink keys,
// real fraud monitor) with arbitrary bodies on every POST route that decodes
// JSON, one target per endpoint family; the first fuzz argument picks the
// route. Properties: no 5xx (a recovered panic is a 500), and every 4xx is
// the error shape of API.md.
//
// Bodies may name live credentials of the rig by placeholder ($COUPON,
// $CARD, $PUNCH, $SERIAL), replaced before the request is sent, so that
// mutations reach the domain logic and not only the signature check: codes
// minted by a previous run would not verify against this run's keys.
//
// The seed corpora in testdata/fuzz/<Target>/ are written from fuzzSeeds by
// testdata/gen-seeds.sh.

// fuzzRoute is one POST route a target can hit.
type fuzzRoute struct {
	path string // may hold placeholders
	role string // which of the rig's keys sends it
}

var fuzzTargets = map[string][]fuzzRoute{
	"FuzzAdminRequests": {
		{"/v1/merchants", "root"},
		{"/v1/apikeys", "root"},
		{"/v1/apikeys", "admin"},
		{"/v1/merchants/fzrot/keys/rotate", "root"},
		{"/v1/apikeys/key_fuzz/revoke", "root"},
	},
	"FuzzIssueRequests": {
		{"/v1/programs", "issuer"},
		{"/v1/cards", "issuer"},
		{"/v1/punches", "issuer"},
		{"/v1/coupons", "issuer"},
		{"/v1/coupons/sheet.pdf", "issuer"},
	},
	"FuzzRegisterRequests": {
		{"/v1/verify", "register"},
		{"/v1/redeem", "register"},
		{"/v1/cards/stamp", "register"},
		{"/v1/cards/claim", "register"},
	},
	"FuzzDayRequests": {
		{"/v1/reservations", "register"},
		{"/v1/reservations/$HOLD/confirm", "register"},
		{"/v1/reservations/$HOLD/release", "register"},
		{"/v1/redemptions/$REDEMPTION/void", "register"},
		{"/v1/stamps/$STAMP/void", "admin"},
	},
	"FuzzReviewRequests": {
		{"/v1/alerts/$ALERT/resolve", "auditor"},
		{"/v1/credentials/$SERIAL/block", "auditor"},
		{"/v1/credentials/$BLOCKME/block", "admin"},
		{"/v1/credentials/$BLOCKME/unblock", "auditor"},
	},
}

// fuzzSeed is one seed input: the route index and the body.
type fuzzSeed struct {
	route uint8
	body  string
}

// fuzzSeeds are the seed corpora, valid requests and near misses.
var fuzzSeeds = map[string][]fuzzSeed{
	"FuzzAdminRequests": {
		{0, `{"id":"bakery-2","name":"Corner Bakery"}`},
		{0, `{"id":"","name":""}`},
		{0, `{"id":"fz","name":"again"}`},
		{0, `{"id":"a/b\u0000c","name":"x","extra":1}`},
		{1, `{"merchant":"fz","role":"register","name":"till 3"}`},
		{1, `{"merchant":"fz","role":"root","name":"till 3"}`},
		{1, `{"merchant":"*","role":"admin","name":"x"}`},
		{1, `{"merchant":"nobody","role":"auditor","name":""}`},
		{2, `{"merchant":"fz","role":"issuer","name":"pos"}`},
		{2, `{"merchant":"other","role":"admin","name":"pos"}`},
		{3, `{"compromised":false}`},
		{3, `{"compromised":true}`},
		{3, `{"compromised":"yes"}`},
		{3, `[]`},
		{0, `{"id":1e400}`},
		{1, `{"merchant":"fz","role":"register","name":"till"} {}`},
		{1, `{"merchant":"fz","role":"register","name":"till","expires_in":"720h"}`},
		{1, `{"merchant":"fz","role":"register","name":"till","expires_in":"-1ns"}`},
		{4, `{"reason":"till stolen"}`},
		{4, `{"reason":"\udfff"}`},
	},
	"FuzzIssueRequests": {
		{0, `{"merchant":"fz","id":"coffee","stamps_required":10,"reward":"free coffee","reward_valid_for":"720h","limits":{"per_request":5,"per_hour":10,"per_day":20}}`},
		{0, `{"merchant":"fz","id":"tea","stamps_required":0,"reward":"","reward_valid_for":"-1h","limits":{"per_request":-1,"per_hour":0,"per_day":0}}`},
		{0, `{"merchant":"fz","id":"x","stamps_required":9223372036854775807,"limits":null}`},
		{0, `{"merchant":"fz","id":"x","stamps_required":10,"reward_valid_for":"9999999999h"}`},
		{1, `{"merchant":"fz","program":"p"}`},
		{1, `{"merchant":"fz","program":"missing"}`},
		{1, `{"merchant":"other","program":"p"}`},
		{2, `{"merchant":"fz","program":"p","stamps":1,"valid_for":"72h"}`},
		{2, `{"merchant":"fz","program":"p","stamps":-5,"valid_for":"0s"}`},
		{2, `{"merchant":"fz","program":"p","stamps":101,"valid_for":"1ns"}`},
		{3, `{"merchant":"fz","offer":"2 croissants for 1","valid_for":"168h","max_uses":1,"count":1}`},
		{3, `{"merchant":"fz","offer":"x","valid_for":"1h","not_before":"2030-01-02T03:04:05Z","max_uses":3,"count":2}`},
		{3, `{"merchant":"fz","offer":"x","valid_for":"1h","not_before":"0001-01-01T00:00:00Z","max_uses":1,"count":1}`},
		{3, `{"merchant":"fz","offer":"x","valid_for":"1h","not_before":"9999-12-31T23:59:59Z","max_uses":1,"count":1}`},
		{3, `{"merchant":"fz","offer":"x","valid_for":"-1h","max_uses":-1,"count":-1}`},
		{4, `{"merchant":"fz","title":"Spring","serials":["$SERIAL"]}`},
		{4, `{"merchant":"fz","serials":["$SERIAL","$SERIAL","00000000000000000000000000000000"]}`},
		{4, `{"merchant":"fz","title":"","serials":[]}`},
	},
	"FuzzRegisterRequests": {
		{0, `{"code":"$COUPON"}`},
		{0, `{"code":"$CARD","register":"till-1"}`},
		{0, `{"short_code":"K7QF-3MZ9-W2XD"}`},
		{0, `{"code":"SS1:","short_code":"x"}`},
		{0, `{"code":"SS1:NCFOXN*TM$NF"}`},
		{1, `{"code":"$COUPON","register":"till-3","idempotency_key":"k1"}`},
		{1, `{"code":"$CARD","register":"till-3","idempotency_key":"k2"}`},
		{1, `{"code":"$COUPON","register":"till-3","idempotency_key":"k1"}`},
		{1, `{"short_code":"AAAA-AAAA-AAAA","register":"till-3"}`},
		{2, `{"card_code":"$CARD","stamps":1,"register":"till-3","idempotency_key":"s1"}`},
		{2, `{"card_code":"$CARD","stamps":1000,"register":"till-3"}`},
		{2, `{"card_code":"$COUPON","stamps":-1}`},
		{3, `{"card_code":"$CARD","punch_code":"$PUNCH","register":"till-3"}`},
		{3, `{"card_code":"$CARD","punch_code":"$COUPON"}`},
		{3, `{"card_code":"$PUNCH","punch_code":"$CARD"}`},
		{0, `{"code":"$COUPON\r\n"}`},
		{1, `{"code":"\t$COUPON \r\n","register":"till-3","idempotency_key":"k3"}`},
		{3, `{"card_code":"$CARD\n","punch_code":" $PUNCH\r"}`},
	},
	"FuzzDayRequests": {
		{0, `{"code":"$COUPON","register":"till-3","ttl":"5m","idempotency_key":"h1"}`},
		{0, `{"code":"$COUPON","ttl":"31m"}`},
		{0, `{"code":"$CARD","ttl":"-1s"}`},
		{0, `{"short_code":"K7QF-3MZ9-W2XD","ttl":"forever"}`},
		{1, `{"idempotency_key":"pay-1"}`},
		{1, `{}`},
		{1, `{"idempotency_key":"` + strings.Repeat("k", 200) + `"}`},
		{2, ``},
		{2, `{"idempotency_key":null}`},
		{3, `{"reason":"refund"}`},
		{3, `{"reason":"` + strings.Repeat("x", 300) + `"}`},
		{4, `{"reason":"wrong card","register":"till-3"}`},
		{4, `{"reason":7}`},
	},
	"FuzzReviewRequests": {
		{0, `{"note":"looked at the camera footage"}`},
		{0, `{"note":""}`},
		{0, `{"note":null}`},
		{1, `{"reason":"copied card"}`},
		{1, `{"reason":"` + strings.Repeat("x", 300) + `"}`},
		{2, `{"reason":"sold online"}`},
		{2, `{}`},
		{3, `{"reason":"the customer showed the original"}`},
		{3, `{"reason":""}`},
	},
}

const fuzzRootToken = adminToken

// fuzzRig is the service in-process with one merchant ("fz"), a key of
// every role and a few live credentials.
type fuzzRig struct {
	api     http.Handler
	tokens  map[string]string
	replace *strings.Replacer
}

func newFuzzRig(t testing.TB) *fuzzRig {
	t.Helper()
	// Unthrottled, and the issuance limit raised, on purpose: after a few
	// invalid codes or a few big batches every call would be answered 429
	// before the domain runs, and the fuzzer would stop reaching it.
	svc := testserver.Open(t, service.Options{Unthrottled: true, IssueLimit: issuer.Limit{PerSecond: 1e9, Burst: 1 << 30}})
	monitor := svc.Monitor
	a := svc.API
	rig := &fuzzRig{api: a, tokens: map[string]string{"root": fuzzRootToken}}

	setup := func(method, path, token string, body any, out any) {
		t.Helper()
		raw, _ := json.Marshal(body)
		w := httptest.NewRecorder()
		req := httptest.NewRequest(method, path, bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+token)
		a.ServeHTTP(w, req)
		if w.Code >= 300 {
			t.Fatalf("rig setup %s %s = %d %s", method, path, w.Code, w.Body.Bytes())
		}
		if out != nil {
			if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
				t.Fatalf("rig setup %s %s: %v", method, path, err)
			}
		}
	}
	for _, m := range []string{"fz", "fzrot"} {
		setup("POST", "/v1/merchants", fuzzRootToken, map[string]string{"id": m, "name": "Fuzz " + m}, nil)
	}
	for _, role := range []string{"admin", "issuer", "register", "auditor"} {
		var k struct{ Token string }
		setup("POST", "/v1/apikeys", fuzzRootToken, map[string]string{"merchant": "fz", "role": role, "name": role}, &k)
		rig.tokens[role] = k.Token
	}
	setup("POST", "/v1/programs", rig.tokens["issuer"], map[string]any{"merchant": "fz", "id": "p", "stamps_required": 10, "reward": "free coffee",
		"limits": map[string]int{"per_request": 0, "per_hour": 0, "per_day": 0}}, nil)
	var coupons struct{ Coupons []credential }
	setup("POST", "/v1/coupons", rig.tokens["issuer"], map[string]any{"merchant": "fz", "offer": "fuzz", "valid_for": "168h", "max_uses": 1000, "count": 2}, &coupons)
	var card, punch credential
	setup("POST", "/v1/cards", rig.tokens["issuer"], map[string]any{"merchant": "fz", "program": "p"}, &card)
	setup("POST", "/v1/punches", rig.tokens["issuer"], map[string]any{"merchant": "fz", "program": "p", "stamps": 1, "valid_for": "72h"}, &punch)
	// An alert to resolve: a forged code raises a counterfeit alert.
	setup("POST", "/v1/verify", rig.tokens["register"], map[string]any{"code": "SS1:NOT-A-CODE"}, nil)
	if err := monitor.Flush(); err != nil {
		t.Fatal(err)
	}
	// A hold, a redemption and a stamp to confirm, release and void.
	var hold struct {
		ReservationID string `json:"reservation_id"`
	}
	setup("POST", "/v1/reservations", rig.tokens["register"], map[string]any{"code": coupons.Coupons[0].Code, "ttl": "30m"}, &hold)
	var redeemed struct {
		RedemptionID string `json:"redemption_id"`
	}
	setup("POST", "/v1/redeem", rig.tokens["register"], map[string]any{"code": coupons.Coupons[0].Code}, &redeemed)
	var stamped struct {
		StampID string `json:"stamp_id"`
	}
	setup("POST", "/v1/cards/stamp", rig.tokens["register"], map[string]any{"card_code": card.Code, "stamps": 3}, &stamped)
	var alerts struct{ Alerts []struct{ ID string } }
	setup("GET", "/v1/alerts", rig.tokens["auditor"], nil, &alerts)
	alert := "no-alert"
	if len(alerts.Alerts) > 0 {
		alert = alerts.Alerts[0].ID
	}
	rig.replace = strings.NewReplacer("$COUPON", coupons.Coupons[0].Code, "$CARD", card.Code, "$PUNCH", punch.Code,
		"$SERIAL", coupons.Coupons[0].Serial, "$BLOCKME", coupons.Coupons[1].Serial, "$ALERT", alert,
		"$HOLD", hold.ReservationID, "$REDEMPTION", redeemed.RedemptionID, "$STAMP", stamped.StampID)
	return rig
}

type credential struct {
	Serial string `json:"serial"`
	Code   string `json:"code"`
	Kind   string `json:"kind"`
}

// errorCode is the shape of API.md's error codes.
var errorCode = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// check sends one fuzzed request and fails on a 5xx or a malformed error.
func (rig *fuzzRig) check(t *testing.T, rt fuzzRoute, body []byte) {
	path := rig.replace.Replace(rt.path)
	body = []byte(rig.replace.Replace(string(body)))
	w := httptest.NewRecorder()
	req := httptest.NewRequest("POST", path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+rig.tokens[rt.role])
	req.Header.Set("Content-Type", "application/json")
	rig.api.ServeHTTP(w, req)
	res := w.Result()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 500 {
		t.Fatalf("POST %s %q answered %d: %s", path, body, res.StatusCode, raw)
	}
	if res.StatusCode < 400 {
		return
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("POST %s %q answered %d with Content-Type %q, want application/json", path, body, res.StatusCode, ct)
	}
	var shape map[string]json.RawMessage
	if err := json.Unmarshal(raw, &shape); err != nil {
		t.Fatalf("POST %s %q answered %d with a body that is not a JSON object: %s", path, body, res.StatusCode, raw)
	}
	var e struct {
		Code    *string `json:"code"`
		Message *string `json:"message"`
	}
	if len(shape) != 1 || shape["error"] == nil || json.Unmarshal(shape["error"], &e) != nil {
		t.Fatalf("POST %s %q answered %d %s; want {\"error\":{\"code\",\"message\"}}", path, body, res.StatusCode, raw)
	}
	if e.Code == nil || !errorCode.MatchString(*e.Code) || e.Message == nil || *e.Message == "" {
		t.Fatalf("POST %s %q answered %d %s; want a snake_case error.code and a message", path, body, res.StatusCode, raw)
	}
}

func fuzzRoutes(f *testing.F, name string) {
	routes := fuzzTargets[name]
	rig := newFuzzRig(f)
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rig.check(t, routes[int(route)%len(routes)], body)
	})
}

// FuzzAdminRequests fuzzes the bodies of the admin routes.
func FuzzAdminRequests(f *testing.F) { fuzzRoutes(f, "FuzzAdminRequests") }

// FuzzIssueRequests fuzzes the bodies of the issuing routes.
func FuzzIssueRequests(f *testing.F) { fuzzRoutes(f, "FuzzIssueRequests") }

// FuzzRegisterRequests fuzzes the bodies of the register routes.
func FuzzRegisterRequests(f *testing.F) { fuzzRoutes(f, "FuzzRegisterRequests") }

// FuzzDayRequests fuzzes the bodies of holds, confirms, releases and voids.
func FuzzDayRequests(f *testing.F) { fuzzRoutes(f, "FuzzDayRequests") }

// FuzzReviewRequests fuzzes the bodies of the fraud review routes.
func FuzzReviewRequests(f *testing.F) { fuzzRoutes(f, "FuzzReviewRequests") }

// TestWriteFuzzSeeds writes fuzzSeeds as Go fuzz corpus files under
// testdata/fuzz/. It runs only from testdata/gen-seeds.sh.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("STAMPSEAL_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("writes the seed corpora; run testdata/gen-seeds.sh")
	}
	for target, seeds := range fuzzSeeds {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			content := fmt.Sprintf("go test fuzz v1\nuint8(%d)\n[]byte(%q)\n", s.route, s.body)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
