// Package redact removes secrets from URLs and strings before they are printed,
// logged, stored in run logs or returned by an API.
package redact

import (
	"net/url"
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
