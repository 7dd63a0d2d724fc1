package verify

import "time"

// Throttle says whether an API key is being slowed down for sending too
// many invalid codes; fraud.Monitor is one. Only the authenticated key is
// ever throttled, never a register label or an address.
type Throttle interface {
	Throttled(merchant, keyID string) (time.Duration, bool)
}

// WithThrottle refuses requests that could be guesses from keys t slows
// down.
func WithThrottle(t Throttle) Option { return func(v *Verifier) { v.throttle = t } }

// ThrottledError refuses a request that could be a guess (Guessable) from
// an API key being slowed down for guessing. A real card or coupon is still
// served, so a throttled till keeps serving customers.
type ThrottledError struct {
	Wait time.Duration // until the key may guess again
}

func (e *ThrottledError) Error() string {
	return "too many invalid codes from this API key; wait before trying again"
}

// throttled refuses req when it could be a guess and its key is being
// slowed down. It runs before anything else: a refused guess is neither
// decided nor reported.
// The key is looked up first: that is a map read, while telling a guess
// parses the code, which an unthrottled key (nearly every one) never needs.
func (v *Verifier) throttled(req *Request) error {
	if v.throttle == nil {
		return nil
	}
	wait, ok := v.throttle.Throttled(req.Merchant, req.APIKey)
	if !ok || !Guessable(*req) {
		return nil
	}
	return &ThrottledError{Wait: wait}
}
