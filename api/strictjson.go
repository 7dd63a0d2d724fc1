package api

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
)

// encoding/json, even with DisallowUnknownFields, accepts three things a
// strict reader of hostile input must not: the same name twice in one
// object (the last one wins, so two readers of one body can disagree),
// a name that matches a field only when case is ignored ("Code" for
// "code"), and Unicode bidi controls, which make one text display as
// another on a receipt or a review page. checkJSON walks a body's tokens
// against the type it will be decoded into and refuses all three; the
// decode that follows does everything else.

// maxJSONDepth bounds nesting; no request of API v1 nests beyond 4.
const maxJSONDepth = 32

// errJSONSyntax makes checkJSON leave syntax errors to the decoder, which
// reports them with the API's usual error.
var errJSONSyntax = errors.New("json syntax")

// jsonProblem is a refusal of checkJSON.
type jsonProblem struct {
	code string
	err  error
}

func (p *jsonProblem) Error() string { return p.err.Error() }

// checkJSON reports the first duplicate name, case-insensitive name match
// or bidi control in body, decoded into a value of type t.
func checkJSON(body []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	err := walkJSON(dec, t, 0)
	if errors.Is(err, errJSONSyntax) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return nil
	}
	return err
}

func walkJSON(dec *json.Decoder, t reflect.Type, depth int) error {
	if depth > maxJSONDepth {
		return &jsonProblem{"invalid_json", fmt.Errorf("body nests deeper than %d levels", maxJSONDepth)}
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	t = indirect(t)
	switch v := tok.(type) {
	case string:
		if hasBidi(v) {
			return &jsonProblem{"invalid_request", errors.New("text must not contain Unicode bidi control characters")}
		}
	case json.Delim:
		switch v {
		case '{':
			return walkObject(dec, t, depth)
		case '[':
			var elem reflect.Type
			if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
				elem = t.Elem()
			}
			for dec.More() {
				if err := walkJSON(dec, elem, depth+1); err != nil {
					return err
				}
			}
			_, err := dec.Token() // ']'
			return err
		default:
			return errJSONSyntax
		}
	}
	return nil
}

func walkObject(dec *json.Decoder, t reflect.Type, depth int) error {
	var fields *jsonFields
	var elem reflect.Type
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fields = fieldsOf(t)
		case reflect.Map:
			elem = t.Elem()
		}
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, ok := tok.(string)
		if !ok {
			return errJSONSyntax
		}
		switch {
		case seen[name]:
			return &jsonProblem{"invalid_json", fmt.Errorf("field %q appears twice", name)}
		case hasBidi(name):
			return &jsonProblem{"invalid_request", errors.New("field names must not contain Unicode bidi control characters")}
		}
		seen[name] = true
		next := elem
		if fields != nil {
			if ft, ok := fields.exact[name]; ok {
				next = ft
			} else if want, ok := fields.folded[strings.ToLower(name)]; ok {
				return &jsonProblem{"unknown_field", fmt.Errorf("unknown field %q (field names are case-sensitive: did you mean %q?)", name, want)}
			}
		}
		if err := walkJSON(dec, next, depth+1); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// indirect is t without pointers; nil for interface types and types that
// decode themselves, which take any shape (their names are still checked
// for duplicates and bidi controls).
func indirect(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() == reflect.Interface {
		return nil
	}
	if p := reflect.PointerTo(t); p.Implements(jsonUnmarshaler) || p.Implements(textUnmarshaler) {
		return nil
	}
	return t
}

// jsonFields are the JSON names of a struct's fields, as encoding/json
// sees them.
type jsonFields struct {
	exact  map[string]reflect.Type
	folded map[string]string // lower case -> the exact name
}

var fieldCache sync.Map // reflect.Type -> *jsonFields

func fieldsOf(t reflect.Type) *jsonFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*jsonFields)
	}
	f := &jsonFields{exact: map[string]reflect.Type{}, folded: map[string]string{}}
	collectFields(t, f, 0)
	fieldCache.Store(t, f)
	return f
}

func collectFields(t reflect.Type, f *jsonFields, depth int) {
	if depth > 8 {
		return
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			if et := indirect(sf.Type); et != nil && et.Kind() == reflect.Struct {
				collectFields(et, f, depth+1)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if _, dup := f.exact[name]; dup {
			continue
		}
		f.exact[name] = sf.Type
		f.folded[strings.ToLower(name)] = name
	}
}

// hasBidi reports whether s holds a Unicode bidi control character
// (Unicode 15, UAX #9: ALM, LRM, RLM, LRE..RLO, LRI..PDI).
func hasBidi(s string) bool {
	for _, r := range s {
		switch {
		case r == 0x061C, r == 0x200E, r == 0x200F, r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
			return true
		}
	}
	return false
}
