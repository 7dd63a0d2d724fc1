package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/mux"
)

// HealthTimeout bounds how long GET /healthz waits for the ledger.
const HealthTimeout = time.Second

// routeHealth serves GET /healthz: 200 {"status":"ok"} while the server
// accepts requests and, when Deps.Health is set (a shared ledger such as
// etcd), its ledger answers within HealthTimeout; 503
// {"status":"storage_unavailable"} otherwise, so that a load balancer
// sends the tills to a node that can write.
func (a *API) routeHealth(r *mux.Router) {
	r.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if a.Health != nil {
			ctx, cancel := context.WithTimeout(r.Context(), HealthTimeout)
			defer cancel()
			if err := a.Health(ctx); err != nil {
				a.log.Warn("health check: ledger unreachable", "err", err)
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "storage_unavailable"})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}).Methods("GET")
}
