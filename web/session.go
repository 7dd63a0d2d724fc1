package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/stampseal/stampseal/access"
)

// Session settings.
const (
	// SessionCookie names the cookie that carries the session id.
	SessionCookie = "stampseal_session"
	// LoginCookie names the short-lived cookie that guards the sign-in form
	// against cross-site posts before a session exists.
	LoginCookie = "stampseal_login"
	// SessionTTL is how long a sign-in lasts; it does not slide.
	SessionTTL = 8 * time.Hour
	// MaxSessions bounds the sessions held in memory. Signing in beyond it
	// is refused: it never ends someone else's session.
	MaxSessions = 10000
	// MaxSessionsPerKey bounds one API key's sessions; signing in beyond it
	// ends that key's oldest session.
	MaxSessionsPerKey = 10
	// MaxSessionsPerMerchant bounds one merchant's sessions; signing in
	// beyond it ends the merchant's oldest session, never another
	// merchant's. MaxSessions/MaxSessionsPerMerchant merchants fit at once.
	MaxSessionsPerMerchant = 100
	// csrfField names the hidden form field that carries the CSRF token.
	csrfField = "csrf"
)

// session is one signed-in auditor. It holds who the API key is, never the
// key's token or hash.
type session struct {
	keyID, keyName string
	role           access.Role
	merchant       string
	merchantName   string
	anyMerchant    bool // the all-merchants admin: merchant is the one picked, "*" until then
	csrf           string
	flash          string
	expires        time.Time
}

// sessions is the in-memory session table, keyed by the SHA-256 of the
// session id so that the table never holds a cookie value and a map lookup
// leaks nothing useful through timing.
type sessions struct {
	mu  sync.Mutex
	m   map[[32]byte]*session
	ttl time.Duration
	max int
	// perKey and perMerchant bound one key's and one merchant's share.
	perKey, perMerchant int
	now                 func() time.Time
}

// errSessionsFull refuses a sign-in when every slot is held by live
// sessions of merchants other than the one signing in.
var errSessionsFull = errors.New("session table full")

func newSessions(ttl time.Duration, limit int, now func() time.Time) *sessions {
	return &sessions{m: make(map[[32]byte]*session), ttl: ttl, max: limit, now: now,
		perKey: min(MaxSessionsPerKey, limit), perMerchant: min(MaxSessionsPerMerchant, limit)}
}

// randomToken returns 256 random bits, base64url without padding.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails: see crypto/rand.Read
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for k and returns its id. Over a cap it ends
// the oldest session of the same key, else of the same merchant; when the
// whole table is held by other merchants' live sessions it refuses with
// errSessionsFull rather than sign anyone else out.
func (s *sessions) create(k access.Key, merchantName string) (id string, sess session, err error) {
	id = randomToken()
	sess = session{keyID: k.ID, keyName: k.Name, role: k.Role, merchant: k.Merchant, merchantName: merchantName,
		anyMerchant: k.ServesAll(), csrf: randomToken(), expires: s.now().Add(s.ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	sameKey := func(v *session) bool { return v.keyID == k.ID }
	sameMerchant := func(v *session) bool { return v.merchant == k.Merchant }
	switch {
	case s.countLocked(sameKey) >= s.perKey:
		s.endOldestLocked(sameKey)
	case s.countLocked(sameMerchant) >= s.perMerchant:
		s.endOldestLocked(sameMerchant)
	case len(s.m) >= s.max:
		if !s.endOldestLocked(sameMerchant) {
			return "", session{}, errSessionsFull
		}
	}
	c := sess
	s.m[sha256.Sum256([]byte(id))] = &c
	return id, sess, nil
}

func (s *sessions) countLocked(match func(*session) bool) int {
	n := 0
	for _, v := range s.m {
		if match(v) {
			n++
		}
	}
	return n
}

// endOldestLocked ends the matching session closest to its end.
func (s *sessions) endOldestLocked(match func(*session) bool) bool {
	var oldest [32]byte
	var at time.Time
	for h, v := range s.m {
		if match(v) && (at.IsZero() || v.expires.Before(at)) {
			oldest, at = h, v.expires
		}
	}
	if at.IsZero() {
		return false
	}
	delete(s.m, oldest)
	return true
}

func (s *sessions) sweepLocked() {
	now := s.now()
	for h, v := range s.m {
		if !now.Before(v.expires) {
			delete(s.m, h)
		}
	}
}

// get returns a copy of the live session with id, taking its flash message.
func (s *sessions) get(id string) (session, bool) {
	if id == "" || len(id) > 100 {
		return session{}, false
	}
	h := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.m[h]
	if v == nil {
		return session{}, false
	}
	if !s.now().Before(v.expires) {
		delete(s.m, h)
		return session{}, false
	}
	out := *v
	v.flash = ""
	return out, true
}

// alive reports whether id names a live session, leaving it untouched.
func (s *sessions) alive(id string) bool {
	if id == "" || len(id) > 100 {
		return false
	}
	h := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.m[h]
	return v != nil && s.now().Before(v.expires)
}

// setFlash leaves a message for the next page the session sees.
func (s *sessions) setFlash(id, msg string) {
	h := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.m[h]; v != nil {
		v.flash = msg
	}
}

// end removes a session.
func (s *sessions) end(id string) {
	h := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, h)
}

// len reports how many sessions are held.
func (s *sessions) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// validToken compares a submitted token with the expected one in constant
// time; an empty expected token never matches.
func validToken(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// cookie builds a cookie scoped to the review page.
func cookie(r *http.Request, name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: Prefix, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
		c.Expires = time.Now().Add(maxAge)
	} else {
		c.MaxAge = -1
	}
	return c
}

// current returns the request's session and its id.
func (u *UI) current(r *http.Request) (string, session, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return "", session{}, false
	}
	s, ok := u.sessions.get(c.Value)
	return c.Value, s, ok
}

// keyGone ends the session id when its API key was revoked, expired or
// removed since sign-in, answering 401 with the sign-in page; a session is
// only as good as its key, on every request. It reports whether it ended
// the session.
func (u *UI) keyGone(w http.ResponseWriter, r *http.Request, id string, s *session) bool {
	err := u.Access.Check(s.keyID)
	if err == nil {
		return false
	}
	u.sessions.end(id)
	http.SetCookie(w, cookie(r, SessionCookie, "", 0))
	notice := "Your session has ended. Sign in again to continue."
	switch {
	case errors.Is(err, access.ErrKeyRevoked):
		notice = "The API key of this session was revoked, so the session has ended. Sign in with a key that is still valid."
	case errors.Is(err, access.ErrKeyExpired):
		notice = "The API key of this session has expired, so the session has ended. Sign in with a key that is still valid."
	case !errors.Is(err, access.ErrUnauthenticated):
		u.log.Error("ui session check", "key_id", s.keyID, "err", err)
	}
	u.log.Warn("ui session ended: key no longer valid", "key_id", s.keyID, "merchant", s.merchant, "err", err)
	u.showLogin(w, r, http.StatusUnauthorized, "", notice)
	return true
}

// pageFunc is a page that needs a session; id is the session's id.
type pageFunc func(w http.ResponseWriter, r *http.Request, id string, s *session)

// signedIn serves h to a signed-in auditor and sends anyone else to the
// sign-in page.
func (u *UI) signedIn(h pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, s, ok := u.current(r)
		if !ok {
			seeOther(w, r, Prefix+"login")
			return
		}
		if u.keyGone(w, r, id, &s) || u.mustPick(w, r, &s) {
			return
		}
		h(w, r, id, &s)
	}
}

// signedInPost is signedIn for a form post: the body is bounded and parsed,
// the request must come from this origin and carry the session's CSRF token.
func (u *UI) signedInPost(h pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, s, ok := u.current(r)
		if !ok {
			seeOther(w, r, Prefix+"login?expired=1")
			return
		}
		if u.keyGone(w, r, id, &s) || u.mustPick(w, r, &s) {
			return
		}
		if !u.parseForm(w, r, &s) {
			return
		}
		if err := u.origin.Check(r); err != nil || !validToken(s.csrf, r.PostFormValue(csrfField)) {
			u.log.Warn("ui post refused: missing or wrong CSRF token", "path", routeName(r), "key_id", s.keyID, "merchant", s.merchant)
			u.fail(w, r, &s, http.StatusForbidden, "Request refused",
				"This form did not come from this page, or it is stale. Go back, reload the page and try again.", nil)
			return
		}
		h(w, r, id, &s)
	}
}

// SignedIn reports whether r carries the cookie of a live session; the
// API lets such requests use the budget of authenticated callers.
func (u *UI) SignedIn(r *http.Request) bool {
	c, err := r.Cookie(SessionCookie)
	return err == nil && u.sessions.alive(c.Value)
}

// parseForm reads a bounded form body, rendering the error itself.
func (u *UI) parseForm(w http.ResponseWriter, r *http.Request, s *session) bool {
	return u.parseFormMax(w, r, s, MaxForm)
}

// parseFormMax is parseForm with a size limit of its own.
func (u *UI) parseFormMax(w http.ResponseWriter, r *http.Request, s *session, limit int64) bool {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			u.fail(w, r, s, http.StatusRequestEntityTooLarge, "Form too large",
				fmt.Sprintf("The form could not be read: it must be smaller than %d KiB.", limit>>10), err)
		} else {
			u.fail(w, r, s, http.StatusBadRequest, "Form not readable", "The form could not be read.", err)
		}
		return false
	}
	return true
}

// sessionView is what a page may show of s.
func (u *UI) sessionView(s *session) *sessionView {
	v := &sessionView{KeyName: s.keyName, KeyID: s.keyID, Role: s.role, Merchant: s.merchant,
		MerchantName: s.merchantName, CSRF: s.csrf}
	if n, err := u.Fraud.OpenCount(s.merchant); err == nil {
		v.OpenCount = n
	}
	return v
}

// mustPick sends the all-merchants admin to the merchant picker until a
// merchant is picked; every other page shows one merchant.
func (u *UI) mustPick(w http.ResponseWriter, r *http.Request, s *session) bool {
	if s.merchant != access.AllMerchants || r.URL.Path == Prefix+"merchant" {
		return false
	}
	seeOther(w, r, Prefix+"merchant")
	return true
}
