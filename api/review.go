package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/fraud"
)

// Review is the fraud module as security staff use it; fraud.Monitor is one.
type Review interface {
	Alerts(merchant string, f fraud.Filter) ([]fraud.Alert, error)
	ResolveWith(merchant, id string, r fraud.Resolving) (fraud.Alert, error)
	BlockAs(by audit.Actor, merchant, serial, reason string) error
	Unblock(by audit.Actor, merchant, serial, reason string) error
}

func (a *API) routeReview(r *mux.Router) {
	a.handle(r, "GET", "/v1/alerts", a.listAlerts, access.Auditor, access.Admin)
	a.handle(r, "POST", "/v1/alerts/{id}/resolve", a.resolveAlert, access.Auditor, access.Admin)
	a.handle(r, "POST", "/v1/credentials/{serial}/block", a.block, access.Auditor, access.Admin)
	a.handle(r, "POST", "/v1/credentials/{serial}/unblock", a.unblock, access.Auditor, access.Admin)
}

// reviewMerchant is the merchant whose alerts a key reviews: its own, or
// for the all-merchants admin the ?merchant= parameter.
func reviewMerchant(r *http.Request, k access.Key) (string, error) {
	m, ok := k.MerchantFor(r.URL.Query().Get("merchant"))
	if !ok {
		return "", badRequest("invalid_request", errors.New("an all-merchants admin key must name ?merchant="))
	}
	return m, scope(k, m, access.Auditor, access.Admin)
}

func (a *API) listAlerts(w http.ResponseWriter, r *http.Request, k access.Key) error {
	merchant, err := reviewMerchant(r, k)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := fraud.Filter{Status: q.Get("status"), Kind: q.Get("kind"), Severity: q.Get("severity")}
	if s := q.Get("since"); s != "" {
		if f.Since, err = time.Parse(time.RFC3339, s); err != nil {
			return badRequest("invalid_request", errors.New("since must be an RFC 3339 time"))
		}
	}
	if s := q.Get("limit"); s != "" {
		if f.Limit, err = strconv.Atoi(s); err != nil {
			return badRequest("invalid_request", errors.New("limit must be a number"))
		}
	}
	if err := f.Validate(); err != nil {
		return badRequest("invalid_request", err)
	}
	alerts, err := a.Review.Alerts(merchant, f)
	if err != nil {
		return err
	}
	if alerts == nil {
		alerts = []fraud.Alert{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": alerts})
	return nil
}

func (a *API) resolveAlert(w http.ResponseWriter, r *http.Request, k access.Key) error {
	var req struct {
		Note         string        `json:"note"`
		Verdict      fraud.Verdict `json:"verdict"`
		LiftThrottle bool          `json:"lift_throttle"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	merchant, err := reviewMerchant(r, k)
	if err != nil {
		return err
	}
	alert, err := a.Review.ResolveWith(merchant, mux.Vars(r)["id"],
		fraud.Resolving{Note: req.Note, By: k.Name + " (" + k.ID + ")", Verdict: req.Verdict, LiftThrottle: req.LiftThrottle})
	if err != nil {
		return err
	}
	// The alert is the fraud module's record; its audit entry follows it.
	if err := a.trail.Record(merchant, audit.AlertResolved, k.Actor(source(r)), alert.ID,
		map[string]string{"kind": string(alert.Kind), "note": req.Note, "verdict": string(req.Verdict),
			"throttle_lifted": fmt.Sprint(alert.Resolution != nil && alert.Resolution.ThrottleLifted)}); err != nil {
		a.log.Error("audit alert resolve", "alert", alert.ID, "err", err)
	}
	a.log.Info("alert resolved", "merchant", merchant, "alert", alert.ID, "kind", alert.Kind, "by", k.ID)
	writeJSON(w, http.StatusOK, alert)
	return nil
}

func (a *API) block(w http.ResponseWriter, r *http.Request, k access.Key) error {
	return a.changeBlock(w, r, k, a.Review.BlockAs, "blocked")
}

func (a *API) unblock(w http.ResponseWriter, r *http.Request, k access.Key) error {
	return a.changeBlock(w, r, k, a.Review.Unblock, "unblocked")
}

// changeBlock is the one shape of block and unblock: a reason in, the
// credential's new status out, the actor taken from the authenticated key.
func (a *API) changeBlock(w http.ResponseWriter, r *http.Request, k access.Key,
	change func(by audit.Actor, merchant, serial, reason string) error, status string) error {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	merchant, err := reviewMerchant(r, k)
	if err != nil {
		return err
	}
	serial := mux.Vars(r)["serial"]
	if err := change(k.Actor(source(r)), merchant, serial, req.Reason); err != nil {
		return err
	}
	a.log.Warn("credential "+status, "merchant", merchant, "serial", serial, "by", k.ID)
	writeJSON(w, http.StatusOK, map[string]any{"serial": serial, "status": status})
	return nil
}
