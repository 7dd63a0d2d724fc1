package openapicheck

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// answer records what a handler would have answered.
func answer(status int, contentType, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Type", contentType)
	rec.WriteHeader(status)
	rec.WriteString(body)
	return rec
}

func TestCheckFindsAnswersTheDescriptionDoesNotAllow(t *testing.T) {
	s := MustLoad(t)
	req := httptest.NewRequest("POST", "/v1/redeem", strings.NewReader(`{"code":"SS1:x"}`))
	req.Header.Set("Content-Type", "application/json")
	for _, tc := range []struct {
		name string
		rec  *httptest.ResponseRecorder
		want string // in the error; empty: no error
	}{
		{"the contract's answer passes", answer(200, "application/json", `{"redeemed":true,"serial":"s","uses_left":0,"redeemed_at":"2026-05-01T09:30:00Z"}`), ""},
		{"the contract's error passes", answer(409, "application/json", `{"error":{"code":"already_redeemed","message":"m","redeemed_at":"2026-05-01T09:30:00Z","register":"till-3"}}`), ""},
		{"a missing field fails", answer(200, "application/json", `{"redeemed":true,"serial":"s","uses_left":0}`), "redeemed_at"},
		{"a field of the wrong type fails", answer(200, "application/json", `{"redeemed":"yes","serial":"s","uses_left":0,"redeemed_at":"2026-05-01T09:30:00Z"}`), "/redeemed"},
		{"an error without the contract's shape fails", answer(500, "application/json", `{"message":"boom"}`), "error"},
		{"an undescribed status on success fails", answer(201, "application/json", `{}`), "paths.\"/v1/redeem\".post.responses"},
		{"another content type fails", answer(200, "text/html", `<p>hi</p>`), "text/html"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.check(req, []byte(`{"code":"SS1:x"}`), tc.rec)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("check = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("check = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestCheckNamesAnUndescribedRoute(t *testing.T) {
	s := MustLoad(t)
	req := httptest.NewRequest("GET", "/v1/gift-cards/abc", nil)
	err := s.check(req, nil, answer(200, "application/json", `{}`))
	if err == nil || !strings.Contains(err.Error(), "GET /v1/gift-cards/abc") || !strings.Contains(err.Error(), "api/openapi.yaml") {
		t.Fatalf("check of an undescribed route = %v, want it named with where to describe it", err)
	}
	if err := s.check(req, nil, answer(404, "application/json", `{"error":{"code":"not_found","message":"m"}}`)); err != nil {
		t.Fatalf("a 404 on an unknown path = %v, want nil", err)
	}
}

func TestUndescribedAndUnserved(t *testing.T) {
	s := MustLoad(t)
	// Mark a served route planned for this test, as stats was before it
	// was served: the description may have no planned route left.
	op := s.Doc.Paths.Value("/v1/merchants/{id}/stats").Get
	if op.Extensions == nil {
		op.Extensions = map[string]any{}
	}
	op.Extensions[Planned] = true
	t.Cleanup(func() { delete(op.Extensions, Planned) })
	served := []Route{{"POST", "/v1/redeem"}, {"GET", "/v1/gift-cards/{id}"}, {"GET", "/v1/merchants/{id}/stats"}}
	got := strings.Join(s.Undescribed(served), "\n")
	for _, want := range []string{
		`GET /v1/gift-cards/{id} is served but not described: add paths."/v1/gift-cards/{id}".get to api/openapi.yaml`,
		`GET /v1/merchants/{id}/stats is served now: remove ` + "`x-stampseal-planned: true`",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Undescribed = %s\nwant a line with %s", got, want)
		}
	}
	if strings.Contains(got, "/v1/redeem") {
		t.Errorf("Undescribed names the described /v1/redeem: %s", got)
	}
	unserved := strings.Join(s.Unserved(served), "\n")
	if !strings.Contains(unserved, "POST /v1/verify is described in api/openapi.yaml but not served") || strings.Contains(unserved, "/v1/merchants/{id}/stats") {
		t.Errorf("Unserved = %s; want POST /v1/verify and no planned route", unserved)
	}
}

func TestHandlerPassesTheAnswerThrough(t *testing.T) {
	s := MustLoad(t)
	h := s.Handler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Test", "1")
		w.WriteHeader(200)
		w.Write([]byte(`{"status":"ok"}`))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 || rec.Header().Get("X-Test") != "1" || rec.Body.String() != `{"status":"ok"}` {
		t.Fatalf("through the check: %d %v %q", rec.Code, rec.Header(), rec.Body)
	}
}
