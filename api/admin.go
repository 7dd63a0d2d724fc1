package api

import (
	"errors"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/audit"
)

func (a *API) routeAdmin(r *mux.Router) {
	a.handle(r, "POST", "/v1/merchants", a.createMerchant, access.Admin)
	a.handle(r, "POST", "/v1/apikeys", a.createAPIKey, access.Admin)
	a.handle(r, "POST", "/v1/merchants/{id}/keys/rotate", a.rotateKeys, access.Admin)
	a.handle(r, "GET", "/v1/merchants/{id}/keys/public", a.publicKeyset, access.Admin, access.Issuer, access.Register, access.Auditor)
	a.handle(r, "GET", "/v1/admin/backup", a.backup, access.Admin)
	a.handle(r, "GET", "/v1/apikeys", a.listAPIKeys, access.Admin)
	a.handle(r, "POST", "/v1/apikeys/{id}/revoke", a.revokeAPIKey, access.Admin)
	a.handle(r, "GET", "/v1/audit", a.listAudit, access.Admin, access.Auditor)
}

func (a *API) createMerchant(w http.ResponseWriter, r *http.Request, k access.Key) error {
	var req struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if !k.RunsService() {
		return errForbidden
	}
	m, err := a.Access.CreateMerchantAs(k.Actor(source(r)), req.ID, req.Name)
	if err != nil {
		return err
	}
	a.log.Info("merchant created", "merchant", m.ID, "by", k.ID)
	writeJSON(w, http.StatusCreated, m)
	return nil
}

func (a *API) createAPIKey(w http.ResponseWriter, r *http.Request, k access.Key) error {
	var req struct {
		Merchant  string      `json:"merchant"`
		Role      access.Role `json:"role"`
		Name      string      `json:"name"`
		ExpiresIn string      `json:"expires_in"`
		Shop      string      `json:"shop"`
	}
	if err := decodeFor(w, r, k, &req, &req.Merchant, access.Admin); err != nil {
		return err
	}
	life, err := duration("expires_in", req.ExpiresIn, 0)
	if err != nil {
		return err
	}
	if req.ExpiresIn != "" && life <= 0 {
		return badRequest("invalid_request", errors.New("expires_in must be a positive duration"))
	}
	if err := a.checkShop(req.Merchant, req.Shop); err != nil {
		return err
	}
	key, token, err := a.Access.CreateKeyAs(k.Actor(source(r)), access.KeySpec{Merchant: req.Merchant, Role: req.Role, Name: req.Name, ExpiresIn: life})
	if err != nil {
		return err
	}
	if err := a.placeKey(req.Merchant, key.ID, req.Shop); err != nil {
		return err
	}
	a.log.Info("api key created", "merchant", key.Merchant, "role", key.Role, "key_id", key.ID, "by", k.ID)
	writeJSON(w, http.StatusCreated, map[string]any{
		"id": key.ID, "token": token, "merchant": key.Merchant, "role": key.Role, "name": key.Name, "created_at": key.CreatedAt,
		"expires_at": key.ExpiresAt,
		"shop":       req.Shop,
	})
	return nil
}

func (a *API) rotateKeys(w http.ResponseWriter, r *http.Request, k access.Key) error {
	var req struct {
		Compromised bool `json:"compromised"`
	}
	if r.ContentLength != 0 {
		if err := decode(w, r, &req); err != nil {
			return err
		}
	}
	merchant := mux.Vars(r)["id"]
	if err := scope(k, merchant, access.Admin); err != nil {
		return err
	}
	id, err := a.Keys.RotateAs(k.Actor(source(r)), merchant, req.Compromised)
	if err != nil {
		return err
	}
	a.log.Warn("signing key rotated", "merchant", merchant, "primary_key_id", id, "compromised", req.Compromised, "by", k.ID)
	writeJSON(w, http.StatusOK, map[string]any{"primary_key_id": id})
	return nil
}

func (a *API) publicKeyset(w http.ResponseWriter, r *http.Request, k access.Key) error {
	merchant := mux.Vars(r)["id"]
	if err := scope(k, merchant, access.Admin, access.Issuer, access.Register, access.Auditor); err != nil {
		return err
	}
	pub, err := a.Keys.PublicKeyset(merchant)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(pub)
	return nil
}

func (a *API) backup(w http.ResponseWriter, r *http.Request, k access.Key) error {
	// The snapshot holds every merchant's ledger.
	if !k.RunsService() {
		return errForbidden
	}
	// Recorded before the snapshot is taken, so the backup holds its own entry.
	if err := a.trail.Record(audit.Global, audit.BackupTaken, k.Actor(source(r)), "backup", nil); err != nil {
		return err
	}
	// The snapshot is followed by an integrity trailer (keys/backup.go)
	// that `stampseal restore` checks.
	bw, err := a.Keys.NewBackupWriter(w)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="stampseal-backup.db"`)
	n, err := a.Store.Backup(bw)
	if err == nil {
		err = bw.Close()
	}
	if err != nil {
		// Headers are gone; the client sees a truncated body.
		a.log.Error("backup failed", "bytes", n, "err", err)
		return nil
	}
	a.log.Info("backup served", "bytes", n, "by", k.ID)
	return nil
}
