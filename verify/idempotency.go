package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
)

// MaxIdempotencyKey bounds the length of a client's idempotency key.
const MaxIdempotencyKey = 128

// IdempotencyTTL is how long the first answer to an idempotency key is
// given again to retries (as payment APIs keep theirs for a day).
const IdempotencyTTL = 24 * time.Hour

// fingerprint identifies a request, so that one key cannot be reused for
// another request (as payment APIs refuse it).
func fingerprint(parts ...string) string {
	h := sha256.New()
	var buf []byte
	for _, p := range parts {
		buf = append(strconv.AppendInt(buf[:0], int64(len(p)), 10), ':') // "%d:%s", without fmt
		h.Write(buf)
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// remember returns the answer record for a request, or nil when the
// request has no idempotency key. An idempotency key belongs to the API key
// that sent it, as a payment API's keys belong to their caller: two tills
// may both send "sale-1", and neither can replay or block the other's.
// The request's parts are fingerprinted only then: most requests carry no
// key, and the hash is a measurable share of a redemption's CPU.
func remember(merchant, apiKey, key string, request ...string) *answer {
	if key == "" {
		return nil
	}
	return &answer{Key: keyOf(merchant, fmt.Sprintf("%d:%s%s", len(apiKey), apiKey, key)), Fingerprint: fingerprint(request...)}
}

// ForgetIdempotency stops giving answers older than IdempotencyTTL to
// retries and reports how many it forgot; run it periodically so that
// memory does not grow with every request. The answers stay in the
// journal as history.
func (v *Verifier) ForgetIdempotency() int {
	cut := v.now().Add(-IdempotencyTTL)
	if v.idx == nil {
		n, _ := forgetAnswers(v.store, cut) // what a failure leaves is forgotten next time
		return n
	}
	return v.idx.forget(cut)
}
