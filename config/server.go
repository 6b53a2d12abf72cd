package config

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Defaults of the "server" block.
const (
	// DefaultListen is the address the HTTP server listens on when the file
	// has no server.listen: loopback only.
	DefaultListen = "127.0.0.1:8080"
	// DefaultLogFormat is the log format when the file has no
	// server.log_format.
	DefaultLogFormat = LogFormatText
)

// Log formats accepted in server.log_format.
const (
	LogFormatText = "text" // LogFormatText is log/slog's key=value text.
	LogFormatJSON = "json" // LogFormatJSON is one JSON object per line.
)

// Roles a token may carry, from least to most privileged. Each role may do
// what the roles before it may do.
const (
	RoleViewer   = "viewer"   // RoleViewer reads everything but secrets.
	RoleOperator = "operator" // RoleOperator also runs, pauses and verifies.
	RoleAdmin    = "admin"    // RoleAdmin also restores, deletes and changes schedules.
)

// Default rate limits of server.rate_limits.
var (
	// DefaultRunNowLimit allows bursts of 5 "run now" requests per caller,
	// refilled at one every 12 seconds (5 a minute).
	DefaultRunNowLimit = RateLimit{Burst: 5, Every: Duration(12 * time.Second)}
	// DefaultRestoreLimit allows bursts of 2 restores per caller, refilled at
	// one a minute.
	DefaultRestoreLimit = RateLimit{Burst: 2, Every: Duration(time.Minute)}
	// DefaultFailedAuthLimit allows bursts of 10 failed authentications per
	// client address, refilled at one every 6 seconds (10 a minute).
	DefaultFailedAuthLimit = RateLimit{Burst: 10, Every: Duration(6 * time.Second)}
)

// Server is the file's "server" block: backupd's HTTP API, web page and
// metrics (see docs/api.md).
//
// Without tokens the API has no authentication: every caller is an admin,
// so backupd serve refuses to listen on anything but a loopback address.
type Server struct {
	// Listen is the host:port the HTTP server listens on. Default
	// DefaultListen. ":0" style ports pick a free port (the chosen address is
	// logged).
	Listen string `yaml:"listen"`
	// LogFormat is LogFormatText or LogFormatJSON. Default DefaultLogFormat.
	LogFormat string `yaml:"log_format"`
	// Tokens are the API's bearer tokens; a request must present one of
	// them unless there are none (see Server).
	Tokens []Token `yaml:"tokens"`
	// CORSOrigins are the origins (scheme://host[:port]) allowed to call the
	// API from a browser on another origin; empty (the default) sends no CORS
	// headers at all. "*" allows any origin.
	CORSOrigins []string `yaml:"cors_origins"`
	// RateLimits limit "run now" and restore requests per caller, and failed
	// authentications per client address.
	RateLimits RateLimits `yaml:"rate_limits"`
}

// Token is one API bearer token. Only its hash is stored: make one with
// `backupd token new`, or hash your own with `backupd token hash`.
type Token struct {
	// Name identifies the token in the audit trail and logs (not secret).
	Name string `yaml:"name"`
	// Role is RoleViewer, RoleOperator or RoleAdmin.
	Role string `yaml:"role"`
	// Hash is "sha256:" and the lower-case hex SHA-256 of the token (see
	// HashToken).
	Hash string `yaml:"hash"`
}

// RateLimits are the rate limits of server.rate_limits; zero fields take
// DefaultRunNowLimit, DefaultRestoreLimit and DefaultFailedAuthLimit.
type RateLimits struct {
	// RunNow limits POST .../run requests per caller (token name).
	RunNow RateLimit `yaml:"run_now"`
	// Restore limits restore requests per caller (token name).
	Restore RateLimit `yaml:"restore"`
	// FailedAuth limits failed authentications (a missing or unknown token,
	// a failed web login, a web page requested with a bad token) per client
	// address (the connection's IP, for IPv6 its /64; behind a reverse
	// proxy, the proxy's). Once a client has none left, its requests are
	// answered 429 without their token being checked or audited, until the
	// bucket refills.
	FailedAuth RateLimit `yaml:"failed_auth"`
}

// RateLimit is a token bucket: up to Burst requests at once, then one more
// each Every.
type RateLimit struct {
	Burst int      `yaml:"burst"`
	Every Duration `yaml:"every"`
}

// tokenHashPrefix starts every Token.Hash.
const tokenHashPrefix = "sha256:"

// HashToken returns the Hash of token for Token.Hash: "sha256:" and the hex
// SHA-256. Tokens are random (see NewToken), so a fast hash suffices.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return tokenHashPrefix + hex.EncodeToString(sum[:])
}

// MatchToken reports whether token hashes to hash, in constant time.
func MatchToken(hash, token string) bool {
	want := HashToken(token)
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(hash)), []byte(want)) == 1
}

// NewToken returns a new random token ("bkd_" and 43 base64url characters,
// 256 bits) and its Hash.
func NewToken() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = "bkd_" + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// ServerSettings returns c's "server" block with its defaults filled in;
// a nil block gives all defaults. It never returns nil.
func (c *Config) ServerSettings() *Server {
	var s Server
	if c.Server != nil {
		s = *c.Server
	}
	if s.Listen == "" {
		s.Listen = DefaultListen
	}
	if s.LogFormat == "" {
		s.LogFormat = DefaultLogFormat
	}
	if s.RateLimits.RunNow.Burst == 0 && s.RateLimits.RunNow.Every == 0 {
		s.RateLimits.RunNow = DefaultRunNowLimit
	}
	if s.RateLimits.Restore.Burst == 0 && s.RateLimits.Restore.Every == 0 {
		s.RateLimits.Restore = DefaultRestoreLimit
	}
	if s.RateLimits.FailedAuth.Burst == 0 && s.RateLimits.FailedAuth.Every == 0 {
		s.RateLimits.FailedAuth = DefaultFailedAuthLimit
	}
	return &s
}

// LoopbackListen reports whether the listen address host:port names only
// loopback interfaces ("localhost", 127.0.0.0/8, ::1). An empty host (all
// interfaces) is not loopback.
func LoopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// server checks the "server" block.
func (v *validator) server(s *Server) {
	const p = "server"
	at := func(key string) string { return p + "." + key }
	if s.Listen != "" && !v.bad(at("listen")) {
		if _, port, err := net.SplitHostPort(s.Listen); err != nil || port == "" {
			v.add(at("listen"), p, "invalid listen address %q (want host:port such as 127.0.0.1:8080)", s.Listen)
		} else if len(s.Tokens) == 0 && !LoopbackListen(s.Listen) {
			v.add(at("listen"), p, "listen address %q is not loopback and server.tokens is empty: without tokens every caller is admin; add tokens (backupd token new) or listen on 127.0.0.1", s.Listen)
		}
	}
	switch s.LogFormat {
	case "", LogFormatText, LogFormatJSON:
	default:
		if !v.bad(at("log_format")) {
			v.add(at("log_format"), p, "invalid log format %q (want text or json)", s.LogFormat)
		}
	}
	names := map[string]bool{}
	for i, t := range s.Tokens {
		tp := fmt.Sprintf("%s[%d]", at("tokens"), i)
		if v.bad(tp) || v.bad(at("tokens")) {
			continue
		}
		switch {
		case t.Name == "":
			v.add(tp+".name", tp, "required")
		case names[t.Name]:
			v.add(tp+".name", tp, "duplicate token name %q", t.Name)
		}
		names[t.Name] = true
		switch t.Role {
		case RoleViewer, RoleOperator, RoleAdmin:
		case "":
			v.add(tp+".role", tp, "required (viewer, operator or admin)")
		default:
			v.add(tp+".role", tp, "invalid role %q (want viewer, operator or admin)", t.Role)
		}
		if !validTokenHash(t.Hash) {
			// Never echo the value: it may be a token pasted by mistake.
			v.add(tp+".hash", tp, `want "sha256:" and 64 hex digits (make one with: backupd token new)`)
		}
	}
	for i, o := range s.CORSOrigins {
		op := fmt.Sprintf("%s[%d]", at("cors_origins"), i)
		if o == "*" || v.bad(op) {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			v.add(op, at("cors_origins"), "invalid origin %q (want scheme://host[:port], or *)", o)
		}
	}
	limit := func(key string, l RateLimit) {
		lp := at("rate_limits." + key)
		if v.bad(lp) {
			return
		}
		if l.Burst < 0 {
			v.add(lp+".burst", lp, "must not be negative, got %d", l.Burst)
		}
		if l.Every < 0 {
			v.add(lp+".every", lp, "must not be negative, got %s", l.Every)
		}
		if (l.Burst == 0) != (l.Every == 0) {
			v.add(lp, at("rate_limits"), "set both burst and every, or neither")
		}
	}
	limit("run_now", s.RateLimits.RunNow)
	limit("restore", s.RateLimits.Restore)
	limit("failed_auth", s.RateLimits.FailedAuth)
}

// validTokenHash reports whether h is "sha256:" and 64 hex digits.
func validTokenHash(h string) bool {
	rest, ok := strings.CutPrefix(strings.ToLower(h), tokenHashPrefix)
	if !ok || len(rest) != 64 {
		return false
	}
	_, err := hex.DecodeString(rest)
	return err == nil
}
