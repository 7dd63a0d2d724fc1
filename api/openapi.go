package api

import (
	_ "embed"
	"net/http"

	"github.com/gorilla/mux"
)

// openAPI is the OpenAPI 3.1 description of this API, kept beside the
// handlers; api/openapi_test.go holds the two to each other.
//
//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 description of API v1 (YAML).
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

// routeDocs serves the description. It is public, like /healthz: it is
// the contract every client reads before it holds a key, and it names no
// merchant, key or code.
func (a *API) routeDocs(r *mux.Router) {
	r.HandleFunc("/v1/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		if rec, ok := w.(*statusRecorder); ok {
			rec.route = "/v1/openapi.yaml"
		}
		w.Header().Set("Content-Type", "application/yaml")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(openAPI)
	}).Methods("GET")
}
