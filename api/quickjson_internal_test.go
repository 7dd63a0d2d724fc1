package api

import (
	"strings"
	"testing"
)

// quickBodies are register bodies of every shape the quick reader must
// take or leave: what tills send, and what they must not get away with.
var quickBodies = []string{
	`{"code":"SS1:6BFA34*KM7 $%+-./:","register":"till-1","idempotency_key":"sale-1"}`,
	" \t\r\n{ \"short_code\" : \"K7QF-3MZ9-W2XD\" , \"register\" : \"till 3\" }\n",
	`{}`,
	`{"card_code":"SS1:X","stamps":3,"register":"r"}`,
	`{"card_code":"SS1:X","stamps":-2}`,
	`{"card_code":"SS1:X","stamps":0}`,
	`{"card_code":"SS1:X","stamps":-0}`,
	`{"card_code":"SS1:X","punch_code":"SS1:Y"}`,
	`{"stamps":999999999999999999}`,
	`{"stamps":9999999999999999999}`,
	`{"stamps":1.0}`,
	`{"stamps":1e2}`,
	`{"stamps":01}`,
	`{"stamps":"3"}`,
	`{"stamps":null}`,
	`{"code":null}`,
	`{"code":3}`,
	`{"code":true}`,
	`{"code":"a","code":"b"}`,
	`{"Code":"a"}`,
	`{"code":"a","nope":1}`,
	`{"code":"a"} {}`,
	`{"code":"a"}x`,
	`{"code":"a",}`,
	`{"code":"a"`,
	`{"code" "a"}`,
	`{"code":"a\"b"}`,
	`{"code":"a\u0041"}`,
	"{\"code\":\"caf\u00e9\"}",
	"{\"register\":\"till\u202e3\"}",
	"{\"code\":\"a\x01\"}",
	"{\"code\":\"\xff\"}",
	`[]`,
	`null`,
	``,
	`   `,
	`{"code":"a"}` + "\n\n",
	`{"code":"","short_code":"","register":"","idempotency_key":""}`,
}

// TestQuickDecodeTakesWhatTillsSend: the quick reader is used for the
// bodies registers send every second (else it would save nothing).
func TestQuickDecodeTakesWhatTillsSend(t *testing.T) {
	var c codeRequest
	if !quickDecode([]byte(quickBodies[0]), &c) {
		t.Fatal("a redeem body was left to the strict path")
	}
	if c != (codeRequest{Code: "SS1:6BFA34*KM7 $%+-./:", Register: "till-1", IdempotencyKey: "sale-1"}) {
		t.Fatalf("got %+v", c)
	}
	var s stampRequest
	if !quickDecode([]byte(quickBodies[3]), &s) || s != (stampRequest{CardCode: "SS1:X", Stamps: 3, Register: "r"}) {
		t.Fatalf("stamp body: %+v", s)
	}
	var cl claimRequest
	if !quickDecode([]byte(quickBodies[7]), &cl) || cl != (claimRequest{CardCode: "SS1:X", PunchCode: "SS1:Y"}) {
		t.Fatalf("claim body: %+v", cl)
	}
}

// TestQuickDecodeAgreesWithStrict runs the seeds without fuzzing.
func TestQuickDecodeAgreesWithStrict(t *testing.T) {
	for _, b := range quickBodies {
		checkQuickAgrees(t, []byte(b))
	}
}

// FuzzQuickDecode: whatever the quick reader accepts, the strict decoder
// accepts with the same values; whatever it leaves, it leaves untouched.
func FuzzQuickDecode(f *testing.F) {
	for _, b := range quickBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkQuickAgrees(t, body) })
}

func checkQuickAgrees(t *testing.T, body []byte) {
	t.Helper()
	agree(t, body, &codeRequest{}, &codeRequest{})
	agree(t, body, &stampRequest{}, &stampRequest{})
	agree(t, body, &claimRequest{}, &claimRequest{})
}

func agree[T comparable, P interface {
	*T
	flatBody
}](t *testing.T, body []byte, quick, strict P) {
	t.Helper()
	var zero T
	if !quickDecode(body, quick) {
		if *quick != zero {
			t.Fatalf("%q: the quick reader gave up but left %+v", body, *quick)
		}
		return
	}
	if err := decodeStrict(body, strict); err != nil {
		t.Fatalf("%q: the quick reader took it as %+v, the strict decoder refused it: %v", body, *quick, err)
	}
	if *quick != *strict {
		t.Fatalf("%q: quick %+v, strict %+v", body, *quick, *strict)
	}
	if strings.TrimSpace(string(body)) == "" {
		t.Fatalf("%q: an empty body was taken", body)
	}
}

func BenchmarkDecodeRedeemBody(b *testing.B) {
	body := []byte(`{"code":"SS1:NCNK0-3U9D$FG1T3S+9Z.0BYJWK1G7BR4BZR6OA1Q3 X2T8B0C-1C7C8WD+7HJ6LFG.-W3:3MJSV/GDHS7FMP36FAYDB0C4-DGS7X64F2GN6N$8CO*I8%DNR$5F:5GH0WX1R2FX6K6I1$VCR1-NBVTDM9P*L/O7FY6Q7RC2","register":"till-3","idempotency_key":"sale-1"}`)
	b.Run("quick", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c codeRequest
			if !quickDecode(body, &c) {
				b.Fatal("left to the strict path")
			}
		}
	})
	b.Run("strict", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c codeRequest
			if err := decodeStrict(body, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
