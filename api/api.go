// Package api is stampseal's HTTP API v1: it authenticates, decodes,
// calls the domain packages and renders their answers. It holds no business
// rule of its own.
package api

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/barcode"
	"github.com/stampseal/stampseal/internal/keyed"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/metrics"
	"github.com/stampseal/stampseal/offline"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/verify"
)

// Deps are the domain services the API fronts.
type Deps struct {
	Access   *access.Service
	Keys     *keys.Ring
	Issuer   *issuer.Issuer
	Verifier *verify.Verifier
	Store    storage.Backend
	Review   Review            // optional: the fraud review routes
	Detect   Detection         // optional: shops, staff cards, throttle lifting, alert stats
	Barcodes *barcode.Cache    // optional: the barcode routes
	Short    ShortCodes        // optional: short codes on barcodes and cards
	Metrics  *metrics.Metrics  // optional
	Offline  *offline.Service  // optional: snapshot and sync for till agents
	Policies *offline.Policies // with Offline: offline policies of programs, batches, merchants
	Report   Figures           // optional: the owner's figures (GET /v1/merchants/{id}/stats)
	Log      *slog.Logger      // optional
	// MaxInFlight caps concurrent authenticated requests; more are
	// answered 503 at once rather than queued without bound. 0 means 1024.
	MaxInFlight int
	// MaxAnonymousInFlight caps concurrent requests without a valid API
	// key (see gate.go); 0 means MaxInFlight/16, at least 8.
	MaxAnonymousInFlight int
	// MetricsElsewhere leaves GET /metrics off this API: serve
	// --metrics-addr serves it on a listener of its own.
	MetricsElsewhere bool
	// Failures throttles failed authentication per address; nil: a
	// throttle with the access package's defaults.
	Failures *access.FailureThrottle
	// Now is the clock of render limits and of the API's own records; nil means time.Now.
	// The detection simulator runs the service on a simulated clock.
	Now func() time.Time
	// Health, when set, says whether the ledger can be reached now
	// (GET /healthz, see health.go); nil: always.
	Health func(context.Context) error
}

// API serves HTTP API v1.
type API struct {
	Deps
	log    *slog.Logger
	router *mux.Router
	slots  chan struct{}
	anon   *gate

	renderLimits *keyed.Limiter
	signedIn     func(*http.Request) bool // the review page's session check
	trail        *audit.Trail
	// hot are the register's routes (quickRoutes), served without the
	// router's matching: see serve.
	hot map[hotRoute]http.HandlerFunc
}

// hotRoute is a method and an exact path.
type hotRoute struct{ method, path string }

// quickRoutes are the routes a till calls on every sale. gorilla/mux
// copies the request twice (route and variables in its context) to match
// any route; these have no variables and no other route shares their
// path, so serve calls them by an exact lookup of method and path, and
// mux still serves every other method and spelling of them (405, 404,
// redirects of unclean paths) as before.
var quickRoutes = map[string]bool{"/v1/verify": true, "/v1/redeem": true, "/v1/cards/stamp": true, "/v1/cards/claim": true}

// New builds the router with every route of API v1.
func New(d Deps) *API {
	a := &API{Deps: d, log: d.Log, router: mux.NewRouter(), trail: audit.New(d.Store), hot: map[hotRoute]http.HandlerFunc{}}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.Now == nil {
		a.Now = time.Now
	}
	if d.MaxInFlight <= 0 {
		d.MaxInFlight = 1024
	}
	a.slots = make(chan struct{}, d.MaxInFlight)
	if d.MaxAnonymousInFlight <= 0 {
		d.MaxAnonymousInFlight = max(d.MaxInFlight/16, 8)
	}
	// One address gets at most a quarter of the anonymous budget.
	perAddr := max(1, min(DefaultAnonymousPerAddress, d.MaxAnonymousInFlight/4))
	a.anon = newGate(d.MaxAnonymousInFlight, perAddr, DefaultAnonymousBodyTimeout)
	if d.Failures == nil {
		d.Failures = access.NewFailureThrottle(0, 0)
	}
	a.Failures = d.Failures
	a.renderLimits = keyed.New(DefaultRenderLimit)
	r := a.router
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.renderError(w, r, errNotFound) })
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.renderError(w, r, fail(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this path"))
	})
	a.routeHealth(r)
	if d.Metrics != nil && !d.MetricsElsewhere {
		r.Handle("/metrics", d.Metrics.Handler()).Methods("GET")
	}
	a.routeDocs(r)
	a.routeAdmin(r)
	a.routeIssue(r)
	a.routeRegister(r)
	a.routeLists(r)
	a.routeHolds(r)
	a.routeVoids(r)
	if d.Report != nil {
		a.routeStats(r)
	}
	if d.Review != nil {
		a.routeReview(r)
	}
	if d.Detect != nil {
		a.routeDetection(r)
	}
	if d.Barcodes != nil {
		a.routeBarcodes(r)
	}
	if d.Offline != nil {
		a.routeOffline(r)
	}
	return a
}

// Router exposes the router so that other packages can mount routes.
func (a *API) Router() *mux.Router { return a.router }

// AcceptSessions lets requests that signedIn accepts (the review page's
// signed-in auditors) use the authenticated budget.
func (a *API) AcceptSessions(signedIn func(*http.Request) bool) { a.signedIn = signedIn }

// ServeHTTP authenticates the request before it takes a slot: a request
// with a valid API key takes one of the MaxInFlight slots; any other goes
// through the anonymous gate (gate.go), so that nobody without a key can
// crowd out the registers. It then applies panic recovery and request
// metrics.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Every answer, JSON, image or metrics, is exactly its declared type.
	w.Header()["X-Content-Type-Options"] = nosniff
	if r.TLS != nil {
		// Served over HTTPS: browsers keep to it (the review page's cookies).
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
	}
	if r.URL.Path == "/healthz" && r.Method == http.MethodGet {
		a.serve(w, r, nil) // answers from memory and reads no body: no budget
		return
	}
	res, tried := a.preauthenticate(r)
	if tried {
		var e *Error
		if errors.As(res.err, &e) && e.Status == http.StatusTooManyRequests {
			a.renderError(w, r, e) // a guessing address: refused before any route
			return
		}
	}
	if (tried && res.err == nil) || (!tried && a.signedIn != nil && a.signedIn(r)) {
		select {
		case a.slots <- struct{}{}:
			defer func() { <-a.slots }()
		default:
			a.renderError(w, r, &Error{Status: http.StatusServiceUnavailable, Code: "overloaded",
				Message: "too many requests in flight; retry shortly", Details: map[string]any{"retry_after_seconds": 1}})
			return
		}
		if !tried {
			a.serve(w, r, nil)
			return
		}
		a.serve(w, r, &res)
		return
	}
	var auth *authResult
	if tried {
		auth = &res
	}
	src := source(r)
	release, err := a.anon.enter(src)
	if err != nil {
		w.Header().Set("Connection", "close")
		a.renderError(w, r, err)
		return
	}
	defer release()
	if r.ContentLength != 0 {
		// The server's ReadTimeout is sized for authenticated uploads.
		http.NewResponseController(w).SetReadDeadline(time.Now().Add(a.anon.body))
		r.Body = &slowBody{ReadCloser: r.Body, onSlow: func() { a.anon.strike(src) }}
	}
	a.serve(w, r, auth)
}

// preauthenticate checks the request's API key, if it carries one, once
// for the request; a failure counts against the address's failure budget,
// and an address over it is refused without its key being looked at.
func (a *API) preauthenticate(r *http.Request) (authResult, bool) {
	if r.Header.Get("Authorization") == "" {
		return authResult{}, false
	}
	src := source(r)
	if wait, blocked := a.Failures.Blocked(src); blocked {
		return authResult{err: &Error{Status: http.StatusTooManyRequests, Code: "throttled",
			Message: "too many failed authentications from this address; wait before trying again",
			Details: map[string]any{"retry_after_seconds": int(math.Ceil(wait.Seconds()))}}}, true
	}
	k, err := a.authenticate(r)
	if errors.Is(err, errUnauthenticated) {
		a.Failures.Failed(src)
	}
	return authResult{key: k, err: err}, true
}

// serve runs the router with panic recovery and request metrics; auth,
// when not nil, is the request's authentication, done once by ServeHTTP
// (handle reads it from the statusRecorder: a context value would copy
// the request).
func (a *API) serve(w http.ResponseWriter, r *http.Request, auth *authResult) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: 200, route: "unmatched"}
	if auth != nil {
		rec.auth, rec.authed = *auth, true
	}
	defer func() {
		if p := recover(); p != nil {
			a.log.Error("panic serving request", "method", r.Method, "route", routeName(rec, r), "panic", p)
			if !rec.wrote {
				a.renderError(rec, r, fail(http.StatusInternalServerError, "internal", "internal error"))
			}
		}
		if a.Metrics != nil {
			a.Metrics.HTTPRequest(rec.route, r.Method, rec.status, time.Since(start))
		}
	}()
	if h, ok := a.hot[hotRoute{r.Method, r.URL.Path}]; ok {
		h(rec, r)
		return
	}
	a.router.ServeHTTP(rec, r)
}

// Header values the hot path sets by assigning these (Header().Set
// allocates a slice each time). Their capacity is their length, so that
// an Add elsewhere copies them rather than writing into them.
var (
	nosniff         = []string{"nosniff"}[:1:1]
	jsonContentType = []string{"application/json"}[:1:1]
	noStore         = []string{"no-store"}[:1:1]
)

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
	route  string     // set by the matched route: mux hands it a new request
	auth   authResult // with authed: ServeHTTP's authentication of the request
	authed bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// routeName is the route template, a bounded label for logs and metrics.
func routeName(w http.ResponseWriter, r *http.Request) string {
	if rec, ok := w.(*statusRecorder); ok && rec.route != "unmatched" {
		return rec.route
	}
	if rt := mux.CurrentRoute(r); rt != nil {
		if t, err := rt.GetPathTemplate(); err == nil {
			return t
		}
	}
	return "unmatched"
}

// handler is a route's function: it writes a success or returns an error
// that renderError turns into the answer.
type handler func(w http.ResponseWriter, r *http.Request, k access.Key) error

// handle mounts h behind authentication: no or unknown key is 401, a key
// without one of roles is 403. Merchant scope is checked by h, where the
// merchant is known.
func (a *API) handle(r *mux.Router, method, path string, h handler, roles ...access.Role) {
	f := func(w http.ResponseWriter, req *http.Request) {
		var res authResult
		rec, ok := w.(*statusRecorder)
		if ok {
			rec.route = path
		}
		if ok && rec.authed {
			res = rec.auth
		} else { // no key, or mounted without ServeHTTP in front
			res.key, res.err = a.authenticate(req)
		}
		k, err := res.key, res.err
		if err == nil && !hasRole(k, roles) {
			err = errForbidden
		}
		if err == nil {
			err = h(w, req, k)
		}
		if err != nil {
			a.renderError(w, req, err)
		}
	}
	r.HandleFunc(path, f).Methods(method)
	if quickRoutes[path] {
		a.hot[hotRoute{method, path}] = f
	}
}

func hasRole(k access.Key, roles []access.Role) bool {
	for _, r := range roles {
		if k.Role == r {
			return true
		}
	}
	return false
}

func (a *API) authenticate(r *http.Request) (access.Key, error) {
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) <= len(prefix) || h[:len(prefix)] != prefix {
		return access.Key{}, errUnauthenticated
	}
	k, err := a.Access.Authenticate(h[len(prefix):])
	switch {
	case errors.Is(err, access.ErrKeyRevoked), errors.Is(err, access.ErrKeyExpired):
		// Their own codes (key_revoked, key_expired): a till's operator
		// learns why it was cut off.
		return k, err
	case errors.Is(err, access.ErrUnauthenticated):
		return k, errUnauthenticated
	}
	return k, err
}

// decodeFor decodes the body into v and checks that k may act in one of
// roles for the merchant the body names (*merchant, a field of v).
func decodeFor(w http.ResponseWriter, r *http.Request, k access.Key, v any, merchant *string, roles ...access.Role) error {
	if err := decode(w, r, v); err != nil {
		return err
	}
	return scope(k, *merchant, roles...)
}

// scope checks that k may act for merchant in one of roles.
func scope(k access.Key, merchant string, roles ...access.Role) error {
	if !k.Can(merchant, roles...) {
		return errForbidden
	}
	return nil
}

// source is the client address of a request, for fraud evidence and
// throttling; stampseal does not trust forwarding headers.
func source(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
