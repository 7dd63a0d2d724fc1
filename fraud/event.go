package fraud

import "time"

// Op is what a register or issuer did with a code.
type Op string

// The operations the fraud module observes.
const (
	OpVerify Op = "verify"
	OpRedeem Op = "redeem"
	OpStamp  Op = "stamp"
	OpClaim  Op = "claim"
	OpIssue  Op = "issue"
)

// Results other than ResultOK are the snake_case refusal reasons of the API
// ("invalid_signature", "malformed", "expired", "not_yet_valid", "revoked",
// "blocked", "wrong_merchant", "unknown_key", "already_redeemed",
// "unissued_serial", "compromised_key", "limit_exceeded", "bad_short_code",
// "unknown_short_code").
const ResultOK = "ok"

// Event is one operation on one code, as the fraud module sees it. It never
// carries the code itself: CodeHash identifies a presented code well enough
// to count repeats.
type Event struct {
	Time         time.Time
	Op           Op
	Result       string
	Merchant     string // merchant of the API key that made the call
	CodeMerchant string // merchant named in the code, when it decoded
	Kind         string // card, punch or coupon, when it decoded
	Serial       string // hex serial, when it decoded
	KeyID        uint32 // Tink key id that signed the code, when it decoded
	Program      string // program of a card or punch
	Register     string // register name from the request
	APIKey       string // id (not token) of the API key that made the call
	Source       string // client IP address
	CodeHash     string // hex prefix of SHA-256 of the presented code
	Stamps       int    // stamps added by a stamp or claim
	Card         string // for a claim: serial of the card the punch went onto
	Retry        bool   // an idempotent retry: never a second use
	FirstUse     string // for already_redeemed: the register of the first use
}
