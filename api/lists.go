package api

import (
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/verify"
)

// defaultPage is the page size of a list when the request names none.
const defaultPage = 50

func (a *API) routeLists(r *mux.Router) {
	a.handle(r, "GET", "/v1/programs", a.listPrograms, access.Admin, access.Issuer, access.Auditor)
	a.handle(r, "GET", "/v1/credentials", a.listCredentials, access.Admin, access.Issuer, access.Auditor)
}

// pageLimit reads ?limit=, defaultPage when absent.
func pageLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return defaultPage, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > verify.MaxListPage {
		return 0, fail(http.StatusBadRequest, "invalid_request", "limit must be a number from 1 to "+strconv.Itoa(verify.MaxListPage))
	}
	return n, nil
}

// listOf is what every list names: one merchant that k may list (as an
// admin, issuer or auditor), and a page size.
func listOf(r *http.Request, k access.Key) (merchant string, limit int, err error) {
	merchant = r.URL.Query().Get("merchant")
	if credential.ValidID(merchant) != nil {
		return "", 0, fail(http.StatusBadRequest, "invalid_request", "merchant must name one merchant")
	}
	if err := scope(k, merchant, access.Admin, access.Issuer, access.Auditor); err != nil {
		return "", 0, err
	}
	limit, err = pageLimit(r)
	return merchant, limit, err
}

// programView is a program as the API shows it.
func programView(p credential.Program) map[string]any {
	v := map[string]any{
		"merchant": p.Merchant, "id": p.ID, "stamps_required": p.StampsRequired, "reward": p.Reward,
		"reward_valid_for": p.RewardValidFor.String(), "limits": p.Limits, "created_at": p.CreatedAt,
	}
	if p.Value != nil {
		v["value"] = p.Value
	}
	return v
}

func (a *API) listPrograms(w http.ResponseWriter, r *http.Request, k access.Key) error {
	q := r.URL.Query()
	merchant, limit, err := listOf(r, k)
	if err != nil {
		return err
	}
	list, next, err := a.Issuer.Programs(merchant, q.Get("cursor"), limit)
	if err != nil {
		return err
	}
	out := make([]map[string]any, len(list))
	for i, p := range list {
		out[i] = programView(p)
	}
	writeJSON(w, http.StatusOK, map[string]any{"programs": out, "next_cursor": next})
	return nil
}

func (a *API) listCredentials(w http.ResponseWriter, r *http.Request, k access.Key) error {
	q := r.URL.Query()
	merchant, limit, err := listOf(r, k)
	if err != nil {
		return err
	}
	list, next, err := a.Verifier.List(verify.ListQuery{Merchant: merchant, Kind: q.Get("kind"),
		Status: q.Get("status"), After: q.Get("cursor"), Limit: limit})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"credentials": list, "next_cursor": next})
	return nil
}
