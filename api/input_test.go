package api_test

import (
	"strings"
	"testing"
)

func TestBadInputGetsClearErrors(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	s.must(201, "POST", "/v1/programs", sh.issuer, map[string]any{"merchant": "bakery-1", "id": "coffee", "stamps_required": 10, "reward": "free coffee", "reward_valid_for": "720h"})
	big := `{"code":"` + strings.Repeat("A", 70<<10) + `"}`
	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"a body over 64 KiB is 413", "POST", "/v1/verify", sh.register, big, 413, "body_too_large"},
		{"an unknown field is 400", "POST", "/v1/verify", sh.register, `{"code":"x","extra":1}`, 400, "unknown_field"},
		{"broken JSON is 400", "POST", "/v1/redeem", sh.register, `{"code":`, 400, "invalid_json"},
		{"an empty body is 400", "POST", "/v1/redeem", sh.register, ``, 400, "invalid_json"},
		{"two JSON objects are 400", "POST", "/v1/redeem", sh.register, `{"code":"x"}{"code":"y"}`, 400, "invalid_json"},
		{"a wrong type is 400", "POST", "/v1/coupons", sh.issuer, `{"merchant":"bakery-1","offer":"x","count":"3"}`, 400, "invalid_json"},
		{"a bad duration is 400", "POST", "/v1/coupons", sh.issuer, map[string]any{"merchant": "bakery-1", "offer": "x", "valid_for": "a week"}, 400, "invalid_request"},
		{"a negative duration is 400", "POST", "/v1/coupons", sh.issuer, map[string]any{"merchant": "bakery-1", "offer": "x", "valid_for": "-1h"}, 400, "invalid_request"},
		{"too many coupons is 400", "POST", "/v1/coupons", sh.issuer, map[string]any{"merchant": "bakery-1", "offer": "x", "count": 1001}, 400, "invalid_request"},
		{"a negative count is 400", "POST", "/v1/coupons", sh.issuer, map[string]any{"merchant": "bakery-1", "offer": "x", "count": -1}, 400, "invalid_request"},
		{"an empty offer is 400", "POST", "/v1/coupons", sh.issuer, map[string]any{"merchant": "bakery-1", "offer": ""}, 400, "invalid_request"},
		{"a bad merchant id is 400", "POST", "/v1/merchants", adminToken, map[string]any{"id": "Bad Id!", "name": "x"}, 400, "invalid_request"},
		{"an unknown role is 400", "POST", "/v1/apikeys", adminToken, map[string]any{"merchant": "bakery-1", "role": "owner", "name": "x"}, 400, "invalid_request"},
		{"a key for an unknown merchant is 404", "POST", "/v1/apikeys", adminToken, map[string]any{"merchant": "nope", "role": "issuer", "name": "x"}, 404, "unknown_merchant"},
		{"a card of an unknown program is 404", "POST", "/v1/cards", sh.issuer, map[string]any{"merchant": "bakery-1", "program": "tea"}, 404, "unknown_program"},
		{"a program twice is 409", "POST", "/v1/programs", sh.issuer, map[string]any{"merchant": "bakery-1", "id": "coffee", "stamps_required": 10, "reward": "r", "reward_valid_for": "24h"}, 409, "program_exists"},
		{"zero stamps required is 400", "POST", "/v1/programs", sh.issuer, map[string]any{"merchant": "bakery-1", "id": "tea", "stamps_required": 0, "reward": "r", "reward_valid_for": "24h"}, 400, "invalid_request"},
		{"a punch of 1000 stamps is 400", "POST", "/v1/punches", sh.issuer, map[string]any{"merchant": "bakery-1", "program": "coffee", "stamps": 1000, "valid_for": "1h"}, 400, "invalid_request"},
		{"verify with no code is 400", "POST", "/v1/verify", sh.register, `{}`, 400, "invalid_request"},
		{"verify with code and short code is 400", "POST", "/v1/verify", sh.register, map[string]any{"code": "x", "short_code": "y"}, 400, "invalid_request"},
		{"a huge idempotency key is 400", "POST", "/v1/redeem", sh.register, map[string]any{"code": "x", "idempotency_key": strings.Repeat("k", 200)}, 400, "invalid_request"},
		{"garbage as a code is 422 malformed", "POST", "/v1/redeem", sh.register, map[string]any{"code": "\x00\xff garbage"}, 422, "malformed"},
		{"a garbage short code is 422", "POST", "/v1/redeem", sh.register, map[string]any{"short_code": "!!!"}, 422, "bad_short_code"},
		{"stamping with no card is 400", "POST", "/v1/cards/stamp", sh.register, map[string]any{"stamps": 1}, 400, "invalid_request"},
		{"a claim without a punch is 400", "POST", "/v1/cards/claim", sh.register, map[string]any{"card_code": "x"}, 400, "invalid_request"},
		{"a bad serial is 404", "GET", "/v1/credentials/zzz", sh.register, nil, 404, "not_found"},
		{"an unknown path is 404", "GET", "/v1/nothing", sh.register, nil, 404, "not_found"},
		{"a wrong method is 405", "GET", "/v1/redeem", sh.register, nil, 405, "method_not_allowed"},
		{"a bad alert filter is 400", "GET", "/v1/alerts?severity=apocalyptic", sh.auditor, nil, 400, "invalid_request"},
		{"an unknown symbology is 400", "GET", "/v1/credentials/00000000000000000000000000000000/barcode.png?symbology=morse", sh.issuer, nil, 404, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.do(tc.method, tc.path, tc.token, tc.body)
			if got.status != tc.status || got.str("error", "code") != tc.code || got.str("error", "message") == "" {
				t.Errorf("got %d %.200s; want %d with error code %q and a message", got.status, got.raw, tc.status, tc.code)
			}
		})
	}
}
