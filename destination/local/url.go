package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/backupkit/backupkit/destination"
)

// Scheme is the URL scheme this package registers with destination.Register.
const Scheme = "file"

func init() {
	destination.Register(Scheme, func(_ context.Context, u *url.URL) (destination.Destination, error) {
		return NewFromURL(u)
	})
}

// NewFromURL returns the Folder that a "file" URL names; see the package
// documentation for the accepted forms and query parameters. It is what
// destination.Open calls for the "file" scheme.
func NewFromURL(u *url.URL) (*Folder, error) {
	root, err := urlPath(u)
	if err != nil {
		return nil, err
	}
	opts, err := urlOptions(u.Query())
	if err != nil {
		return nil, err
	}
	return New(root, opts)
}

// urlPath returns the local path a file URL names.
func urlPath(u *url.URL) (string, error) {
	if !strings.EqualFold(u.Scheme, Scheme) {
		return "", fmt.Errorf("local: URL scheme is %q, not %q", u.Scheme, Scheme)
	}
	if u.User != nil {
		return "", errors.New(`local: a file URL cannot have a user name or password`)
	}
	if u.Host != "" && !strings.EqualFold(u.Host, "localhost") {
		return "", fmt.Errorf(`local: a file URL names a folder on this machine, but this one names the host %q; `+
			`use file:///path (three slashes) or file://localhost/path`, u.Host)
	}
	if u.Fragment != "" {
		return "", errors.New(`local: a file URL cannot have a fragment ("#..."); write '#' in a path as %23`)
	}
	p := u.Path
	if u.Opaque != "" {
		var err error
		if p, err = url.PathUnescape(u.Opaque); err != nil {
			return "", fmt.Errorf("local: file URL path: %w", err)
		}
	}
	if p == "" {
		return "", errors.New("local: a file URL needs a path, as in file:///var/backups or file:relative/folder")
	}
	if runtime.GOOS == "windows" && len(p) >= 3 && p[0] == '/' && p[2] == ':' {
		p = p[1:] // file:///C:/backups
	}
	return filepath.FromSlash(p), nil
}

// urlParams are the query parameters a file URL may have.
var urlParams = []string{"dir_mode", "file_mode", "must_exist"}

// urlOptions turns a file URL's query parameters into Options.
func urlOptions(q url.Values) (*Options, error) {
	var o Options
	for name, values := range q {
		if !slices.Contains(urlParams, name) {
			return nil, fmt.Errorf("local: unknown file URL parameter %q (known: %s)", name, strings.Join(urlParams, ", "))
		}
		if len(values) != 1 {
			return nil, fmt.Errorf("local: file URL parameter %q is given %d times", name, len(values))
		}
		v := values[0]
		switch name {
		case "must_exist":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("local: file URL parameter must_exist=%q is not true or false", v)
			}
			o.MustExist = b
		case "file_mode", "dir_mode":
			m, err := strconv.ParseUint(v, 8, 32)
			if err != nil || m == 0 || m > uint64(fs.ModePerm) {
				return nil, fmt.Errorf("local: file URL parameter %s=%q is not an octal permission such as 0640", name, v)
			}
			if name == "file_mode" {
				o.FileMode = fs.FileMode(m)
			} else {
				o.DirMode = fs.FileMode(m)
			}
		}
	}
	return &o, nil
}
