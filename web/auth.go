package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/backupkit/backupkit/internal/roles"
)

// TokenCookie is the name of the cookie /login sets: an HttpOnly,
// SameSite=Strict session cookie holding the bearer token the user typed.
const TokenCookie = "backupkit_token"

// csrfCookie holds a random per-browser value; forms carry its HMAC.
const csrfCookie = "backupkit_csrf"

// csrfField is the form field (and csrfHeader the header, for scripts) that
// carries the CSRF token.
const (
	csrfField  = "csrf"
	csrfHeader = "X-CSRF-Token"
)

// TokenFromCookie returns the bearer token a browser user logged in with (the
// value of the TokenCookie cookie), or "" when there is none. Deps.Role calls
// it to accept web users as it accepts "Authorization: Bearer" callers.
func TokenFromCookie(r *http.Request) string {
	c, err := r.Cookie(TokenCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

type ctxKey int

const (
	keyRole ctxKey = iota
	keyCSRF
)

// roleOf returns the caller's role (computed once per request by the
// middleware).
func roleOf(r *http.Request) string {
	role, _ := r.Context().Value(keyRole).(string)
	return role
}

// csrfToken returns the token forms of this request must carry.
func csrfToken(r *http.Request) string {
	tok, _ := r.Context().Value(keyCSRF).(string)
	return tok
}

// withSession resolves the caller's role and makes sure the browser has a
// CSRF cookie; the values go into the request's context.
//
// A request that carries a token (the login cookie or an Authorization
// header) is checked under Deps.LoginAttempt, like the login form: past the
// limit it gets no role, and a token that is not good counts as a failure
// (its stale cookie is cleared, so that a browser fails once, not on every
// page).
func (s *server) withSession(w http.ResponseWriter, r *http.Request) *http.Request {
	role := roles.Admin
	if s.d.Role != nil {
		role = s.checkedRole(w, r)
	}
	if roles.Rank(role) == 0 {
		role = ""
	}
	seed := ""
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 && len(c.Value) <= 64 {
		seed = c.Value
	} else {
		var b [24]byte
		_, _ = rand.Read(b[:])
		seed = base64.RawURLEncoding.EncodeToString(b[:])
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: seed, Path: "/", HttpOnly: true,
			Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	}
	ctx := context.WithValue(r.Context(), keyRole, role)
	ctx = context.WithValue(ctx, keyCSRF, s.sign(seed))
	return r.WithContext(ctx)
}

// checkedRole is Deps.Role of r, under Deps.LoginAttempt when r carries a
// token.
func (s *server) checkedRole(w http.ResponseWriter, r *http.Request) string {
	cookie := TokenFromCookie(r)
	if s.d.LoginAttempt == nil || (cookie == "" && r.Header.Get("Authorization") == "") {
		return s.d.Role(r)
	}
	finish, _, allowed := s.d.LoginAttempt(r)
	if !allowed {
		return ""
	}
	role := s.d.Role(r)
	good := roles.Rank(role) > 0
	finish(good)
	if !good && cookie != "" {
		http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
			Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	}
	return role
}

// sign is the CSRF token of a browser's CSRF cookie value.
func (s *server) sign(seed string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("backupkit web csrf\x00" + seed))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF accepts a POST whose token (form field or header) matches the
// browser's CSRF cookie, and whose Origin, when sent, is this host.
func (s *server) checkCSRF(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil {
		return false
	}
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	return got != "" && hmac.Equal([]byte(got), []byte(s.sign(c.Value)))
}

// who names the caller for the daemon's audit trail.
func (s *server) who(r *http.Request) string {
	if s.d.Who != nil {
		if w := s.d.Who(r); w != "" {
			return w
		}
	}
	return "web:" + roleOf(r)
}

// safeNext returns next when it is a local path, else "/".
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

// login shows the login form (GET) or checks a token and sets the cookie.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.FormValue("next"))
	data := map[string]any{"Next": next}
	if r.Method == http.MethodPost {
		if !s.checkCSRF(r) {
			s.fail(w, r, http.StatusForbidden, "the form expired or came from another site: reload the page and try again")
			return
		}
		finish := func(bool) {}
		if s.d.LoginAttempt != nil {
			f, wait, allowed := s.d.LoginAttempt(r)
			if !allowed {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
				data["Error"] = fmt.Sprintf("Too many failed attempts from your address: try again in %s.", wait.Round(time.Second))
				s.renderPage(w, r, http.StatusTooManyRequests, "login", &page{Title: "Log in", Nav: "login", Data: data})
				return
			}
			finish = f
		}
		token := strings.TrimSpace(r.PostFormValue("token"))
		// Ask Role about the token as the cookie would carry it.
		probe := r.Clone(r.Context())
		probe.Header = r.Header.Clone()
		probe.Header.Del("Authorization")
		probe.Header.Del("Cookie")
		probe.AddCookie(&http.Cookie{Name: TokenCookie, Value: token})
		role := roles.Admin
		if s.d.Role != nil {
			role = s.d.Role(probe)
		}
		finish(token != "" && roles.Rank(role) > 0)
		if token != "" && roles.Rank(role) > 0 {
			http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: token, Path: "/", HttpOnly: true,
				Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		data["Error"] = "That token is not valid."
		s.renderPage(w, r, http.StatusUnauthorized, "login", &page{Title: "Log in", Nav: "login", Data: data})
		return
	}
	s.render(w, r, "login", "Log in", data)
}

// logout clears the login cookie.
func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	if !s.checkCSRF(r) {
		s.fail(w, r, http.StatusForbidden, "the form expired or came from another site: reload the page and try again")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
