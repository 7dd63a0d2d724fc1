package till

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/stampseal/stampseal/client"
	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/offline"
)

// maxBody is the largest request a point of sale may send, as on the server.
const maxBody = 64 << 10

// Handler serves the register routes, /healthz and /metrics to the point
// of sale. The register routes take the till's own register token.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/verify", func(w http.ResponseWriter, r *http.Request) { a.serve(w, r, opVerify) })
	mux.HandleFunc("POST /v1/redeem", func(w http.ResponseWriter, r *http.Request) { a.serve(w, r, client.OpRedeem) })
	mux.HandleFunc("POST /v1/cards/stamp", func(w http.ResponseWriter, r *http.Request) { a.serve(w, r, client.OpStamp) })
	mux.HandleFunc("POST /v1/cards/claim", func(w http.ResponseWriter, r *http.Request) { a.serve(w, r, client.OpClaim) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, a.Health()) })
	mux.Handle("GET /metrics", a.metricsHandler())
	return mux
}

const opVerify = "verify"

var paths = map[string]string{opVerify: "/v1/verify", client.OpRedeem: "/v1/redeem", client.OpStamp: "/v1/cards/stamp", client.OpClaim: "/v1/cards/claim"}

// posRequest is every field the register routes take.
type posRequest struct {
	Code           string `json:"code"`
	ShortCode      string `json:"short_code"`
	CardCode       string `json:"card_code"`
	PunchCode      string `json:"punch_code"`
	Stamps         int    `json:"stamps"`
	Register       string `json:"register"`
	IdempotencyKey string `json:"idempotency_key"`

	generated bool // the agent made IdempotencyKey: the point of sale cannot retry with it
}

// scanner trailers (CR/LF after a scan) are not part of a code.
const blanks = " \t\r\n"

func (a *Agent) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(token), []byte(a.cfg.Token)) == 1
}

// serve answers one register call: the server's answer when it answers,
// the agent's own decision when it does not.
func (a *Agent) serve(w http.ResponseWriter, r *http.Request, op string) {
	if !a.authorized(r) {
		writeError(w, &refusal{http.StatusUnauthorized, "unauthenticated", "missing or unknown API key", nil}, false)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, &refusal{http.StatusRequestEntityTooLarge, "body_too_large", "request body must be at most 65536 bytes", nil}, false)
		return
	}
	var req posRequest
	parsed := json.Unmarshal(body, &req) == nil
	req.Code, req.CardCode, req.PunchCode = strings.Trim(req.Code, blanks), strings.Trim(req.CardCode, blanks), strings.Trim(req.PunchCode, blanks)

	if parsed && op != opVerify {
		if req.IdempotencyKey != "" {
			if prior := a.led.answered(req.IdempotencyKey); prior != nil {
				writeRaw(w, http.StatusOK, prior) // a retry of an answer given offline
				return
			}
		} else {
			// Every operation gets a key before it is forwarded, so that an
			// answer lost on the way and the queued operation are one.
			req.IdempotencyKey, req.generated = newKey(), true
			body = withField(body, "idempotency_key", req.IdempotencyKey)
		}
		if ref := a.usedHere(op, &req); ref != nil {
			writeError(w, ref, true)
			return
		}
	}

	// While the server is known to be away, the point of sale is not made
	// to wait for a timeout on every call: Run probes the server every
	// Retry and brings the agent back online.
	var ans answer
	err = errUnreachable
	if a.online.Load() {
		ans, err = a.up.forward(r.Context(), paths[op], body)
	}
	if err == nil {
		a.contact()
		a.keyAnswer(ans.status)
		if ans.status == http.StatusOK {
			a.noteOnlineUse(op, &req)
		}
		a.stats.decided(op, "online")
		writeRaw(w, ans.status, ans.body)
		return
	}
	if a.online.Load() {
		a.unreachable(err)
	}
	if !parsed {
		writeError(w, &refusal{http.StatusBadRequest, "invalid_json", "request body is not valid JSON", nil}, true)
		return
	}
	out, ref := a.decide(op, &req)
	if ref != nil {
		a.stats.decided(op, ref.code)
		writeError(w, ref, true)
		return
	}
	a.stats.decided(op, "offline")
	writeRaw(w, http.StatusOK, out)
}

// usedHere refuses a single-use code this till used offline and has not
// yet synced: forwarding it would let the server grant it a second time.
func (a *Agent) usedHere(op string, req *posRequest) *refusal {
	text := req.Code
	if op == client.OpClaim {
		text = req.PunchCode
	} else if op != client.OpRedeem {
		return nil
	}
	c, err := credential.Parse(text)
	if err != nil {
		return nil
	}
	var used *usedHere
	if errors.As(a.led.pendingUse(c.Claims.Serial.String(), maxUses(c)), &used) {
		return alreadyUsed(used)
	}
	return nil
}

func alreadyUsed(u *usedHere) *refusal {
	return &refusal{http.StatusConflict, "already_redeemed", "the code has already been used",
		map[string]any{"redeemed_at": u.At, "register": u.Register}}
}

// noteOnlineUse counts a single-use code the server granted, so that this
// till never honours it again offline.
func (a *Agent) noteOnlineUse(op string, req *posRequest) {
	text := req.Code
	switch op {
	case client.OpClaim:
		text = req.PunchCode
	case client.OpRedeem:
	default:
		return
	}
	if c, err := credential.Parse(text); err == nil {
		if err := a.led.noteUse(c.Claims.Serial.String(), req.Register, a.now().UTC()); err != nil {
			a.log.Error("till: note an online use", "err", err)
		}
	}
}

// decide answers an operation without the server.
func (a *Agent) decide(op string, req *posRequest) ([]byte, *refusal) {
	v := a.view.Load()
	switch {
	case a.disowned.Load():
		return nil, errDisowned
	case v == nil:
		return nil, errNoSnapshot
	case req.ShortCode != "":
		return nil, errShortOffline
	}
	now := a.now().UTC()
	switch op {
	case opVerify:
		return a.verifyOffline(v, req, now)
	case client.OpRedeem:
		return a.redeemOffline(v, req, now)
	case client.OpStamp:
		return a.stampOffline(v, req, now)
	case client.OpClaim:
		return a.claimOffline(v, req, now)
	}
	return nil, errInvalidRequest
}

func (a *Agent) lastContactTime() time.Time {
	if c := a.lastContact.Load(); c != 0 {
		return time.Unix(0, c)
	}
	return time.Time{}
}

func (a *Agent) verifyOffline(v *view, req *posRequest, now time.Time) ([]byte, *refusal) {
	c, ref := v.check(req.Code, now)
	res := map[string]any{"valid": ref == nil, "offline": true}
	if c != nil && (ref == nil || statusOf(ref) != "invalid") {
		res["kind"], res["serial"], res["merchant"] = c.Claims.Kind.String(), c.Claims.Serial.String(), c.Claims.Merchant
		if n := maxUses(c); n > 0 {
			res["uses_left"] = max(n-a.led.usesHere(c.Claims.Serial.String()), 0)
			if ref == nil && res["uses_left"] == 0 {
				ref = refused("already_redeemed", "")
				res["valid"], res["status"], res["reason"] = false, "redeemed", ref.code
				return mustJSON(res), nil
			}
		}
	}
	if ref != nil {
		res["status"], res["reason"] = statusOf(ref), ref.code
	} else {
		res["status"] = "active"
	}
	return mustJSON(res), nil
}

func (a *Agent) redeemOffline(v *view, req *posRequest, now time.Time) ([]byte, *refusal) {
	c, ref := v.check(req.Code, now)
	if ref == nil && c.Claims.Kind != credential.KindCoupon {
		ref = errWrongKind
	}
	if ref != nil {
		return nil, ref
	}
	p, value := v.policy(c)
	if ref := a.allowSingleUse(v, p, now); ref != nil {
		return nil, ref
	}
	serial := c.Claims.Serial.String()
	n := maxUses(c)
	q := queued{Op: client.SyncOperation{Op: client.OpRedeem, Code: req.Code, Register: req.Register, IdempotencyKey: req.IdempotencyKey, At: now},
		Serial: serial, Value: value, QueuedAt: now}
	return a.record(spend{q: q, maxUses: n, caps: v.snap.Policy.TillCaps, generatedKey: req.generated}, func(count int) map[string]any {
		return map[string]any{"redeemed": true, "serial": serial, "uses_left": max(n-count, 0), "redeemed_at": now,
			"register": req.Register, "offline": true, "queued": true}
	})
}

// allowSingleUse checks what a coupon or punch needs offline: the offer's
// policy and the merchant's conflict policy.
func (a *Agent) allowSingleUse(v *view, p offline.Policy, now time.Time) *refusal {
	if ref := v.allow(p, a.lastContactTime(), now); ref != nil {
		return ref
	}
	if v.snap.Policy.Conflicts == offline.Refuse {
		return errNotAllowed
	}
	return nil
}

func (a *Agent) stampOffline(v *view, req *posRequest, now time.Time) ([]byte, *refusal) {
	if req.Stamps == 0 {
		req.Stamps = 1
	}
	if req.Stamps < 1 || req.Stamps > 100 {
		return nil, &refusal{http.StatusBadRequest, "invalid_request", "stamps must be 1 to 100", nil}
	}
	c, ref := v.check(req.CardCode, now)
	if ref == nil && c.Claims.Kind != credential.KindCard {
		ref = errWrongKind
	}
	if ref != nil {
		return nil, ref
	}
	p, _ := v.policy(c)
	if ref := v.allow(p, a.lastContactTime(), now); ref != nil {
		return nil, ref
	}
	q := queued{Op: client.SyncOperation{Op: client.OpStamp, CardCode: req.CardCode, Stamps: req.Stamps, Register: req.Register,
		IdempotencyKey: req.IdempotencyKey, At: now}, QueuedAt: now}
	return a.record(spend{q: q, generatedKey: req.generated}, func(int) map[string]any {
		return map[string]any{"serial": c.Claims.Serial.String(), "added": req.Stamps, "rewards": []any{}, "offline": true, "queued": true}
	})
}

func (a *Agent) claimOffline(v *view, req *posRequest, now time.Time) ([]byte, *refusal) {
	card, ref := v.check(req.CardCode, now)
	if ref == nil && card.Claims.Kind != credential.KindCard {
		ref = errWrongKind
	}
	if ref != nil {
		return nil, ref
	}
	punch, ref := v.check(req.PunchCode, now)
	switch {
	case ref != nil:
		return nil, ref
	case punch.Claims.Kind != credential.KindPunch:
		return nil, errWrongKind
	case punch.Claims.Program != card.Claims.Program:
		return nil, errWrongProgram
	}
	p, _ := v.policy(punch)
	if ref := a.allowSingleUse(v, p, now); ref != nil {
		return nil, ref
	}
	q := queued{Op: client.SyncOperation{Op: client.OpClaim, CardCode: req.CardCode, PunchCode: req.PunchCode, Register: req.Register,
		IdempotencyKey: req.IdempotencyKey, At: now}, Serial: punch.Claims.Serial.String(), QueuedAt: now}
	return a.record(spend{q: q, maxUses: 1, caps: v.snap.Policy.TillCaps, generatedKey: req.generated}, func(int) map[string]any {
		return map[string]any{"serial": card.Claims.Serial.String(), "added": int(punch.Claims.Count), "rewards": []any{},
			"offline": true, "queued": true}
	})
}

// record writes an offline decision to the ledger and returns its answer.
func (a *Agent) record(s spend, answer func(usesHere int) map[string]any) ([]byte, *refusal) {
	count := 1
	if s.q.Serial != "" {
		count = a.led.usesHere(s.q.Serial) + 1
	}
	out := mustJSON(answer(count))
	if !s.generatedKey {
		s.answer = out
	}
	var used *usedHere
	switch err := a.led.record(s); {
	case err == nil:
		return out, nil
	case errors.As(err, &used):
		return nil, alreadyUsed(used)
	case errors.Is(err, errCapReached):
		return nil, errCapped
	default:
		a.log.Error("till: record an offline operation", "err", err)
		return nil, &refusal{http.StatusServiceUnavailable, "storage_unavailable", "the till's ledger cannot be written; nothing was recorded", nil}
	}
}

func newKey() string {
	var b [16]byte
	rand.Read(b[:])
	return "till-" + hex.EncodeToString(b[:])
}

// withField adds a string field to a JSON object.
func withField(body []byte, name, value string) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil || m == nil {
		return body
	}
	m[name] = mustJSON(value)
	return mustJSON(m)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeRaw(w, status, append(mustJSON(v), '\n'))
}

// writeError writes the contract's error shape; offline marks an answer
// the agent gave without the server.
func writeError(w http.ResponseWriter, r *refusal, offline bool) {
	e := map[string]any{"code": r.code, "message": r.message}
	for k, v := range r.details {
		e[k] = v
	}
	body := map[string]any{"error": e}
	if offline {
		body["offline"] = true
	}
	writeJSON(w, r.status, body)
}
