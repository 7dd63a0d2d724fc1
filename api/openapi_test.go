package api_test

import (
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/stampseal/stampseal/internal/openapicheck"
	"github.com/stampseal/stampseal/internal/service"
	"github.com/stampseal/stampseal/internal/testserver"
)

// Every route the router serves is in api/openapi.yaml, and every route
// described there as served is served. The answers themselves are checked
// in every API test: the harness validates each one (openapicheck.Handler).
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	spec := openapicheck.MustLoad(t)
	served, err := openapicheck.Served(testserver.Open(t, service.Options{}).API.Router())
	if err != nil {
		t.Fatal(err)
	}
	if len(served) < 20 {
		t.Fatalf("the router serves %d routes; the walk found too few to trust: %v", len(served), served)
	}
	for _, msg := range spec.Undescribed(served) {
		t.Error(msg)
	}
	for _, msg := range spec.Unserved(served) {
		t.Error(msg)
	}
}

func TestOpenAPIIsServed(t *testing.T) {
	s := newServer(t)
	a := s.must(200, "GET", "/v1/openapi.yaml", "", nil)
	if ct := a.header.Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("Content-Type = %q, want application/yaml", ct)
	}
	doc, err := openapi3.NewLoader().LoadFromData(a.raw)
	if err != nil {
		t.Fatalf("the served description does not parse: %v", err)
	}
	if doc.OpenAPI != "3.1.0" || doc.Paths.Value("/v1/redeem") == nil {
		t.Fatalf("served description: openapi %q, /v1/redeem described: %v", doc.OpenAPI, doc.Paths.Value("/v1/redeem") != nil)
	}
}
