package api

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/offline"
)

func (a *API) routeIssue(r *mux.Router) {
	a.handle(r, "POST", "/v1/programs", a.createProgram, access.Issuer, access.Admin)
	a.handle(r, "POST", "/v1/cards", a.issueCard, access.Issuer, access.Admin)
	a.handle(r, "POST", "/v1/punches", a.issuePunch, access.Issuer, access.Admin)
	a.handle(r, "POST", "/v1/coupons", a.issueCoupons, access.Issuer, access.Admin)
}

func (a *API) createProgram(w http.ResponseWriter, r *http.Request, k access.Key) error {
	var req struct {
		Merchant       string             `json:"merchant"`
		ID             string             `json:"id"`
		StampsRequired int                `json:"stamps_required"`
		Reward         string             `json:"reward"`
		RewardValidFor string             `json:"reward_valid_for"`
		Limits         *credential.Limits `json:"limits"`
		Offline        *offline.Policy    `json:"offline"`
		Value          *credential.Value  `json:"value"`
	}
	if err := decodeFor(w, r, k, &req, &req.Merchant, access.Issuer, access.Admin); err != nil {
		return err
	}
	validFor, err := duration("reward_valid_for", req.RewardValidFor, credential.DefaultRewardValidFor)
	if err != nil {
		return err
	}
	p := credential.Program{Merchant: req.Merchant, ID: req.ID, StampsRequired: req.StampsRequired,
		Reward: req.Reward, RewardValidFor: validFor, Limits: credential.DefaultLimits, Value: req.Value}
	if req.Limits != nil {
		p.Limits = *req.Limits
	}
	if p, err = a.Issuer.CreateProgramAs(k.Actor(source(r)), p); err != nil {
		return err
	}
	answer := map[string]any{
		"merchant": p.Merchant, "id": p.ID, "stamps_required": p.StampsRequired, "reward": p.Reward,
		"reward_valid_for": p.RewardValidFor.String(), "limits": p.Limits,
	}
	if p.Value != nil {
		answer["value"] = p.Value
	}
	if err := a.setProgramOffline(p.Merchant, p.ID, req.Offline, answer); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, answer)
	return nil
}

func (a *API) issueCard(w http.ResponseWriter, r *http.Request, k access.Key) error {
	var req struct {
		Merchant string `json:"merchant"`
		Program  string `json:"program"`
	}
	if err := decodeFor(w, r, k, &req, &req.Merchant, access.Issuer, access.Admin); err != nil {
		return err
	}
	return a.issueOne(w, func() (credential.Issued, error) {
		return a.Issuer.CardAs(k.Actor(source(r)), req.Merchant, req.Program)
	})
}

func (a *API) issuePunch(w http.ResponseWriter, r *http.Request, k access.Key) error {
	var req struct {
		Merchant string `json:"merchant"`
		Program  string `json:"program"`
		Stamps   int    `json:"stamps"`
		ValidFor string `json:"valid_for"`
	}
	if err := decodeFor(w, r, k, &req, &req.Merchant, access.Issuer, access.Admin); err != nil {
		return err
	}
	validFor, err := duration("valid_for", req.ValidFor, issuer.DefaultPunchValidFor)
	if err != nil {
		return err
	}
	return a.issueOne(w, func() (credential.Issued, error) {
		return a.Issuer.PunchAs(k.Actor(source(r)), req.Merchant, req.Program, req.Stamps, validFor)
	})
}

// issueOne issues one credential and answers 201 with it.
func (a *API) issueOne(w http.ResponseWriter, issue func() (credential.Issued, error)) error {
	c, err := issue()
	if err != nil {
		return err
	}
	a.issued(c)
	writeJSON(w, http.StatusCreated, c)
	return nil
}

func (a *API) issueCoupons(w http.ResponseWriter, r *http.Request, k access.Key) error {
	var req struct {
		Merchant  string            `json:"merchant"`
		Offer     string            `json:"offer"`
		ValidFor  string            `json:"valid_for"`
		NotBefore *time.Time        `json:"not_before"`
		MaxUses   int               `json:"max_uses"`
		Count     int               `json:"count"`
		Offline   *offline.Policy   `json:"offline"`
		Value     *credential.Value `json:"value"`
	}
	if err := decodeFor(w, r, k, &req, &req.Merchant, access.Issuer, access.Admin); err != nil {
		return err
	}
	validFor, err := duration("valid_for", req.ValidFor, 0)
	if err != nil {
		return err
	}
	cr := issuer.CouponRequest{Merchant: req.Merchant, Offer: req.Offer, ValidFor: validFor, MaxUses: req.MaxUses, Count: req.Count, Value: req.Value}
	if req.NotBefore != nil {
		cr.NotBefore = *req.NotBefore
	}
	coupons, err := a.Issuer.CouponsAs(k.Actor(source(r)), cr)
	if err != nil {
		return err
	}
	a.issued(coupons...)
	answer := map[string]any{"coupons": coupons}
	if err := a.addBatchOffline(req.Merchant, coupons, req.Offline, req.Value, answer); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, answer)
	return nil
}

// issued counts issuance for metrics. The issuer tells the fraud module
// (issuer.WithObserver).
func (a *API) issued(list ...credential.Issued) {
	if a.Metrics == nil {
		return
	}
	for _, c := range list {
		a.Metrics.Issued(c.Kind.String(), 1)
	}
}
