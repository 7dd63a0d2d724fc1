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

// Event is one operation on one code, as the fraud module sees it. It never
// carries the code itself: CodeHash identifies a presented code well enough
// to count repeats.
//
// APIKey, the id of the authenticated API key, is who did it: incidents,
// throttles and counts are keyed on it. Register is the label the client
// chose and Source its address: both are evidence only.
type Event struct {
	Time         time.Time
	Op           Op
	Result       Reason
	Merchant     string // merchant of the API key that made the call
	CodeMerchant string // merchant named in the code, when it decoded
	Kind         string // card, punch or coupon, when it decoded
	Serial       string // hex serial, when it decoded
	KeyID        uint32 // Tink key id that signed the code, when it decoded
	Program      string // program of a card or punch
	Register     string // register label from the request: evidence only
	APIKey       string // id (not token) of the API key that made the call
	Source       string // client IP address: evidence only
	CodeHash     string // hex prefix of SHA-256 of the presented code
	Stamps       int    // stamps added by a stamp or claim
	Rewards      int    // reward coupons a stamp or claim paid out
	Card         string // for a claim: serial of the card the punch went onto
	Retry        bool   // an idempotent retry: never a second use
	// Offline marks an operation a till decided offline and synced later:
	// a used code there is a conflict, raised as offline_double_spend by
	// the sync (RaiseDoubleSpend), not a replay as well.
	Offline    bool
	FirstUse   string // for already_redeemed: the register of the first use
	FirstUseAt time.Time
	// Before is the serial's previous use by a register (a stamp, claim or
	// redemption), read from the ledger in the same transaction as this
	// use, when the ledger is shared by several nodes: a use made through
	// another node reaches the detectors by it. Zero when not known.
	Before Use
	// Shaped marks a malformed code that has stampseal's prefix and valid
	// Base45 but no valid content: made up or tampered with, not mis-scanned
	// (a QR or barcode reads all or nothing).
	Shaped bool
}
