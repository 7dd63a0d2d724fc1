package verify

import (
	"fmt"
	"time"

	"github.com/stampseal/stampseal/fraud"
)

// Refusal is why a code did not pass. Code is the stable snake_case reason
// the API answers with; the message is safe to show to a cashier.
type Refusal struct {
	Code    fraud.Reason
	Message string
	// Status is what a verification reports for the credential.
	Status string
}

func (r *Refusal) Error() string { return r.Message }

// The refusals. Compare with errors.Is.
var (
	ErrMalformed         = &Refusal{fraud.ReasonMalformed, "the code is not a stampseal code", StatusInvalid}
	ErrInvalidSignature  = &Refusal{fraud.ReasonInvalidSignature, "the code's signature does not verify", StatusInvalid}
	ErrUnknownKey        = &Refusal{fraud.ReasonUnknownKey, "the code was signed by a key this merchant does not have", StatusInvalid}
	ErrWrongMerchant     = &Refusal{fraud.ReasonWrongMerchant, "the code belongs to another merchant", StatusInvalid}
	ErrUnissued          = &Refusal{fraud.ReasonUnissued, "the code was never issued", StatusInvalid}
	ErrRevoked           = &Refusal{fraud.ReasonRevoked, "the key that signed the code is no longer trusted", StatusRevoked}
	ErrBlocked           = &Refusal{fraud.ReasonBlocked, "the credential is blocked", StatusBlocked}
	ErrExpired           = &Refusal{fraud.ReasonExpired, "the code has expired", StatusExpired}
	ErrNotYetValid       = &Refusal{fraud.ReasonNotYetValid, "the code is not valid yet", StatusNotYetValid}
	ErrWrongKind         = &Refusal{fraud.ReasonWrongKind, "this kind of credential cannot be used here", StatusActive}
	ErrWrongProgram      = &Refusal{fraud.ReasonWrongProgram, "the punch belongs to another program than the card", StatusActive}
	ErrLimitExceeded     = &Refusal{fraud.ReasonLimitExceeded, "the program's stamp limit for this card is reached", StatusActive}
	ErrBadShortCode      = &Refusal{fraud.ReasonBadShortCode, "the short code is mistyped (check character does not match)", StatusInvalid}
	ErrUnknownShortCode  = &Refusal{fraud.ReasonUnknownShortCode, "no credential has this short code", StatusInvalid}
	ErrAlreadyRedeemed   = &Refusal{fraud.ReasonAlreadyRedeemed, "the code has already been used", StatusRedeemed}
	ErrIdempotencyReused = &Refusal{fraud.ReasonIdempotencyReused, "the idempotency key was already used for a different request", StatusActive}
)

// errCompromised is ErrRevoked for a key marked compromised: the same answer
// to the register, a louder event to the fraud module.
var errCompromised = &compromised{}

type compromised struct{}

func (*compromised) Error() string        { return ErrRevoked.Message }
func (*compromised) Is(target error) bool { return target == ErrRevoked }
func (*compromised) As(target any) bool {
	if r, ok := target.(**Refusal); ok {
		*r = ErrRevoked
		return true
	}
	return false
}

// AlreadyRedeemedError says when and where a credential was first used.
type AlreadyRedeemedError struct {
	At       time.Time
	Register string
}

func (e *AlreadyRedeemedError) Error() string {
	return fmt.Sprintf("already redeemed at %s by %s", e.At.Format(time.RFC3339), e.Register)
}

// Is makes errors.Is(err, ErrAlreadyRedeemed) true.
func (e *AlreadyRedeemedError) Is(target error) bool { return target == ErrAlreadyRedeemed }

// As lets callers find the Refusal behind it.
func (e *AlreadyRedeemedError) As(target any) bool {
	if r, ok := target.(**Refusal); ok {
		*r = ErrAlreadyRedeemed
		return true
	}
	return false
}

// Statuses a verification reports.
const (
	StatusActive      = "active"
	StatusRedeemed    = "redeemed"
	StatusExpired     = "expired"
	StatusNotYetValid = "not_yet_valid"
	StatusRevoked     = "revoked"
	StatusBlocked     = "blocked"
	StatusInvalid     = "invalid"
)

// Refusals of the register's day: holds and voids.
var (
	ErrReserved             = &Refusal{fraud.ReasonReserved, "every free use of the code is held by a reservation", StatusActive}
	ErrReservationExpired   = &Refusal{fraud.ReasonReservationExpired, "the reservation expired; its use is free again", StatusActive}
	ErrReservationReleased  = &Refusal{fraud.ReasonReservationReleased, "the reservation was released", StatusActive}
	ErrReservationConfirmed = &Refusal{fraud.ReasonReservationConfirmed, "the reservation was confirmed; void the redemption instead", StatusActive}
	ErrNotHolder            = &Refusal{fraud.ReasonNotHolder, "only the API key that made the reservation may do that", StatusActive}
	ErrVoidWindowPassed     = &Refusal{fraud.ReasonVoidWindowPassed, "the merchant's void window for this sale has passed", StatusActive}
	ErrRewardRevoked        = &Refusal{fraud.ReasonRevoked, "the reward was taken back with the stamps that earned it", StatusRevoked}
	// errUnknownEvent: the reservation, redemption or stamp id names nothing
	// of the caller's merchant. Is(ErrNotFound) holds.
	errUnknownEvent = &unknownEvent{}
)

type unknownEvent struct{}

func (*unknownEvent) Error() string        { return "no such reservation, redemption or stamp" }
func (*unknownEvent) Is(target error) bool { return target == ErrNotFound }
func (*unknownEvent) As(target any) bool {
	// A refusal, so that the write ends cleanly; the API answers 404.
	if r, ok := target.(**Refusal); ok {
		*r = &Refusal{fraud.ReasonNotFound, "no such reservation, redemption or stamp", StatusInvalid}
		return true
	}
	return false
}

// ReservedError says who holds the last free use of a code, and until when.
type ReservedError struct {
	Until    time.Time
	Register string
}

func (e *ReservedError) Error() string {
	return fmt.Sprintf("reserved until %s by %s", e.Until.Format(time.RFC3339), e.Register)
}

// Is makes errors.Is(err, ErrReserved) true.
func (e *ReservedError) Is(target error) bool { return target == ErrReserved }

// As lets callers find the Refusal behind it.
func (e *ReservedError) As(target any) bool {
	if r, ok := target.(**Refusal); ok {
		*r = ErrReserved
		return true
	}
	return false
}
