package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/audit"
)

// listAPIKeys answers the keys of ?merchant= to an admin of that merchant
// or the all-merchants admin (who may also ask for merchant=* to see the
// all-merchants keys). Never a token or its hash.
func (a *API) listAPIKeys(w http.ResponseWriter, r *http.Request, k access.Key) error {
	merchant := r.URL.Query().Get("merchant")
	if merchant == "" {
		if k.ServesAll() {
			return badRequest("invalid_request", errors.New("name the merchant: ?merchant="))
		}
		merchant = k.Merchant
	}
	if err := scope(k, merchant, access.Admin); err != nil {
		return err
	}
	keys, err := a.Access.Keys(merchant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"apikeys": keys})
	return nil
}

// revokeAPIKey ends a key from the next request on. An admin revokes keys
// of its merchant; the all-merchants admin any key. Whether the key exists
// is only told to those who may revoke it.
func (a *API) revokeAPIKey(w http.ResponseWriter, r *http.Request, k access.Key) error {
	var req struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := decode(w, r, &req); err != nil {
			return err
		}
	}
	target, err := a.Access.Key(mux.Vars(r)["id"])
	if errors.Is(err, access.ErrUnknownKey) && !k.ServesAll() {
		return errForbidden
	}
	if err != nil {
		return err
	}
	if err := scope(k, target.Merchant, access.Admin); err != nil {
		return err
	}
	info, err := a.Access.Revoke(k.Actor(source(r)), target.ID, req.Reason)
	if err != nil {
		return err
	}
	a.log.Warn("api key revoked", "merchant", info.Merchant, "key_id", info.ID, "by", k.ID)
	writeJSON(w, http.StatusOK, map[string]any{"revoked": true, "apikey": info})
	return nil
}

// listAudit answers the audit trail of ?merchant= (a merchant's own keys
// may leave it out; the all-merchants admin may ask for merchant=* to see
// backups, restores and rewraps), newest first.
func (a *API) listAudit(w http.ResponseWriter, r *http.Request, k access.Key) error {
	q := r.URL.Query()
	merchant := q.Get("merchant")
	if merchant == "" {
		if k.ServesAll() {
			return badRequest("invalid_request", errors.New("name the merchant: ?merchant= (* for actions on the whole service)"))
		}
		merchant = k.Merchant
	}
	if err := scope(k, merchant, access.Admin, access.Auditor); err != nil {
		return err
	}
	query := audit.Query{Merchant: merchant}
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return badRequest("invalid_request", errors.New("since must be an RFC 3339 time"))
		}
		query.Since = t
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > audit.MaxList {
			return badRequest("invalid_request", errors.New("limit must be a number from 1 to 1000"))
		}
		query.Limit = n
	}
	events, err := a.trail.List(query)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": events})
	return nil
}
