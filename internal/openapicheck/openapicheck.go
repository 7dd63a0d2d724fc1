// Package openapicheck holds the server to its OpenAPI description
// (api/openapi.yaml) in tests: Handler validates every answer a test
// provokes, and Undescribed lists served routes the description lacks.
// It uses kin-openapi, a maintained OpenAPI 3.1 validator.
package openapicheck

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gorilla/mux"

	"github.com/stampseal/stampseal/api"
)

// Planned marks an operation of the contract that is not served yet.
const Planned = "x-stampseal-planned"

// Spec is the loaded description and a router over it.
type Spec struct {
	Doc    *openapi3.T
	router routers.Router
}

var (
	loadOnce sync.Once
	loaded   *Spec
	loadErr  error
)

// Load parses and validates api/openapi.yaml as the server embeds it.
func Load() (*Spec, error) {
	loadOnce.Do(func() {
		l := openapi3.NewLoader()
		doc, err := l.LoadFromData(api.OpenAPI())
		if err != nil {
			loadErr = fmt.Errorf("api/openapi.yaml does not parse: %w", err)
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			loadErr = fmt.Errorf("api/openapi.yaml is not a valid OpenAPI document: %w", err)
			return
		}
		// Match any host: tests serve on random loopback ports.
		doc.Servers = nil
		r, err := gorillamux.NewRouter(doc)
		if err != nil {
			loadErr = fmt.Errorf("api/openapi.yaml: %w", err)
			return
		}
		loaded = &Spec{Doc: doc, router: r}
	})
	return loaded, loadErr
}

// MustLoad is Load for tests.
func MustLoad(t testing.TB) *Spec {
	t.Helper()
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Route is a method and a path template, as "POST /v1/redeem".
type Route struct{ Method, Path string }

func (r Route) String() string { return r.Method + " " + r.Path }

// Served lists the API routes router serves: /v1/..., /healthz, /metrics.
// Pages of the review UI are not part of the contract.
func Served(router *mux.Router) ([]Route, error) {
	var out []Route
	err := router.Walk(func(rt *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		path, err := rt.GetPathTemplate()
		if err != nil {
			return nil // a prefix or matcher route, not an endpoint
		}
		if !strings.HasPrefix(path, "/v1/") && path != "/healthz" && path != "/metrics" {
			return nil
		}
		methods, err := rt.GetMethods()
		if err != nil {
			methods = []string{"GET"}
		}
		for _, m := range methods {
			out = append(out, Route{Method: m, Path: path})
		}
		return nil
	})
	return out, err
}

// Undescribed lists the routes of served that the description lacks, or
// describes only as planned, each with what to add.
func (s *Spec) Undescribed(served []Route) []string {
	var out []string
	for _, r := range served {
		op := s.operation(r)
		switch {
		case op == nil:
			out = append(out, fmt.Sprintf("%s is served but not described: add paths.%q.%s to api/openapi.yaml, "+
				"with its request body, parameters and every answer (201/200 body, and `default: {$ref: \"#/components/responses/Error\"}`)",
				r, r.Path, strings.ToLower(r.Method)))
		case op.Extensions[Planned] == true:
			out = append(out, fmt.Sprintf("%s is served now: remove `%s: true` from paths.%q.%s in api/openapi.yaml and check its answer schema",
				r, Planned, r.Path, strings.ToLower(r.Method)))
		}
	}
	return out
}

// Unserved lists the operations described as served (not planned) that
// served lacks: a typo in a path, or a route removed.
func (s *Spec) Unserved(served []Route) []string {
	var out []string
	for path, item := range s.Doc.Paths.Map() {
		for method, op := range item.Operations() {
			r := Route{Method: method, Path: path}
			if op.Extensions[Planned] == true || slices.Contains(served, r) {
				continue
			}
			out = append(out, fmt.Sprintf("%s is described in api/openapi.yaml but not served: fix the path or mark it `%s: true`", r, Planned))
		}
	}
	slices.Sort(out)
	return out
}

func (s *Spec) operation(r Route) *openapi3.Operation {
	item := s.Doc.Paths.Value(r.Path)
	if item == nil {
		return nil
	}
	return item.GetOperation(r.Method)
}

// Handler wraps h so that every answer to a described route is validated
// against the description (its status, headers and body) and every
// request the server accepted (2xx) against the request's description;
// a mismatch fails t with the route and what to fix. An answer other than
// 404 or 405 on an undescribed /v1/ path fails t too.
func (s *Spec) Handler(t testing.TB, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The body is copied as the handler reads it, not read ahead: a
		// slow body must hold the server as it would without the check.
		var reqBody bytes.Buffer
		if r.Body != nil {
			r.Body = readCloser{io.TeeReader(r.Body, &reqBody), r.Body}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		if err := s.check(r, reqBody.Bytes(), rec); err != nil {
			t.Errorf("%v", err)
		}
	})
}

func (s *Spec) check(r *http.Request, reqBody []byte, rec *httptest.ResponseRecorder) error {
	// A copy of the request as it arrived, for the validator to read.
	req := r.Clone(context.Background())
	req.Body = io.NopCloser(bytes.NewReader(reqBody))
	if len(reqBody) > 0 && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json") // the server reads every body as JSON
	}
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		if strings.HasPrefix(r.URL.Path, "/v1/") && rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
			return fmt.Errorf("openapi: %s %s answered %d but api/openapi.yaml describes no such route (%v): describe it there",
				r.Method, r.URL.Path, rec.Code, err)
		}
		return nil
	}
	where := fmt.Sprintf("paths.%q.%s", route.Path, strings.ToLower(r.Method))
	if route.Operation.Extensions[Planned] == true && rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
		return fmt.Errorf("openapi: %s %s is served now (it answered %d): remove `%s: true` from %s in api/openapi.yaml",
			r.Method, route.Path, rec.Code, Planned, where)
	}
	if route.Operation.Extensions[Planned] == true {
		return nil
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if rec.Code/100 == 2 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			return fmt.Errorf("openapi: %s %s was accepted (%d) but its request does not match %s in api/openapi.yaml: %v\nrequest body: %.300s",
				r.Method, route.Path, rec.Code, where, err, reqBody)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.Code, Header: rec.Header(), Options: opts}
	out.SetBodyBytes(rec.Body.Bytes())
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		body := rec.Body.String()
		if ct := rec.Header().Get("Content-Type"); !strings.Contains(ct, "json") {
			body = fmt.Sprintf("(%d bytes of %s)", rec.Body.Len(), ct)
		}
		return fmt.Errorf("openapi: %s %s answered %d, which %s.responses in api/openapi.yaml does not allow: %v\nanswer: %.500s",
			r.Method, route.Path, rec.Code, where, err, body)
	}
	return nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
