package fraud

// Reason is a decision on a presented code: ReasonOK, or the snake_case
// refusal the API answers with. verify's refusals are built from these
// constants and the detectors switch on them, so renaming one breaks the
// build instead of silently blinding a detector.
type Reason string

// The decisions. New ones may be added; the strings are part of the API
// and never change.
const (
	ReasonOK                   Reason = "ok"
	ReasonMalformed            Reason = "malformed"
	ReasonInvalidSignature     Reason = "invalid_signature"
	ReasonUnknownKey           Reason = "unknown_key"
	ReasonWrongMerchant        Reason = "wrong_merchant"
	ReasonUnissued             Reason = "unissued_serial"
	ReasonRevoked              Reason = "revoked"
	ReasonCompromisedKey       Reason = "compromised_key"
	ReasonBlocked              Reason = "blocked"
	ReasonExpired              Reason = "expired"
	ReasonNotYetValid          Reason = "not_yet_valid"
	ReasonWrongKind            Reason = "wrong_kind"
	ReasonWrongProgram         Reason = "wrong_program"
	ReasonLimitExceeded        Reason = "limit_exceeded"
	ReasonBadShortCode         Reason = "bad_short_code"
	ReasonUnknownShortCode     Reason = "unknown_short_code"
	ReasonAlreadyRedeemed      Reason = "already_redeemed"
	ReasonIdempotencyReused    Reason = "idempotency_key_reused"
	ReasonReserved             Reason = "reserved"
	ReasonReservationExpired   Reason = "reservation_expired"
	ReasonReservationReleased  Reason = "reservation_released"
	ReasonReservationConfirmed Reason = "reservation_confirmed"
	ReasonNotHolder            Reason = "not_holder"
	ReasonVoidWindowPassed     Reason = "void_window_passed"
	ReasonNotFound             Reason = "not_found"
	ReasonError                Reason = "error" // the service failed; not the code's fault
)

// ResultOK is the Result of an event whose operation succeeded.
const ResultOK = ReasonOK

// invalid reports whether a decision says the code itself is not genuine
// or not this merchant's: what a guesser or a forger produces.
func (r Reason) invalid() bool {
	switch r {
	case ReasonMalformed, ReasonInvalidSignature, ReasonUnknownKey, ReasonWrongMerchant,
		ReasonBadShortCode, ReasonUnknownShortCode:
		return true
	}
	return false
}
