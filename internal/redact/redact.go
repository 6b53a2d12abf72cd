// Package redact removes secrets from URLs and strings before they are printed,
// logged, stored in run logs or returned by an API.
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces a secret.
const Mask = "xxxxx"

// secretParams are query parameter names (lower case, compared after removing
// '_' and '-') whose values are secrets.
var secretParams = []string{
	"password", "pass", "passwd", "pwd", "secret", "secretkey", "secretaccesskey",
	"token", "accesstoken", "refreshtoken", "sessiontoken", "apikey", "key", "clientsecret",
	"credentials", "passphrase", "signature", "sig", "auth", "authorization",
}

// IsSecretParam reports whether a query parameter of that name holds a secret.
func IsSecretParam(name string) bool {
	n := strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(name))
	for _, s := range secretParams {
		if n == s || strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

// URL returns u as a string with its password and secret query parameters
// replaced by Mask. It never modifies u.
func URL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	if secretPath(&c) {
		c.Path, c.RawPath, c.Opaque = "/"+Mask, "", ""
	}
	if c.User != nil {
		if _, has := c.User.Password(); has {
			c.User = url.UserPassword(c.User.Username(), Mask)
		}
	}
	if c.RawQuery != "" {
		q := c.Query()
		changed := false
		for k := range q {
			if IsSecretParam(k) {
				q[k] = []string{Mask}
				changed = true
			}
		}
		if changed {
			c.RawQuery = q.Encode()
		}
	}
	return c.String()
}

// URLString is URL for a raw string. A string that does not parse as a URL is
// reduced to its scheme, since it may hold anything.
func URLString(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.Index(raw, "://"); i > 0 && i < 20 {
			return raw[:i] + "://" + Mask
		}
		return Mask
	}
	return URL(u)
}

// secretPath reports whether the URL's path is itself a credential, as in
// Slack and Discord incoming webhooks.
func secretPath(u *url.URL) bool {
	host := strings.ToLower(u.Hostname())
	scheme := strings.ToLower(u.Scheme)
	return strings.HasPrefix(scheme, "slack") || host == "hooks.slack.com" ||
		((host == "discord.com" || host == "discordapp.com") && strings.HasPrefix(u.Path, "/api/webhooks"))
}

var (
	// urlInText finds URLs with a scheme in free text.
	urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s"'<>]+`)
	// dsnInText finds go-sql-driver style DSNs: user:password@tcp(host)/db.
	dsnInText = regexp.MustCompile(`([^\s:/@"'<>]+):([^\s@"'<>]+)@(tcp|unix|udp)\(`)
	// secretAssign finds "password=..." style assignments in free text.
	secretAssign = regexp.MustCompile(`(?i)\b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|secret[_-]?key|passphrase)(\s*[=:]\s*)([^\s&,;"']+)`)
)

// Text returns s with secrets masked wherever they can be recognised: the
// passwords and secret parameters of every URL in it (as URL does),
// user:password@tcp(...) DSNs, "password=..."-style assignments, and every
// occurrence of the given secrets (those shorter than 3 bytes are ignored).
// It is meant for error text and log lines, whose secrets nobody listed.
func Text(s string, secrets ...string) string {
	s = urlInText.ReplaceAllStringFunc(s, URLString)
	s = dsnInText.ReplaceAllString(s, "${1}:"+Mask+"@${3}(")
	s = secretAssign.ReplaceAllString(s, "${1}${2}"+Mask)
	for _, sec := range secrets {
		if len(sec) >= 3 {
			s = strings.ReplaceAll(s, sec, Mask)
		}
	}
	return s
}
