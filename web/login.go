package web

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/audit"
)

// loginForm is the body of the sign-in template.
type loginForm struct {
	Token   string // guards the form: matches the login cookie
	Notice  string
	Problem string
}

// loginTTL bounds how long a sign-in form may stay open.
const loginTTL = time.Hour

// The sign-in form is read before anyone is known, so it is kept tiny and
// must arrive quickly: a form token and an API key are under 200 bytes.
const (
	MaxLoginForm     = 2 << 10
	loginReadTimeout = 2 * time.Second
)

func (u *UI) home(w http.ResponseWriter, r *http.Request, _ string, _ *session) {
	http.Redirect(w, r, Prefix+"alerts", http.StatusFound)
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := u.current(r); ok {
		http.Redirect(w, r, Prefix+"alerts", http.StatusFound)
		return
	}
	notice := ""
	switch {
	case r.URL.Query().Has("signed_out"):
		notice = "You are signed out."
	case r.URL.Query().Has("expired"):
		notice = "Your session has ended. Sign in again to continue."
	}
	u.showLogin(w, r, http.StatusOK, notice, "")
}

// showLogin renders the sign-in form with a fresh form token.
func (u *UI) showLogin(w http.ResponseWriter, r *http.Request, status int, notice, problem string) {
	token := randomToken()
	http.SetCookie(w, cookie(r, LoginCookie, token, loginTTL))
	u.render(w, r, status, "login", view{Title: "Sign in", Page: loginForm{Token: token, Notice: notice, Problem: problem}})
}

func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	src := clientAddr(r)
	if _, blocked := u.Failures.Blocked(src); blocked {
		u.log.Warn("ui sign-in refused: too many failed sign-ins from this address")
		w.Header().Set("Retry-After", "60")
		u.showLogin(w, r, http.StatusTooManyRequests, "", "Too many failed sign-ins from this address. Wait a minute and try again.")
		return
	}
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(loginReadTimeout))
	if !u.parseFormMax(w, r, nil, MaxLoginForm) {
		return
	}
	c, err := r.Cookie(LoginCookie)
	if u.origin.Check(r) != nil || err != nil || !validToken(c.Value, r.PostFormValue(csrfField)) {
		u.log.Warn("ui sign-in refused: form token missing or wrong")
		u.showLogin(w, r, http.StatusForbidden, "", "This sign-in form is stale or did not come from this page. Please try again.")
		return
	}
	token := strings.TrimSpace(r.PostFormValue("key"))
	if token == "" {
		u.showLogin(w, r, http.StatusUnauthorized, "", "Paste an API key to sign in.")
		return
	}
	k, err := u.Access.Authenticate(token)
	switch {
	case errors.Is(err, access.ErrKeyRevoked):
		u.log.Warn("ui sign-in refused: revoked API key")
		u.showLogin(w, r, http.StatusUnauthorized, "", "That API key was revoked. Ask an admin for a new one.")
		return
	case errors.Is(err, access.ErrKeyExpired):
		u.log.Warn("ui sign-in refused: expired API key")
		u.showLogin(w, r, http.StatusUnauthorized, "", "That API key has expired. Ask an admin for a new one.")
		return
	case errors.Is(err, access.ErrUnauthenticated):
		u.Failures.Failed(src)
		u.log.Warn("ui sign-in refused: unknown API key")
		u.showLogin(w, r, http.StatusUnauthorized, "", "That API key is not valid. Check that you pasted all of it.")
		return
	case err != nil:
		u.log.Error("ui sign-in: authenticate", "err", err)
		u.showLogin(w, r, http.StatusInternalServerError, "", "Signing in failed on the server. Try again in a moment.")
		return
	case !k.Can(k.Merchant, access.Auditor, access.Admin):
		u.log.Warn("ui sign-in refused: role", "key_id", k.ID, "role", k.Role)
		u.showLogin(w, r, http.StatusForbidden, "",
			"This key has the role \""+string(k.Role)+"\". Only auditor and admin keys can review alerts.")
		return
	}
	name := k.Merchant
	if m, err := u.Access.Merchant(k.Merchant); err == nil {
		name = m.Name
	}
	if old, err := r.Cookie(SessionCookie); err == nil {
		u.sessions.end(old.Value)
	}
	if u.Audit != nil {
		if err := u.Audit.Record(k.Merchant, audit.ReviewSignIn, k.Actor(clientAddr(r)), "review page", nil); err != nil {
			u.log.Error("ui sign-in: audit", "err", err)
			u.showLogin(w, r, http.StatusInternalServerError, "", "Signing in failed on the server. Try again in a moment.")
			return
		}
	}
	id, _, err := u.sessions.create(k, name)
	if err != nil {
		u.log.Error("ui sign-in refused: session table full", "key_id", k.ID, "merchant", k.Merchant)
		u.showLogin(w, r, http.StatusServiceUnavailable, "", "Too many people are signed in right now. Try again later.")
		return
	}
	http.SetCookie(w, cookie(r, SessionCookie, id, SessionTTL))
	http.SetCookie(w, cookie(r, LoginCookie, "", 0))
	u.log.Info("ui signed in", "key_id", k.ID, "merchant", k.Merchant, "role", k.Role)
	if k.ServesAll() {
		seeOther(w, r, Prefix+"merchant") // one merchant at a time: the admin picks
		return
	}
	seeOther(w, r, Prefix+"alerts")
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request, id string, s *session) {
	u.sessions.end(id)
	http.SetCookie(w, cookie(r, SessionCookie, "", 0))
	u.log.Info("ui signed out", "key_id", s.keyID, "merchant", s.merchant)
	seeOther(w, r, Prefix+"login?signed_out=1")
}

// clientAddr is the client's address without its port; stampseal does not
// trust forwarding headers.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// actor is the signed-in key as the audit trail names it.
func actor(r *http.Request, s *session) audit.Actor {
	return audit.Actor{KeyID: s.keyID, Name: s.keyName, Role: string(s.role), Source: clientAddr(r)}
}
