package config

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/backupkit/backupkit/internal/redact"
)

// ResolveURL makes a URL that names a relative path absolute. A URL of the
// opaque form "scheme:relative/path" (such as "dir:data" or
// "sqlite:backupd.db?cache=shared") is resolved against baseDir, or against the
// working directory if baseDir is empty, into "scheme:///abs/path", keeping any
// query and fragment. URLs with an absolute path ("scheme:/abs",
// "scheme:///abs") or with a host ("s3://bucket/x") are returned unchanged.
//
// raw must parse as a URL and have a scheme. Errors never contain the URL's
// password or secret query parameters.
func ResolveURL(raw, baseDir string) (string, error) {
	u, err := parseURL(raw)
	if err != nil {
		return "", err
	}
	if u.Opaque == "" || strings.HasPrefix(u.Opaque, "/") {
		return raw, nil
	}
	p, err := url.PathUnescape(u.Opaque)
	if err != nil {
		return "", errors.New("invalid URL: invalid escape in path")
	}
	abs, err := filepath.Abs(filepath.Join(baseDir, filepath.FromSlash(p)))
	if err != nil {
		return "", fmt.Errorf("URL %q: cannot make path absolute: %v", redact.URLString(raw), err)
	}
	abs = filepath.ToSlash(abs)
	if !strings.HasPrefix(abs, "/") {
		abs = "/" + abs // a Windows path such as C:/data
	}
	r := *u
	r.Opaque, r.Path, r.RawPath, r.OmitHost = "", abs, "", false
	return r.String(), nil
}

// parseURL parses raw and requires a scheme. Its errors are redacted.
func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid URL %q: %s", redact.URLString(raw), urlErrorReason(err))
	}
	if u.Scheme == "" {
		// Not quoted: a value without a scheme may well be a bare secret.
		return nil, errors.New(`URL has no scheme (want scheme:path or scheme://host/path, such as "file:backups")`)
	}
	return u, nil
}

// quoted matches a Go-quoted string inside an error message.
var quoted = regexp.MustCompile(` ?"(?:[^"\\]|\\.)*"`)

// urlErrorReason is the reason a URL did not parse, without the quoted parts
// of the URL that net/url puts into its messages (such as a misplaced
// password in `invalid port ":secret" after host`).
func urlErrorReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return quoted.ReplaceAllString(err.Error(), "")
}
