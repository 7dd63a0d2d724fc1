package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// shape stands for the request bodies of API v1: nested structs, a map, a
// slice, an embedded struct and a free-form value.
type shape struct {
	embedded
	Code   string `json:"code"`
	Limits *struct {
		PerDay int `json:"per_day"`
	} `json:"limits"`
	Items []struct {
		Op string `json:"op"`
	} `json:"items"`
	Labels  map[string]string `json:"labels"`
	Any     any               `json:"any"`
	Skipped string            `json:"-"`
	When    time.Time         `json:"when"`
	Custom  custom            `json:"custom"`
}

// custom decodes itself, with names of its own choosing.
type custom struct{ Allowed bool }

func (c *custom) UnmarshalJSON(b []byte) error { return nil }

type embedded struct {
	Register string `json:"register"`
}

func TestCheckJSON(t *testing.T) {
	for _, tc := range []struct {
		name, body, code string
	}{
		{"a plain body passes", `{"code":"x","register":"till-1","limits":{"per_day":3},"items":[{"op":"a"}],"labels":{"A":"b"},"any":{"x":[1,{"y":2}]}}`, ""},
		{"a name twice is refused", `{"code":"x","code":"y"}`, "invalid_json"},
		{"a name twice in a nested object is refused", `{"limits":{"per_day":1,"per_day":2}}`, "invalid_json"},
		{"a name twice in an array element is refused", `{"items":[{"op":"a","op":"b"}]}`, "invalid_json"},
		{"a name twice in a free-form value is refused", `{"any":{"x":1,"x":2}}`, "invalid_json"},
		{"a name twice in a map is refused", `{"labels":{"a":"1","a":"2"}}`, "invalid_json"},
		{"a field name in another case is refused", `{"Code":"x"}`, "unknown_field"},
		{"an embedded field name in another case is refused", `{"REGISTER":"x"}`, "unknown_field"},
		{"a nested field name in another case is refused", `{"limits":{"Per_Day":1}}`, "unknown_field"},
		{"a type that decodes itself takes any names", `{"custom":{"Allowed":true,"x":1}}`, ""},
		{"a type that decodes itself still has no name twice", `{"custom":{"a":1,"a":2}}`, "invalid_json"},
		{"map keys keep their case", `{"labels":{"Code":"x","code":"y"}}`, ""},
		{"a bidi control in a value is refused", "{\"register\":\"till\u202e3\"}", "invalid_request"},
		{"a bidi isolate in a name is refused", "{\"labels\":{\"a\u2066\":\"x\"}}", "invalid_request"},
		{"an unknown field is left to the decoder", `{"nope":1}`, ""},
		{"a syntax error is left to the decoder", `{"code":`, ""},
		{"deep nesting is refused", `{"any":` + string(bytes.Repeat([]byte("["), 100)) + string(bytes.Repeat([]byte("]"), 100)) + `}`, "invalid_json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkJSON([]byte(tc.body), reflect.TypeOf(&shape{}))
			got := ""
			if p, ok := err.(*jsonProblem); ok {
				got = p.code
			} else if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if got != tc.code {
				t.Errorf("checkJSON = %q (%v), want %q", got, err, tc.code)
			}
		})
	}
}

// FuzzCheckJSON: any bytes, no panic; a body checkJSON passes decodes with
// encoding/json exactly as the same body with its names in order would,
// and holds no name twice at the top level.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{"code":"x"}`, `{"code":"x","code":"y"}`, `{"Code":1}`, `{"items":[{"op":"a"}]}`, "{\"register\":\"\u202e\"}", `[`, `{"any":{"a":{"b":[]}}}`, `{"labels":{"k":"v"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		err := checkJSON(body, reflect.TypeOf(&shape{}))
		if err != nil {
			if _, ok := err.(*jsonProblem); !ok {
				t.Fatalf("checkJSON returned a non-problem error %v", err)
			}
			return
		}
		var top map[string]json.RawMessage
		dec := json.NewDecoder(bytes.NewReader(body))
		if dec.Decode(&top) != nil {
			return
		}
		names := map[string]bool{}
		dec = json.NewDecoder(bytes.NewReader(body))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			return
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return
			}
			name := tok.(string)
			if names[name] {
				t.Fatalf("checkJSON passed %q, which names %q twice", body, name)
			}
			names[name] = true
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return
			}
		}
	})
}
