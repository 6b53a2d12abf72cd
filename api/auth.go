package api

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/backupkit/backupkit/config"
	"github.com/backupkit/backupkit/internal/roles"
)

// Caller is who made a request.
type Caller struct {
	// Name is the token's name, or "anonymous" without tokens configured.
	Name string
	// Role is config.RoleViewer, config.RoleOperator or config.RoleAdmin.
	Role string
}

// Allows reports whether c may do what needs at least role need.
func (c Caller) Allows(need string) bool { return roles.Allows(c.Role, need) }

// Anonymous is the caller of every request when no tokens are configured:
// an admin (backupd then listens on loopback only).
var Anonymous = Caller{Name: "anonymous", Role: config.RoleAdmin}

// Auth authenticates requests with the server block's bearer tokens. It is
// safe for concurrent use; Set swaps the settings (on reload).
type Auth struct {
	// Cookie, when set, returns the token a browser logged in with (the web
	// page's login cookie, web.TokenFromCookie); it is accepted for GET and
	// HEAD requests only.
	Cookie func(r *http.Request) string

	mu       sync.RWMutex
	tokens   []config.Token
	cors     map[string]bool
	corsAny  bool
	runNow   *limiter
	restore  *limiter
	failed   *limiter // failed authentications per client address
	settings *config.Server
}

// NewAuth returns an Auth for s (see config.Config.ServerSettings).
func NewAuth(s *config.Server) *Auth {
	a := &Auth{}
	a.Set(s)
	return a
}

// Set replaces the tokens, CORS origins and rate limits with s's. Rate
// limiters keep their state when their limits did not change.
func (a *Auth) Set(s *config.Server) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tokens = append([]config.Token(nil), s.Tokens...)
	a.cors, a.corsAny = map[string]bool{}, false
	for _, o := range s.CORSOrigins {
		if o == "*" {
			a.corsAny = true
		}
		a.cors[strings.TrimSuffix(o, "/")] = true
	}
	if a.runNow == nil || a.settings.RateLimits.RunNow != s.RateLimits.RunNow {
		a.runNow = newLimiter(s.RateLimits.RunNow)
	}
	if a.restore == nil || a.settings.RateLimits.Restore != s.RateLimits.Restore {
		a.restore = newLimiter(s.RateLimits.Restore)
	}
	if a.failed == nil || a.settings.RateLimits.FailedAuth != s.RateLimits.FailedAuth {
		a.failed = newLimiter(s.RateLimits.FailedAuth)
	}
	a.settings = s
}

// Open reports whether no tokens are configured (every caller is
// Anonymous).
func (a *Auth) Open() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return len(a.tokens) == 0
}

// presented returns the bearer token of r: the Authorization header's, or,
// for safe methods (GET, HEAD) only, the web page's login cookie (so that a
// logged-in browser can follow event streams and download backups; changes
// need the header, which a cross-site form cannot send).
func (a *Auth) presented(r *http.Request, cookieAlways bool) (token string, ok bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, found := strings.Cut(h, " ")
		if !found || !strings.EqualFold(scheme, "Bearer") {
			return "", true // presented, but not a bearer token
		}
		return strings.TrimSpace(tok), true
	}
	if a.Cookie != nil && (cookieAlways || r.Method == http.MethodGet || r.Method == http.MethodHead) {
		if tok := a.Cookie(r); tok != "" {
			return tok, true
		}
	}
	return "", false
}

// Identify returns r's caller. Without tokens configured it is Anonymous.
// Otherwise: no token presented gives ok false and bad false; a token that
// matches none gives ok false and bad true.
func (a *Auth) Identify(r *http.Request) (c Caller, ok, bad bool) {
	return a.identify(r, false)
}

func (a *Auth) identify(r *http.Request, cookieAlways bool) (c Caller, ok, bad bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if len(a.tokens) == 0 {
		return Anonymous, true, false
	}
	tok, given := a.presented(r, cookieAlways)
	if !given {
		return Caller{}, false, false
	}
	if tok == "" {
		return Caller{}, false, true
	}
	// Compare with every token so the time taken does not tell which
	// matched.
	var found *config.Token
	for i := range a.tokens {
		if config.MatchToken(a.tokens[i].Hash, tok) && found == nil {
			found = &a.tokens[i]
		}
	}
	if found == nil {
		return Caller{}, false, true
	}
	return Caller{Name: found.Name, Role: found.Role}, true, false
}

// Role returns r's caller's role, "" when not authenticated. It is what
// web.Deps.Role needs: unlike Identify it accepts the login cookie for every
// method, since the web page checks its forms' CSRF tokens itself.
func (a *Auth) Role(r *http.Request) string {
	c, ok, _ := a.identify(r, true)
	if !ok {
		return ""
	}
	return c.Role
}

// corsOrigin returns the Access-Control-Allow-Origin value for origin, ""
// when it is not allowed (or CORS is off).
func (a *Auth) corsOrigin(origin string) string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	switch {
	case origin == "":
		return ""
	case a.corsAny:
		return "*"
	case a.cors[origin]:
		return origin
	}
	return ""
}

// Attempt starts an authentication by r's client address under the
// failed-authentication limit (config.RateLimits.FailedAuth). When the
// address has used up its failures, allowed is false and retryAfter says
// when it may try again: refuse the request (429) without checking its
// token, so that guessing cannot go on at full speed. Otherwise check the
// token and call finish with whether it was good: a good one costs nothing,
// a bad one one failure. The failure is taken before the check, so that
// concurrent guesses cannot all slip through after a refill.
func (a *Auth) Attempt(r *http.Request) (finish func(ok bool), retryAfter time.Duration, allowed bool) {
	a.mu.RLock()
	l := a.failed
	a.mu.RUnlock()
	key := clientAddress(r)
	ok, wait := l.allow(key)
	if !ok {
		return nil, wait, false
	}
	return func(good bool) {
		if good {
			l.refund(key)
		}
	}, 0, true
}

// clientAddress is the IP of r's connection (RemoteAddr without its port),
// for IPv6 its /64 network, which one client usually holds whole.
// Forwarding headers are not trusted: behind a reverse proxy every client
// shares the proxy's address.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return host
}

// limiters returns the current rate limiters.
func (a *Auth) limiters() (runNow, restore *limiter) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.runNow, a.restore
}

// Who returns the name of r's caller for the audit trail (the token's
// name, "anonymous" without tokens), "" when not authenticated. Like Role,
// it accepts the login cookie for every method (web.Deps.Who).
func (a *Auth) Who(r *http.Request) string {
	c, ok, _ := a.identify(r, true)
	if !ok {
		return ""
	}
	return c.Name
}
