// Package web is the review page for security staff: server-rendered HTML
// under /ui/ where an auditor signs in with an API key, reads the fraud
// alerts of their merchant with their evidence, resolves them and blocks
// cards. It holds no business rule: fraud.Monitor decides, scoped to the
// merchant of the signed-in key.
//
// The page needs no JavaScript and loads nothing from another origin: the
// templates, the style sheet and the icon are embedded in the binary.
package web

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/verify"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is the path under which Mount serves every page.
const Prefix = "/ui/"

// MaxForm is the largest form body a POST may carry.
const MaxForm = 16 << 10

// ContentSecurityPolicy is sent with every answer: nothing but this origin,
// no inline script or style, forms post only here, never framed.
const ContentSecurityPolicy = "default-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'"

// Deps are the services the review page fronts.
type Deps struct {
	Access   *access.Service
	Fraud    *fraud.Monitor
	Verifier *verify.Verifier // optional: shows the status of an alert's card
	Audit    *audit.Trail     // optional: records sign-ins and actions, shows the trail
	Log      *slog.Logger     // optional
	// Failures throttles failed sign-ins per address; share the API's so
	// that a guesser cannot switch between the two. Optional.
	Failures *access.FailureThrottle
	// Report and Programs serve the owner's pages; without them only the
	// review pages are mounted.
	Report   Figures
	Programs Programs
}

// UI serves the review page. It is safe for concurrent use.
type UI struct {
	Deps
	log      *slog.Logger
	sessions *sessions
	pages    map[string]*template.Template
	static   http.Handler
	origin   *http.CrossOriginProtection
	now      func() time.Time
}

// New builds the review page; it panics if an embedded template does not
// parse, which a test catches.
func New(d Deps) *UI {
	u := &UI{Deps: d, log: d.Log, now: time.Now, origin: http.NewCrossOriginProtection()}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	u.sessions = newSessions(SessionTTL, MaxSessions, func() time.Time { return u.now() })
	u.pages = make(map[string]*template.Template)
	for _, name := range []string{"login", "alerts", "alert", "error", "audit", "owner", "programs", "campaigns", "keys", "merchant"} {
		u.pages[name] = template.Must(template.New("layout.html").Funcs(funcs).
			ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	u.static = http.StripPrefix(Prefix+"static/", http.FileServerFS(sub))
	return u
}

// Mount adds the review page to r, every route under /ui/.
func (u *UI) Mount(r *mux.Router) {
	r.Handle("/ui", u.secure(http.RedirectHandler(Prefix, http.StatusMovedPermanently)))
	// The front door: a browser opening the server's address finds the
	// review page (API clients use /v1/...).
	r.Handle("/", u.secure(http.RedirectHandler(Prefix, http.StatusFound))).Methods("GET", "HEAD")
	s := r.PathPrefix("/ui").Subrouter()
	s.Use(u.secure)
	s.HandleFunc("/", u.signedIn(u.home)).Methods("GET", "HEAD")
	s.HandleFunc("/login", u.loginPage).Methods("GET", "HEAD")
	s.HandleFunc("/login", u.login).Methods("POST")
	s.HandleFunc("/logout", u.signedInPost(u.logout)).Methods("POST")
	s.HandleFunc("/alerts", u.signedIn(u.alerts)).Methods("GET", "HEAD")
	s.HandleFunc("/alerts/{id}", u.signedIn(u.alert)).Methods("GET", "HEAD")
	s.HandleFunc("/alerts/{id}/resolve", u.signedInPost(u.resolve)).Methods("POST")
	s.HandleFunc("/credentials/{serial}/block", u.signedInPost(u.block)).Methods("POST")
	s.HandleFunc("/audit", u.signedIn(u.auditTrail)).Methods("GET", "HEAD")
	s.HandleFunc("/credentials/{serial}/unblock", u.signedInPost(u.unblock)).Methods("POST")
	u.mountOwner(s)
	s.PathPrefix("/static/").Handler(u.static).Methods("GET", "HEAD")
	// Anything else under /ui answers an HTML page, not the API's JSON.
	s.PathPrefix("/").HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.fail(w, r, nil, http.StatusNotFound, "No such page", "There is nothing at this address.", nil)
	})
}

// secure sets the headers every answer of the review page carries.
func (u *UI) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// view is what every template receives.
type view struct {
	Title   string
	Session *sessionView // nil when signed out
	Flash   string
	Error   string
	Page    any
}

// sessionView is the part of a session a page shows: never the API key.
type sessionView struct {
	KeyName      string
	KeyID        string
	Role         access.Role
	Merchant     string
	MerchantName string
	CSRF         string
	OpenCount    int
}

// render writes page name with status.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	var b strings.Builder
	if err := u.pages[name].Execute(&b, v); err != nil {
		u.log.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		fmt.Fprint(w, b.String())
	}
}

// errorPage is the body of the error template.
type errorPage struct {
	Heading string
	Message string
}

// fail renders an error page; err, when not nil, goes to the log only.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, s *session, status int, heading, message string, err error) {
	level := slog.LevelWarn
	if status >= 500 {
		level = slog.LevelError
	}
	u.log.Log(r.Context(), level, "ui request refused", "method", r.Method, "path", routeName(r), "status", status, "err", err)
	v := view{Title: heading, Page: errorPage{Heading: heading, Message: message}}
	if s != nil {
		v.Session = u.sessionView(s)
	}
	u.render(w, r, status, "error", v)
}

func (u *UI) internal(w http.ResponseWriter, r *http.Request, s *session, err error) {
	u.fail(w, r, s, http.StatusInternalServerError, "Something went wrong",
		"The page could not be built. Nothing was changed by this request unless a message said so; try again in a moment.", err)
}

// routeName is the route template, bounded for the log.
func routeName(r *http.Request) string {
	if rt := mux.CurrentRoute(r); rt != nil {
		if t, err := rt.GetPathTemplate(); err == nil {
			return t
		}
	}
	return "unmatched"
}

// seeOther finishes a POST with a redirect to a page of the UI.
func seeOther(w http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// alertPath is the page of one alert; id was checked against idPattern.
func alertPath(id string) string { return Prefix + "alerts/" + url.PathEscape(id) }

var (
	idPattern     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	serialPattern = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)
)

// kindHelp explains each alert kind to the reader of the page.
var kindHelp = map[string]string{
	fraud.KindCounterfeit:        "A code with a bad signature, a tampered code, a code signed by an unknown key, or another merchant's code was presented.",
	fraud.KindReplay:             "A code that was already used was presented again at another register or later than a double scan.",
	fraud.KindDuplicateCard:      "One card was used in two places at once, or faster than a person could move between them: it was probably copied.",
	fraud.KindVelocity:           "One code was used more often than the program allows in a short window.",
	fraud.KindUnissuedSerial:     "A code with a valid signature carries a serial that was never issued: a signing key has probably leaked.",
	fraud.KindCompromisedKey:     "A code signed by a key that was marked compromised was presented.",
	fraud.KindGuessing:           "Many invalid codes came from one register or address: someone may be guessing codes.",
	fraud.KindInsider:            "One register or key keeps favouring the same few cards.",
	fraud.KindClonedCard:         "One card was used in a way one person cannot: at two shops faster than travel allows, more visits or shops in a day than a family makes, or rewards faster than any customer. Shops, times and rewards paid out are in the evidence.",
	fraud.KindOfflineDoubleSpend: "A single-use code was used twice, at least once at a till that was offline. Registers and times list both sides, the use that was kept first; the second was honoured at the till and recorded as a loss.",
}

var severities = []string{fraud.SeverityLow, fraud.SeverityMedium, fraud.SeverityHigh, fraud.SeverityCritical}

var funcs = template.FuncMap{
	"money":   money,
	"percent": percent,
	"list":    func(v *credential.Value) []credential.Value { return []credential.Value{*v} },
	"days": func(d time.Duration) string {
		if d%(24*time.Hour) == 0 {
			return strconv.Itoa(int(d/(24*time.Hour))) + " days"
		}
		return d.String()
	},
	"label": label,
	"title": title,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	// whenText formats an RFC 3339 string as "when" does, or keeps it.
	"whenText": func(s string) string {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return s
		}
		return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
	},
	"ago": ago,
	"join": func(list []string) string {
		if len(list) == 0 {
			return "–"
		}
		return strings.Join(list, ", ")
	},
	"results":  sorted,
	"kindHelp": func(k string) string { return kindHelp[k] },
	"plural": func(n int, one, many string) string {
		if n == 1 {
			return one
		}
		return many
	},
	"deref": func(p *int) int {
		if p == nil {
			return 0
		}
		return *p
	},
}

type countOf struct {
	Name string
	N    int
}

// ago says how long before now t was, coarsely.
func ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "in the future"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
}
