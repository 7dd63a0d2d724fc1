package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/report"
)

// Figures answers a merchant's figures over a window; report.Book is one.
type Figures interface {
	Stats(merchant string, from, to time.Time) (report.Stats, error)
}

func (a *API) routeStats(r *mux.Router) {
	a.handle(r, "GET", "/v1/merchants/{id}/stats", a.stats, access.Admin, access.Auditor)
}

// timeParam reads an RFC 3339 time or a YYYY-MM-DD date; empty gives def.
func timeParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, badRequest("invalid_request", fmt.Errorf("%s must be an RFC 3339 time or a date like 2026-11-24", name))
}

func (a *API) stats(w http.ResponseWriter, r *http.Request, k access.Key) error {
	merchant := mux.Vars(r)["id"]
	if err := scope(k, merchant, access.Admin, access.Auditor); err != nil {
		return err
	}
	defFrom, defTo := report.Window(time.Now())
	from, err := timeParam(r, "from", defFrom)
	if err != nil {
		return err
	}
	to, err := timeParam(r, "to", defTo)
	if err != nil {
		return err
	}
	s, err := a.Report.Stats(merchant, from, to)
	if errors.Is(err, report.ErrWindow) {
		return badRequest("invalid_request", errors.New("the window must end after it starts and span at most 5 years"))
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}
