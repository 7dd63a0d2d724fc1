package api

import (
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/stampseal/stampseal/verify"
)

// The answers every register request gets (verify, redeem, stamp) are
// written without reflection: encoding/json's encoder was a few percent of
// a redemption's CPU. appendAnswer writes exactly what encoding/json
// writes for them (answers_test.go compares the two on random values, so a
// field added to one of these types fails it until it is added here); any
// other answer, and a stamp that paid out rewards, goes through
// encoding/json.

var answerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeAnswer writes v as writeJSON does, without reflection when it can.
func writeAnswer(w http.ResponseWriter, status int, v any) {
	bp := answerBufs.Get().(*[]byte)
	b, ok := appendAnswer((*bp)[:0], v)
	if !ok {
		answerBufs.Put(bp)
		writeJSON(w, status, v)
		return
	}
	h := w.Header()
	h["Content-Type"] = jsonContentType // api.go: no allocation
	h["Cache-Control"] = noStore
	w.WriteHeader(status)
	w.Write(b)
	*bp = b
	answerBufs.Put(bp)
}

// appendAnswer appends v's JSON and a newline, as json.Encoder.Encode
// does, and reports whether it knew v's type.
func appendAnswer(b []byte, v any) ([]byte, bool) {
	ok := true
	switch v := v.(type) {
	case verify.Redemption:
		ok = jsonTime(v.RedeemedAt)
		if ok {
			b = appendRedemption(b, &v)
		}
	case verify.Result:
		ok = v.Expires.IsZero() || jsonTime(v.Expires)
		if ok {
			b = appendResult(b, &v)
		}
	case verify.StampResult:
		ok = len(v.Rewards) == 0
		if ok {
			b = appendStamp(b, &v)
		}
	default:
		ok = false
	}
	if !ok {
		return b, false
	}
	return append(b, '\n'), true
}

func appendRedemption(b []byte, r *verify.Redemption) []byte {
	b = append(b, `{"redeemed":`...)
	b = appendBool(b, r.Redeemed)
	b = appendField(b, "redemption_id", r.RedemptionID)
	b = appendField(b, "serial", r.Serial)
	b = append(b, `,"uses_left":`...)
	b = appendInt(b, r.UsesLeft)
	b = append(b, `,"redeemed_at":`...)
	b = appendTime(b, r.RedeemedAt)
	b = appendField(b, "register", r.Register)
	return append(b, '}')
}

func appendResult(b []byte, r *verify.Result) []byte {
	b = append(b, `{"valid":`...)
	b = appendBool(b, r.Valid)
	b = appendNonEmpty(b, "kind", r.Kind)
	b = appendNonEmpty(b, "serial", r.Serial)
	b = appendNonEmpty(b, "merchant", r.Merchant)
	b = appendField(b, "status", r.Status)
	b = appendNonEmpty(b, "reason", r.Reason)
	if r.UsesLeft != nil {
		b = append(b, `,"uses_left":`...)
		b = appendInt(b, *r.UsesLeft)
	}
	b = appendNonEmpty(b, "offer", r.Offer)
	b = appendNonEmpty(b, "program", r.Program)
	if !r.Expires.IsZero() {
		b = append(b, `,"expires":`...)
		b = appendTime(b, r.Expires)
	}
	return append(b, '}')
}

func appendStamp(b []byte, s *verify.StampResult) []byte {
	b = append(b, '{')
	b = appendString(append(b, `"stamp_id":`...), s.StampID)
	b = appendField(b, "serial", s.Serial)
	b = append(b, `,"stamps":`...)
	b = appendInt(b, s.Stamps)
	b = append(b, `,"stamps_required":`...)
	b = appendInt(b, s.StampsRequired)
	b = append(b, `,"stamps_total":`...)
	b = appendInt(b, s.StampsTotal)
	b = append(b, `,"added":`...)
	b = appendInt(b, s.Added)
	b = append(b, `,"rewards":`...)
	if s.Rewards == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, "[]"...)
	}
	return append(b, '}')
}

// appendField appends ,"name":"value"; name needs no escaping.
func appendField(b []byte, name, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

// appendNonEmpty is appendField for an omitempty string.
func appendNonEmpty(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	return appendField(b, name, value)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

func appendInt(b []byte, n int) []byte {
	if n < 0 {
		b = append(b, '-')
		u := uint64(-(n + 1)) + 1 // no overflow at the smallest int
		return appendUint(b, u)
	}
	return appendUint(b, uint64(n))
}

func appendUint(b []byte, u uint64) []byte {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}

// jsonTime reports whether appendTime writes t as time.Time's MarshalJSON
// does: it refuses years outside 0 to 9999 and offsets with seconds.
func jsonTime(t time.Time) bool {
	_, off := t.Zone()
	return t.Year() >= 0 && t.Year() <= 9999 && off%60 == 0
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as encoding/json
// escapes it by default (HTML characters included, invalid UTF-8 as
// U+FFFD, U+2028 and U+2029 escaped).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
