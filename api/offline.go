package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/offline"
)

// SyncMaxBody is the largest POST /v1/sync body: a full batch of
// operations with card and punch codes fits with room to spare.
const SyncMaxBody = 1 << 20

func (a *API) routeOffline(r *mux.Router) {
	a.handle(r, "GET", "/v1/registers/snapshot", a.snapshot, access.Register)
	a.handle(r, "POST", "/v1/sync", a.sync, access.Register)
	a.handle(r, "GET", "/v1/merchants/{id}/offline", a.merchantOffline, access.Admin, access.Auditor)
	a.handle(r, "PUT", "/v1/merchants/{id}/offline", a.setMerchantOffline, access.Admin)
	a.handle(r, "GET", "/v1/merchants/{id}/offline/losses", a.offlineLosses, access.Admin, access.Auditor)
}

// snapshot answers the till agent's snapshot, or 304 when its ETag is the
// one the agent already holds.
func (a *API) snapshot(w http.ResponseWriter, r *http.Request, k access.Key) error {
	snap, etag, err := a.Offline.Snapshot(k.Merchant)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag)
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, etag) {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	writeJSON(w, http.StatusOK, snap)
	return nil
}

func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// sync applies a till agent's queued operations. The operations are the
// authenticated key's own: idempotency keys are scoped to it.
func (a *API) sync(w http.ResponseWriter, r *http.Request, k access.Key) error {
	var body struct {
		Operations []offline.Operation `json:"operations"`
	}
	if err := decodeLimited(w, r, &body, SyncMaxBody); err != nil {
		return err
	}
	res, err := a.Offline.Sync(offline.Caller{Merchant: k.Merchant, APIKey: k.ID, Name: k.Name, Source: source(r)}, body.Operations)
	if errors.Is(err, offline.ErrTooMany) {
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "batch_too_large", Err: err,
			Message: "too many operations in one sync; send them in smaller batches"}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": res})
	return nil
}

// decodeLimited is decode with a body limit of its own.
func decodeLimited(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return fail(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body must be at most %d bytes", limit))
	}
	if err != nil {
		return badRequest("invalid_json", errors.New("request body could not be read"))
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			return badRequest("unknown_field", fmt.Errorf("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field ")))
		}
		return badRequest("invalid_json", errors.New("request body is not the expected JSON"))
	}
	if dec.More() {
		return badRequest("invalid_json", errors.New("body must hold exactly one JSON object"))
	}
	return nil
}

func (a *API) merchantOffline(w http.ResponseWriter, r *http.Request, k access.Key) error {
	id := mux.Vars(r)["id"]
	if err := scope(k, id, access.Admin, access.Auditor); err != nil {
		return err
	}
	p, err := a.Policies.Merchant(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (a *API) setMerchantOffline(w http.ResponseWriter, r *http.Request, k access.Key) error {
	id := mux.Vars(r)["id"]
	if err := scope(k, id, access.Admin); err != nil {
		return err
	}
	if _, err := a.Access.Merchant(id); err != nil {
		return err
	}
	p := offline.DefaultMerchantPolicy
	if err := decode(w, r, &p); err != nil {
		return err
	}
	if err := a.Policies.SetMerchant(id, p); err != nil {
		return offlineInvalid(err)
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (a *API) offlineLosses(w http.ResponseWriter, r *http.Request, k access.Key) error {
	id := mux.Vars(r)["id"]
	if err := scope(k, id, access.Admin, access.Auditor); err != nil {
		return err
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return badRequest("invalid_request", errors.New("limit must be 1 to 1000"))
		}
		limit = n
	}
	losses, err := a.Offline.Losses(id, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"losses": losses})
	return nil
}

// offlineInvalid answers 400 for a policy that is wrong in itself.
func offlineInvalid(err error) error {
	if errors.Is(err, offline.ErrInvalid) {
		return badRequest("invalid_request", err)
	}
	return err
}

// setProgramOffline stores a program's offline policy, when one was sent,
// and shows it in the answer.
func (a *API) setProgramOffline(merchant, program string, p *offline.Policy, answer map[string]any) error {
	if p == nil || a.Policies == nil {
		return nil
	}
	if err := a.Policies.SetProgram(merchant, program, *p); err != nil {
		return offlineInvalid(err)
	}
	answer["offline"] = p
	return nil
}

// addBatchOffline records the batch of coupons just minted for till
// agents when it has an offline policy or a value (which offline caps
// count), and names the batch in the answer.
func (a *API) addBatchOffline(merchant string, coupons []credential.Issued, p *offline.Policy, value *credential.Value, answer map[string]any) error {
	if (p == nil && value == nil) || a.Policies == nil || len(coupons) == 0 {
		return nil
	}
	b := offline.Batch{ID: coupons[0].Serial, Policy: offline.DefaultPolicy}
	if p != nil {
		b.Policy = *p
		answer["offline"] = p
	}
	if value != nil {
		b.Value, b.Currency = value.Amount, value.Currency
	}
	for _, c := range coupons {
		b.Serials = append(b.Serials, c.Serial)
	}
	if err := a.Policies.AddBatch(merchant, b); err != nil {
		return offlineInvalid(err)
	}
	answer["batch"] = b.ID
	return nil
}
