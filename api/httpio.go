package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"
)

// MaxBody is the largest request body accepted.
const MaxBody = 64 << 10

// decode reads a JSON body strictly: bounded size, no unknown fields, no
// trailing data.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	buf := bodyBufs.Get().(*bytes.Buffer)
	defer putBodyBuf(buf)
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, MaxBody)); err != nil {
		return bodyError(err)
	}
	body := buf.Bytes()                                      // no decoder keeps it: they copy what they take
	if fb, ok := v.(flatBody); ok && quickDecode(body, fb) { // quickjson.go
		return nil
	}
	return decodeStrict(body, v)
}

// bodyBufs are the buffers request bodies are read into: a new one per
// request was a tenth of the bytes the HTTP layer allocated.
var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putBodyBuf(b *bytes.Buffer) {
	if b.Cap() > 16<<10 {
		return // a rare big body: let it go rather than keep it
	}
	b.Reset()
	bodyBufs.Put(b)
}

// decodeStrict decodes body into v: checkJSON's refusals, then
// encoding/json with unknown fields and trailing data refused.
func decodeStrict(body []byte, v any) error {
	err := checkJSON(body, reflect.TypeOf(v)) // strictjson.go
	var problem *jsonProblem
	if errors.As(err, &problem) {
		return badRequest(problem.code, problem.err)
	}
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		err = dec.Decode(v)
		if err == nil && dec.Decode(new(json.RawMessage)) != io.EOF {
			err = errors.New("body must hold exactly one JSON object")
		}
	}
	if err == nil {
		return nil
	}
	return bodyError(err)
}

// bodyError maps an error reading or decoding a body to its answer.
func bodyError(err error) error {
	var tooLarge *http.MaxBytesError
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooLarge):
		return fail(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body must be at most %d bytes", MaxBody))
	case errors.Is(err, io.EOF):
		return badRequest("invalid_json", errors.New("request body is empty"))
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("invalid_json", errors.New("request body is not valid JSON"))
	case errors.As(err, &typeErr):
		return badRequest("invalid_json", fmt.Errorf("field %q has the wrong type", typeErr.Field))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badRequest("unknown_field", fmt.Errorf("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field ")))
	}
	return badRequest("invalid_json", err)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// duration parses an API duration field ("720h"); empty gives def.
func duration(field, v string, def time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, badRequest("invalid_request", fmt.Errorf("%s must be a duration like \"168h\"", field))
	}
	return d, nil
}
