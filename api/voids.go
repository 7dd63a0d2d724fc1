package api

import (
	"errors"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/verify"
)

// Voids undo a sale within the merchant's void window; see verify/void.go.
// A register or an admin of the merchant may void; the merchant's settings
// (the void window) are the admin's.
func (a *API) routeVoids(r *mux.Router) {
	a.handle(r, "POST", "/v1/redemptions/{id}/void", a.voidRedemption, access.Register, access.Admin)
	a.handle(r, "POST", "/v1/stamps/{id}/void", a.voidStamp, access.Register, access.Admin)
	a.handle(r, "GET", "/v1/merchants/{id}/settings", a.settings, access.Admin, access.Auditor)
	a.handle(r, "PUT", "/v1/merchants/{id}/settings", a.setSettings, access.Admin)
}

// voidRequest reads a void's body and checks the caller's merchant.
func (a *API) voidRequest(w http.ResponseWriter, r *http.Request, k access.Key) (verify.VoidRequest, error) {
	var body struct {
		Reason   string `json:"reason"`
		Register string `json:"register"`
	}
	if r.ContentLength != 0 {
		if err := decode(w, r, &body); err != nil {
			return verify.VoidRequest{}, err
		}
	}
	if len(body.Register) > 64 {
		return verify.VoidRequest{}, badRequest("invalid_request", errors.New("register must be at most 64 characters"))
	}
	if body.Register == "" {
		body.Register = k.Name
	}
	id := mux.Vars(r)["id"]
	merchant, ok := k.MerchantFor("")
	if !ok { // a key of all merchants voids in the merchant of the id
		merchant = a.Verifier.MerchantOf(id)
	}
	if err := scope(k, merchant, access.Register, access.Admin); err != nil {
		return verify.VoidRequest{}, err
	}
	return verify.VoidRequest{Merchant: merchant, APIKey: k.ID, Register: body.Register, Source: source(r),
		ID: id, Reason: body.Reason, By: k.Actor(source(r))}, nil
}

func (a *API) voidRedemption(w http.ResponseWriter, r *http.Request, k access.Key) error {
	req, err := a.voidRequest(w, r, k)
	if err != nil {
		return err
	}
	res, err := a.Verifier.VoidRedemption(req)
	if err != nil {
		return err
	}
	a.log.Info("redemption voided", "merchant", req.Merchant, "redemption", req.ID, "by", k.ID)
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (a *API) voidStamp(w http.ResponseWriter, r *http.Request, k access.Key) error {
	req, err := a.voidRequest(w, r, k)
	if err != nil {
		return err
	}
	res, err := a.Verifier.VoidStamp(req)
	if err != nil {
		return err
	}
	a.log.Info("stamp voided", "merchant", req.Merchant, "stamp", req.ID, "by", k.ID)
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (a *API) settingsMerchant(r *http.Request, k access.Key, roles ...access.Role) (string, error) {
	merchant := mux.Vars(r)["id"]
	if err := scope(k, merchant, roles...); err != nil {
		return "", err
	}
	if _, err := a.Access.Merchant(merchant); err != nil {
		return "", err
	}
	return merchant, nil
}

func (a *API) settings(w http.ResponseWriter, r *http.Request, k access.Key) error {
	merchant, err := a.settingsMerchant(r, k, access.Admin, access.Auditor)
	if err != nil {
		return err
	}
	s, err := a.Verifier.Settings(merchant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

func (a *API) setSettings(w http.ResponseWriter, r *http.Request, k access.Key) error {
	merchant, err := a.settingsMerchant(r, k, access.Admin)
	if err != nil {
		return err
	}
	var s verify.Settings
	if err := decode(w, r, &s); err != nil {
		return err
	}
	if err := a.Verifier.SetSettings(k.Actor(source(r)), merchant, s); err != nil {
		return err
	}
	a.log.Info("merchant settings changed", "merchant", merchant, "void_window", s.VoidWindow.String(), "by", k.ID)
	writeJSON(w, http.StatusOK, s)
	return nil
}
