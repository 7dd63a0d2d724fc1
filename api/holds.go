package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/verify"
)

// Reservations: a register holds one use of a coupon while the customer
// pays, then confirms (a redemption) or releases it; see verify/hold.go.
func (a *API) routeHolds(r *mux.Router) {
	a.handle(r, "POST", "/v1/reservations", a.reserve, access.Register)
	a.handle(r, "POST", "/v1/reservations/{id}/confirm", a.confirm, access.Register)
	a.handle(r, "POST", "/v1/reservations/{id}/release", a.release, access.Register, access.Admin)
}

func (a *API) reserve(w http.ResponseWriter, r *http.Request, k access.Key) error {
	var body struct {
		codeRequest
		TTL string `json:"ttl"`
	}
	if err := decode(w, r, &body); err != nil {
		return err
	}
	var ttl time.Duration
	if body.TTL != "" {
		var err error
		if ttl, err = time.ParseDuration(body.TTL); err != nil || ttl <= 0 {
			return badRequest("invalid_request", errors.New(`ttl must be a positive duration such as "5m"`))
		}
	}
	req, err := a.toVerify(r, k, body.codeRequest)
	if err != nil {
		return err
	}
	res, err := a.Verifier.Reserve(verify.ReserveRequest{Request: req, TTL: ttl})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, res)
	return nil
}

// holdAction reads the optional body of a confirm or release.
func holdAction(w http.ResponseWriter, r *http.Request, k access.Key) (verify.HoldAction, error) {
	var body struct {
		IdempotencyKey string `json:"idempotency_key"`
	}
	if r.ContentLength != 0 {
		if err := decode(w, r, &body); err != nil {
			return verify.HoldAction{}, err
		}
	}
	if len(body.IdempotencyKey) > verify.MaxIdempotencyKey {
		return verify.HoldAction{}, badRequest("invalid_request", errors.New("idempotency_key is too long"))
	}
	return verify.HoldAction{Merchant: k.Merchant, APIKey: k.ID, Admin: k.Role == access.Admin, Source: source(r),
		Reservation: mux.Vars(r)["id"], IdempotencyKey: body.IdempotencyKey, By: k.Actor(source(r))}, nil
}

func (a *API) confirm(w http.ResponseWriter, r *http.Request, k access.Key) error {
	req, err := holdAction(w, r, k)
	if err != nil {
		return err
	}
	res, err := a.Verifier.Confirm(req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (a *API) release(w http.ResponseWriter, r *http.Request, k access.Key) error {
	req, err := holdAction(w, r, k)
	if err != nil {
		return err
	}
	res, err := a.Verifier.Release(req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// dayStatus is the answer status of the refusals of holds and voids.
var dayStatus = map[fraud.Reason]int{
	verify.ErrReservationExpired.Code:   http.StatusConflict,
	verify.ErrReservationReleased.Code:  http.StatusConflict,
	verify.ErrReservationConfirmed.Code: http.StatusConflict,
	verify.ErrVoidWindowPassed.Code:     http.StatusConflict,
	verify.ErrNotHolder.Code:            http.StatusForbidden,
	fraud.ReasonNotFound:                http.StatusNotFound,
}

// classifyDay maps the errors of holds and voids, or returns nil.
func classifyDay(err error) *Error {
	var reserved *verify.ReservedError
	if errors.As(err, &reserved) {
		return &Error{Status: http.StatusConflict, Code: string(verify.ErrReserved.Code), Message: verify.ErrReserved.Message,
			Details: map[string]any{"expires_at": reserved.Until, "register": reserved.Register}, Err: err}
	}
	var refusal *verify.Refusal
	if errors.As(err, &refusal) {
		if status, ok := dayStatus[refusal.Code]; ok {
			return &Error{Status: status, Code: string(refusal.Code), Message: refusal.Message, Err: err}
		}
	}
	return nil
}
