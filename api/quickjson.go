package api

import "strconv"

// The register's bodies (verify, redeem, stamp, claim) are the requests a
// busy shop sends most, and the strict decoder (checkJSON's token walk,
// then encoding/json) was about forty allocations and a tenth of a
// redemption's own CPU. quickDecode reads the common shape of those bodies
// by hand: one flat object whose members are all fields of the target,
// each at most once, with string values of printable ASCII without
// escapes and integers without fraction or exponent. For anything else,
// an unknown or repeated name, an escape, a non-ASCII byte, a null, a
// wrong type, trailing data, it gives up, and decode takes the strict path,
// which gives the answer (and the error code) it always gave. So it can
// only ever accept what the strict path accepts, with the same values:
// FuzzQuickDecode holds it to that.

// flatBody is a request body that quickDecode may fill: field names the
// member's destination, a string or an int (both nil: not a field); reset
// makes it zero again.
type flatBody interface {
	field(name []byte) (s *string, n *int)
	reset()
}

func (c *codeRequest) reset()  { *c = codeRequest{} }
func (s *stampRequest) reset() { *s = stampRequest{} }
func (c *claimRequest) reset() { *c = claimRequest{} }

func (c *codeRequest) field(name []byte) (*string, *int) {
	switch string(name) {
	case "code":
		return &c.Code, nil
	case "short_code":
		return &c.ShortCode, nil
	case "register":
		return &c.Register, nil
	case "idempotency_key":
		return &c.IdempotencyKey, nil
	}
	return nil, nil
}

func (s *stampRequest) field(name []byte) (*string, *int) {
	switch string(name) {
	case "card_code":
		return &s.CardCode, nil
	case "short_code":
		return &s.ShortCode, nil
	case "stamps":
		return nil, &s.Stamps
	case "register":
		return &s.Register, nil
	case "idempotency_key":
		return &s.IdempotencyKey, nil
	}
	return nil, nil
}

func (c *claimRequest) field(name []byte) (*string, *int) {
	switch string(name) {
	case "card_code":
		return &c.CardCode, nil
	case "punch_code":
		return &c.PunchCode, nil
	case "register":
		return &c.Register, nil
	case "idempotency_key":
		return &c.IdempotencyKey, nil
	}
	return nil, nil
}

// maxQuickFields bounds the members quickDecode tracks for repeats; no
// flat body has more fields.
const maxQuickFields = 8

// quickDecode fills v, a zero value, from body and reports true, or
// reports false, having made v zero again, when body is not of the plain
// shape it reads.
func quickDecode(body []byte, v flatBody) bool {
	if quickFill(body, v) {
		return true
	}
	v.reset()
	return false
}

func quickFill(body []byte, v flatBody) bool {
	var seen [maxQuickFields][]byte // the names so far: a name twice is left to the strict path
	nseen := 0
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return false
	}
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return skipSpace(body, i+1) == len(body)
	}
	for {
		name, j, ok := plainString(body, i)
		if !ok {
			return false
		}
		s, n := v.field(name)
		if s == nil && n == nil {
			return false
		}
		for _, p := range seen[:nseen] {
			if string(p) == string(name) {
				return false
			}
		}
		if nseen == len(seen) {
			return false
		}
		seen[nseen] = name
		nseen++
		i = skipSpace(body, j)
		if i >= len(body) || body[i] != ':' {
			return false
		}
		i = skipSpace(body, i+1)
		if s != nil {
			val, j, ok := plainString(body, i)
			if !ok {
				return false
			}
			*s = string(val)
			i = j
		} else {
			val, j, ok := plainInt(body, i)
			if !ok {
				return false
			}
			*n = val
			i = j
		}
		i = skipSpace(body, i)
		if i >= len(body) {
			return false
		}
		switch body[i] {
		case ',':
			i = skipSpace(body, i+1)
		case '}':
			return skipSpace(body, i+1) == len(body)
		default:
			return false
		}
	}
}

// skipSpace is the first index at or after i that is not JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// plainString reads a JSON string at b[i] made only of printable ASCII
// without escapes, and returns its contents and the index after it.
func plainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\', c < 0x20, c > 0x7e:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// plainInt reads a JSON integer at b[i] (no fraction, no exponent, at most
// 18 digits, so that it fits any int of 64 bits) and returns it and the
// index after it.
func plainInt(b []byte, i int) (int, int, bool) {
	j := i
	if j < len(b) && b[j] == '-' {
		j++
	}
	start := j
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	digits := j - start
	if digits == 0 || digits > 18 || (digits > 1 && b[start] == '0') {
		return 0, 0, false
	}
	if j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E') {
		return 0, 0, false
	}
	n, err := strconv.ParseInt(string(b[i:j]), 10, 64)
	if err != nil || int64(int(n)) != n {
		return 0, 0, false
	}
	return int(n), j, true
}
