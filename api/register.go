package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/verify"
)

func (a *API) routeRegister(r *mux.Router) {
	a.handle(r, "POST", "/v1/verify", a.verify, access.Register)
	a.handle(r, "POST", "/v1/redeem", a.redeem, access.Register)
	a.handle(r, "POST", "/v1/cards/stamp", a.stamp, access.Register)
	a.handle(r, "POST", "/v1/cards/claim", a.claim, access.Register)
	a.handle(r, "GET", "/v1/credentials/{serial}", a.credential, access.Register, access.Auditor, access.Admin)
}

// codeRequest is the part every register call shares.
type codeRequest struct {
	Code           string `json:"code"`
	ShortCode      string `json:"short_code"`
	Register       string `json:"register"`
	IdempotencyKey string `json:"idempotency_key"`
}

// stampRequest is the body of POST /v1/cards/stamp.
type stampRequest struct {
	CardCode       string `json:"card_code"`
	ShortCode      string `json:"short_code"`
	Stamps         int    `json:"stamps"`
	Register       string `json:"register"`
	IdempotencyKey string `json:"idempotency_key"`
}

// claimRequest is the body of POST /v1/cards/claim.
type claimRequest struct {
	CardCode       string `json:"card_code"`
	PunchCode      string `json:"punch_code"`
	Register       string `json:"register"`
	IdempotencyKey string `json:"idempotency_key"`
}

// toVerify validates the shared part and builds the domain request.
func (a *API) toVerify(r *http.Request, k access.Key, c codeRequest) (verify.Request, error) {
	// Before anything else: a scanner's trailing CR/LF is not part of the code.
	c.Code, c.ShortCode = verify.TrimScan(c.Code), verify.TrimScan(c.ShortCode)
	switch {
	case c.Code == "" && c.ShortCode == "":
		return verify.Request{}, badRequest("invalid_request", errors.New("code or short_code is required"))
	case c.Code != "" && c.ShortCode != "":
		return verify.Request{}, badRequest("invalid_request", errors.New("send code or short_code, not both"))
	case len(c.Register) > 64:
		return verify.Request{}, badRequest("invalid_request", errors.New("register must be at most 64 characters"))
	case len(c.IdempotencyKey) > verify.MaxIdempotencyKey:
		return verify.Request{}, badRequest("invalid_request", fmt.Errorf("idempotency_key must be at most %d characters", verify.MaxIdempotencyKey))
	}
	if c.Register == "" {
		c.Register = k.Name
	}
	req := verify.Request{Merchant: k.Merchant, Code: c.Code, ShortCode: c.ShortCode, Register: c.Register,
		APIKey: k.ID, Source: source(r), IdempotencyKey: c.IdempotencyKey}
	return req, nil
}

func (a *API) verify(w http.ResponseWriter, r *http.Request, k access.Key) error {
	return a.codeCall(w, r, k, func(req verify.Request) (any, error) { return a.Verifier.Verify(req) })
}

func (a *API) redeem(w http.ResponseWriter, r *http.Request, k access.Key) error {
	return a.codeCall(w, r, k, func(req verify.Request) (any, error) { return a.Verifier.Redeem(req) })
}

// codeCall decodes a codeRequest, calls the domain and renders its answer.
func (a *API) codeCall(w http.ResponseWriter, r *http.Request, k access.Key, call func(verify.Request) (any, error)) error {
	var c codeRequest
	if err := decode(w, r, &c); err != nil {
		return err
	}
	req, err := a.toVerify(r, k, c)
	if err != nil {
		return err
	}
	res, err := call(req)
	if err != nil {
		return err
	}
	writeAnswer(w, http.StatusOK, res) // answers.go
	return nil
}

func (a *API) stamp(w http.ResponseWriter, r *http.Request, k access.Key) error {
	var body stampRequest
	if err := decode(w, r, &body); err != nil {
		return err
	}
	req, err := a.toVerify(r, k, codeRequest{Code: body.CardCode, ShortCode: body.ShortCode, Register: body.Register, IdempotencyKey: body.IdempotencyKey})
	if err != nil {
		return err
	}
	by := k.Actor(req.Source)
	if err := a.Issuer.AdmitRewards(by, req.Merchant); err != nil {
		return err
	}
	res, err := a.Verifier.Stamp(verify.StampRequest{Request: req, Stamps: body.Stamps})
	if err != nil {
		return err
	}
	a.Issuer.SpendRewards(by, req.Merchant, len(res.Rewards))
	writeAnswer(w, http.StatusOK, res)
	return nil
}

func (a *API) claim(w http.ResponseWriter, r *http.Request, k access.Key) error {
	var body claimRequest
	if err := decode(w, r, &body); err != nil {
		return err
	}
	body.PunchCode = verify.TrimScan(body.PunchCode)
	if body.PunchCode == "" {
		return badRequest("invalid_request", errors.New("punch_code is required"))
	}
	req, err := a.toVerify(r, k, codeRequest{Code: body.CardCode, Register: body.Register, IdempotencyKey: body.IdempotencyKey})
	if err != nil {
		return err
	}
	by := k.Actor(req.Source)
	if err := a.Issuer.AdmitRewards(by, req.Merchant); err != nil {
		return err
	}
	res, err := a.Verifier.Claim(verify.ClaimRequest{Request: req, PunchCode: body.PunchCode})
	if err != nil {
		return err
	}
	a.Issuer.SpendRewards(by, req.Merchant, len(res.Rewards))
	writeJSON(w, http.StatusOK, res)
	return nil
}

// credential answers a credential's state and a page of its history to a
// register, auditor or admin of its merchant (the all-merchants admin names
// it with ?merchant=). ?limit=N (1 to 1000, default 200) and ?before=<the
// next cursor of the previous page> page back through the history.
func (a *API) credential(w http.ResponseWriter, r *http.Request, k access.Key) error {
	q := r.URL.Query()
	merchant, ok := k.MerchantFor(q.Get("merchant"))
	if !ok {
		return badRequest("invalid_request", errors.New("an all-merchants admin key must name ?merchant="))
	}
	if err := scope(k, merchant, access.Register, access.Auditor, access.Admin); err != nil {
		return err
	}
	p := verify.HistoryPage{Before: q.Get("before")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > verify.MaxHistoryPage {
			return badRequest("invalid_request", fmt.Errorf("limit must be a number from 1 to %d", verify.MaxHistoryPage))
		}
		p.Limit = n
	}
	st, err := a.Verifier.StatusPage(merchant, mux.Vars(r)["serial"], p)
	if errors.Is(err, verify.ErrBadCursor) {
		return badRequest("invalid_request", errors.New("before must be the next cursor of an earlier answer"))
	}
	if err != nil {
		return err
	}
	if k.Role == access.Register {
		// A till learns a reward's code from the stamp that earned it; the
		// serials of a card's rewards would let any till of the merchant
		// ask for them, so a register sees only whether each was redeemed.
		for i := range st.Rewards {
			st.Rewards[i].Serial = ""
		}
		for i := range st.History {
			st.History[i].Reward = ""
		}
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}
