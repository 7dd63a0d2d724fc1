package fraud

// Operations of the register's day (holds and voids), beside those in
// event.go.
const (
	OpReserve Op = "reserve" // a use of a coupon held during checkout
	OpRelease Op = "release" // a hold ended without a use
	OpVoid    Op = "void"    // a redemption or stamp undone
)
