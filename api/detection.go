package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/fraud"
)

// Detection is the part of the fraud module that admins and auditors
// configure and steer: shops, staff cards, throttles and the figures of
// the detectors; fraud.Monitor is one.
type Detection interface {
	CreateShop(s fraud.Shop) (fraud.Shop, error)
	Shop(merchant, id string) (fraud.Shop, error)
	AssignShop(merchant, keyID, shop string) error
	MarkStaff(merchant, serial, note, by string) (fraud.StaffCard, error)
	LiftThrottle(merchant, keyID string) bool
	Stats(merchant string, from, to time.Time) (fraud.Stats, error)
}

func (a *API) routeDetection(r *mux.Router) {
	a.handle(r, "POST", "/v1/shops", a.createShop, access.Admin)
	a.handle(r, "POST", "/v1/throttles/{key_id}/lift", a.liftThrottle, access.Auditor, access.Admin)
	a.handle(r, "POST", "/v1/credentials/{serial}/staff", a.markStaff, access.Auditor, access.Admin)
	a.handle(r, "GET", "/v1/alerts/stats", a.alertStats, access.Auditor, access.Admin)
}

func (a *API) createShop(w http.ResponseWriter, r *http.Request, k access.Key) error {
	var req struct {
		Merchant string          `json:"merchant"`
		ID       string          `json:"id"`
		Name     string          `json:"name"`
		Location *fraud.Location `json:"location"`
	}
	if err := decodeFor(w, r, k, &req, &req.Merchant, access.Admin); err != nil {
		return err
	}
	if req.Location == nil {
		return badRequest("invalid_request", errors.New("location {lat, lon} is required"))
	}
	if _, err := a.Access.Merchant(req.Merchant); err != nil {
		return err
	}
	s, err := a.Detect.CreateShop(fraud.Shop{Merchant: req.Merchant, ID: req.ID, Name: req.Name, Location: *req.Location})
	if err != nil {
		return err
	}
	a.audit(r, k, s.Merchant, "shop_created", s.ID, map[string]string{"name": s.Name})
	a.log.Info("shop created", "merchant", s.Merchant, "shop", s.ID, "by", k.ID)
	writeJSON(w, http.StatusCreated, s)
	return nil
}

// audit records an action of detection's routes in the audit trail; a
// failure to record is logged, the action stands (as for alert resolves).
func (a *API) audit(r *http.Request, k access.Key, merchant, action, target string, details map[string]string) {
	if err := a.trail.Record(merchant, action, k.Actor(source(r)), target, details); err != nil {
		a.log.Error("audit "+action, "target", target, "err", err)
	}
}

// checkShop refuses, before a key is made, a shop the merchant lacks.
func (a *API) checkShop(merchant, shop string) error {
	if shop == "" {
		return nil
	}
	if a.Detect == nil {
		return badRequest("invalid_request", errors.New("shops are not enabled on this server"))
	}
	if _, err := a.Detect.Shop(merchant, shop); err != nil {
		if errors.Is(err, fraud.ErrNotFound) {
			return badRequest("invalid_request", errors.New("the merchant has no such shop; create it with POST /v1/shops"))
		}
		return err
	}
	return nil
}

// placeKey puts a new key at its shop.
func (a *API) placeKey(merchant, keyID, shop string) error {
	if shop == "" {
		return nil
	}
	return a.Detect.AssignShop(merchant, keyID, shop)
}

func (a *API) liftThrottle(w http.ResponseWriter, r *http.Request, k access.Key) error {
	merchant, err := reviewMerchant(r, k)
	if err != nil {
		return err
	}
	id := mux.Vars(r)["key_id"]
	lifted := a.Detect.LiftThrottle(merchant, id)
	a.audit(r, k, merchant, "throttle_lifted", id, map[string]string{"was_throttled": fmt.Sprint(lifted)})
	a.log.Info("throttle lifted", "merchant", merchant, "key_id", id, "was_throttled", lifted, "by", k.ID)
	writeJSON(w, http.StatusOK, map[string]any{"key_id": id, "lifted": lifted})
	return nil
}

func (a *API) markStaff(w http.ResponseWriter, r *http.Request, k access.Key) error {
	var req struct {
		Note string `json:"note"`
	}
	if r.ContentLength != 0 {
		if err := decode(w, r, &req); err != nil {
			return err
		}
	}
	merchant, err := reviewMerchant(r, k)
	if err != nil {
		return err
	}
	serial := mux.Vars(r)["serial"]
	if _, err := a.Verifier.Record(merchant, serial); err != nil {
		return err
	}
	sc, err := a.Detect.MarkStaff(merchant, serial, req.Note, k.Name+" ("+k.ID+")")
	if err != nil {
		return err
	}
	a.audit(r, k, merchant, "staff_card_marked", sc.Serial, map[string]string{"note": sc.Note})
	a.log.Info("staff card marked", "merchant", merchant, "serial", sc.Serial, "by", k.ID)
	writeJSON(w, http.StatusOK, map[string]any{"serial": sc.Serial, "staff": true})
	return nil
}

func (a *API) alertStats(w http.ResponseWriter, r *http.Request, k access.Key) error {
	merchant, err := reviewMerchant(r, k)
	if err != nil {
		return err
	}
	to := a.Now()
	from := to.Add(-30 * 24 * time.Hour)
	q := r.URL.Query()
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		if s := q.Get(p.name); s != "" {
			if *p.t, err = time.Parse(time.RFC3339, s); err != nil {
				return badRequest("invalid_request", errors.New(p.name+" must be an RFC 3339 time"))
			}
		}
	}
	st, err := a.Detect.Stats(merchant, from, to)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}
