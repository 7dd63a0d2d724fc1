package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error codes of the contract that callers commonly branch on. The server
// may send others; compare Error.Code with the string then.
const (
	CodeUnauthenticated    = "unauthenticated"
	CodeForbidden          = "forbidden"
	CodeNotFound           = "not_found"
	CodeInvalidRequest     = "invalid_request"
	CodeAlreadyRedeemed    = "already_redeemed"
	CodeReserved           = "reserved"
	CodeReservationExpired = "reservation_expired"
	CodeVoidWindowPassed   = "void_window_passed"
	CodeLimitExceeded      = "limit_exceeded"
	CodeThrottled          = "throttled"
	CodeRateLimited        = "rate_limited"
	CodeOverloaded         = "overloaded"
	CodeStorageUnavailable = "storage_unavailable"
	CodeMerchantExists     = "merchant_exists"
	CodeKeyRevoked         = "key_revoked"
	CodeKeyExpired         = "key_expired"
	CodeLastAdmin          = "last_admin"
	CodeOfflineTooLong     = "offline_too_long"
	CodeBlocked            = "blocked"
	CodeExpired            = "expired"
	CodeRevoked            = "revoked"
	CodeInvalidSignature   = "invalid_signature"
)

// Error is an answer other than success: the status, the contract's error
// code and message, and the details the error object carries.
type Error struct {
	Method string // of the request
	Path   string // of the request, without the query
	Status int
	Code   string // snake_case; empty when the body was not the contract's error shape
	// Message is the server's text, or the start of a body that was not
	// the contract's error shape (a proxy's page).
	Message string

	// Details of known codes, zero when absent.
	RedeemedAt time.Time     // already_redeemed: the first redemption
	Register   string        // already_redeemed, reserved: the register holding the use
	ExpiresAt  time.Time     // reserved: when the hold ends
	RetryAfter time.Duration // throttled, overloaded, rate_limited: from the body or Retry-After

	// Details are every field of the error object beyond code and message.
	Details map[string]json.RawMessage
}

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("stampseal: %s %s: %d: %s", e.Method, e.Path, e.Status, e.Message)
	}
	return fmt.Sprintf("stampseal: %s %s: %d %s: %s", e.Method, e.Path, e.Status, e.Code, e.Message)
}

// IsCode reports whether err is (or wraps) an *Error with the given code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// StatusOf is the HTTP status of an *Error in err's chain, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// maxErrorBody bounds what is read of an error answer.
const maxErrorBody = 64 << 10

// readError turns a failed answer into an *Error.
func readError(method, path string, resp *http.Response) *Error {
	e := &Error{Method: method, Path: path, Status: resp.StatusCode}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var shape struct {
		Error map[string]json.RawMessage `json:"error"`
	}
	if json.Unmarshal(raw, &shape) != nil || shape.Error == nil {
		e.Message = strings.TrimSpace(string(raw))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200]
		}
		if e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
		return e
	}
	json.Unmarshal(shape.Error["code"], &e.Code)
	json.Unmarshal(shape.Error["message"], &e.Message)
	delete(shape.Error, "code")
	delete(shape.Error, "message")
	if len(shape.Error) > 0 {
		e.Details = shape.Error
	}
	json.Unmarshal(shape.Error["redeemed_at"], &e.RedeemedAt)
	json.Unmarshal(shape.Error["register"], &e.Register)
	json.Unmarshal(shape.Error["expires_at"], &e.ExpiresAt)
	var secs float64
	if json.Unmarshal(shape.Error["retry_after_seconds"], &secs) == nil && secs > 0 {
		e.RetryAfter = time.Duration(secs * float64(time.Second))
	} else if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}
