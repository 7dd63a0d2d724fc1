package api

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/verify"
)

// Error is an answer that is not a success: a status, a stable snake_case
// code, a message safe to show, optional details, and the underlying error
// for the log only.
type Error struct {
	Status  int
	Code    string
	Message string
	Details map[string]any
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Code, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

func fail(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// badRequest is a 400 whose message names what is wrong with the input.
func badRequest(code string, err error) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Message: err.Error(), Err: err}
}

var (
	errUnauthenticated = fail(http.StatusUnauthorized, "unauthenticated", "missing or unknown API key")
	errForbidden       = fail(http.StatusForbidden, "forbidden", "this API key may not do that for this merchant")
	errNotFound        = fail(http.StatusNotFound, "not_found", "no such resource")
)

// classify maps a domain error to its answer, once, for every handler.
func classify(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if e := classifyDay(err); e != nil {
		return e
	}
	var already *verify.AlreadyRedeemedError
	var refusal *verify.Refusal
	var throttled *verify.ThrottledError
	switch {
	case errors.Is(err, access.ErrKeyRevoked):
		return &Error{Status: http.StatusUnauthorized, Code: "key_revoked", Message: "this API key was revoked", Err: err}
	case errors.Is(err, access.ErrKeyExpired):
		return &Error{Status: http.StatusUnauthorized, Code: "key_expired", Message: "this API key has expired", Err: err}
	case errors.Is(err, access.ErrUnauthenticated):
		return errUnauthenticated
	case errors.Is(err, access.ErrLastAdmin):
		return &Error{Status: http.StatusConflict, Code: "last_admin",
			Message: "this is the last all-merchants admin key: create another before revoking it", Err: err}
	case errors.Is(err, access.ErrUnknownKey):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such API key", Err: err}
	case errors.Is(err, audit.ErrInvalid):
		return badRequest("invalid_request", err)
	case errors.As(err, &already):
		return &Error{Status: http.StatusConflict, Code: "already_redeemed", Message: verify.ErrAlreadyRedeemed.Message,
			Details: map[string]any{"redeemed_at": already.At, "register": already.Register}, Err: err}
	case errors.Is(err, verify.ErrAlreadyRedeemed), errors.Is(err, verify.ErrIdempotencyReused):
		errors.As(err, &refusal)
		return &Error{Status: http.StatusConflict, Code: string(refusal.Code), Message: refusal.Message, Err: err}
	case errors.As(err, &refusal):
		return &Error{Status: http.StatusUnprocessableEntity, Code: string(refusal.Code), Message: refusal.Message, Err: err}
	case errors.Is(err, fraud.ErrShopExists):
		return &Error{Status: http.StatusConflict, Code: "shop_exists", Message: "a shop with this id exists", Err: err}
	case errors.Is(err, fraud.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such alert or credential", Err: err}
	case errors.Is(err, fraud.ErrInvalid):
		return badRequest("invalid_request", err)
	case errors.Is(err, verify.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such credential", Err: err}
	case errors.Is(err, verify.ErrInvalidRequest), errors.Is(err, issuer.ErrInvalid), errors.Is(err, access.ErrInvalid):
		return badRequest("invalid_request", err)
	case errors.Is(err, access.ErrMerchantExists):
		return &Error{Status: http.StatusConflict, Code: "merchant_exists", Message: "a merchant with this id exists", Err: err}
	case errors.Is(err, issuer.ErrProgramExists):
		return &Error{Status: http.StatusConflict, Code: "program_exists", Message: "a program with this id exists", Err: err}
	case errors.Is(err, access.ErrUnknownMerchant), errors.Is(err, keys.ErrUnknownMerchant):
		return &Error{Status: http.StatusNotFound, Code: "unknown_merchant", Message: "no such merchant", Err: err}
	case errors.Is(err, issuer.ErrUnknownProgram):
		return &Error{Status: http.StatusNotFound, Code: "unknown_program", Message: "no such program", Err: err}
	case errors.Is(err, keys.ErrUnknownKey):
		return &Error{Status: http.StatusNotFound, Code: "unknown_key", Message: "no such key", Err: err}
	case errors.As(err, &throttled):
		return &Error{Status: http.StatusTooManyRequests, Code: "throttled", Message: err.Error(),
			Details: map[string]any{"retry_after_seconds": int(math.Ceil(throttled.Wait.Seconds()))}, Err: err}
	case errors.Is(err, issuer.ErrRateLimited), errors.Is(err, issuer.ErrRewardsLimited):
		return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: err.Error(),
			Details: map[string]any{"retry_after_seconds": 1}, Err: err}
	case errors.Is(err, storage.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Code: "storage_unavailable",
			Message: "the ledger cannot be written right now; nothing was recorded, try again", Err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error", Err: err}
}

// renderError writes the error shape of API.md and logs the full error:
// client faults at warn, server faults at error. Messages never carry codes.
func (a *API) renderError(w http.ResponseWriter, r *http.Request, err error) {
	e := classify(err)
	level := slog.LevelWarn
	if e.Status >= 500 {
		level = slog.LevelError
	}
	a.log.Log(r.Context(), level, "request refused", "method", r.Method, "route", routeName(w, r), "status", e.Status, "code", e.Code, "err", e.Err)
	body := map[string]any{"code": e.Code, "message": e.Message}
	for k, v := range e.Details {
		body[k] = v
	}
	if e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable {
		if ra, ok := e.Details["retry_after_seconds"]; ok {
			w.Header().Set("Retry-After", fmt.Sprint(ra))
		}
	}
	writeJSON(w, e.Status, map[string]any{"error": body})
}
