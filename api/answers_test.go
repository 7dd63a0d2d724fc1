package api

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stampseal/stampseal/verify"
)

// Strings that encoding/json escapes in every way it has.
var awkward = []string{"", "till-3", `"quoted" \ back`, "<b>&amp;</b>", "tab\tnew\nline\rcr\bbs\fff\x00\x1f\x7f",
	"caf\u00e9 \u2028\u2029 \U0001F600", "bad \xff\xfe utf-8 \xe2\x82", "K7QF-3MZ9-W2XD"}

// fill sets every field of the struct v points to at random, failing on a
// kind it does not know: a field added to an answer type shows up here.
func fill(t *testing.T, rng *rand.Rand, v reflect.Value) {
	t.Helper()
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		switch {
		case sf.Type == reflect.TypeOf(time.Time{}):
			if rng.IntN(4) > 0 {
				at := time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)*int64(rng.IntN(2)))
				if rng.IntN(2) == 0 {
					at = at.UTC()
				} else {
					at = at.In(time.FixedZone("", (rng.IntN(48)-24)*1800))
				}
				f.Set(reflect.ValueOf(at))
			}
		case sf.Type.Kind() == reflect.String:
			f.SetString(awkward[rng.IntN(len(awkward))])
		case sf.Type.Kind() == reflect.Int:
			f.SetInt(rng.Int64N(2001) - 1000)
		case sf.Type.Kind() == reflect.Bool:
			f.SetBool(rng.IntN(2) == 0)
		case sf.Type.Kind() == reflect.Pointer && sf.Type.Elem().Kind() == reflect.Int:
			if rng.IntN(2) == 0 {
				n := rng.IntN(100)
				f.Set(reflect.ValueOf(&n))
			}
		case sf.Type.Kind() == reflect.Slice && sf.Name == "Rewards":
			if rng.IntN(2) == 0 {
				f.Set(reflect.MakeSlice(sf.Type, 0, 0)) // a paid-out reward goes through encoding/json
			}
		default:
			t.Fatalf("%s.%s: a field of a kind appendAnswer's test does not fill (%s); teach answers.go and this test", v.Type(), sf.Name, sf.Type)
		}
	}
}

// The hand-written answers are byte for byte what encoding/json writes.
func TestAnswersEncodeAsEncodingJSONDoes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, typ := range []reflect.Type{reflect.TypeOf(verify.Redemption{}), reflect.TypeOf(verify.Result{}), reflect.TypeOf(verify.StampResult{})} {
		for range 2000 {
			p := reflect.New(typ)
			fill(t, rng, p.Elem())
			v := p.Elem().Interface()
			var want bytes.Buffer
			if err := json.NewEncoder(&want).Encode(v); err != nil {
				t.Fatal(err)
			}
			got, ok := appendAnswer(nil, v)
			if !ok {
				t.Fatalf("appendAnswer(%T) did not take it", v)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("%T %+v:\n got %s\nwant %s", v, v, got, want.Bytes())
			}
		}
	}
}

// What appendAnswer does not write the same way goes through encoding/json.
func TestAnswersFallBackToEncodingJSON(t *testing.T) {
	for name, v := range map[string]any{
		"a year after 9999":      verify.Redemption{RedeemedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"an offset with seconds": verify.Result{Expires: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("LMT", 561))},
		"another type":           map[string]int{"a": 1},
	} {
		if _, ok := appendAnswer(nil, v); ok {
			t.Errorf("%s: appendAnswer took it", name)
		}
	}
	rec := httptest.NewRecorder()
	writeAnswer(rec, 200, verify.Redemption{Redeemed: true, Serial: "abc", RedeemedAt: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)})
	if got := rec.Body.String(); !strings.HasPrefix(got, `{"redeemed":true,`) || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("writeAnswer = %q, headers %v", got, rec.Header())
	}
}

func BenchmarkRedemptionAnswer(b *testing.B) {
	n := 3
	res := verify.Redemption{Redeemed: true, RedemptionID: "ev_00000000000012ab", Serial: "8f2a1c3d4e5f60718293a4b5c6d7e8f9",
		UsesLeft: n, RedeemedAt: time.Now().UTC(), Register: "till-3"}
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			writeJSON(httptest.NewRecorder(), 200, res)
		}
	})
	b.Run("appendAnswer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			writeAnswer(httptest.NewRecorder(), 200, res)
		}
	})
}
