package gdrive

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/internal/units"
)

// Scheme is the URL scheme this package registers with destination.Register.
const Scheme = "gdrive"

func init() {
	destination.Register(Scheme, func(ctx context.Context, u *url.URL) (destination.Destination, error) {
		return NewFromURL(ctx, u)
	})
}

// urlParams are the query parameters a gdrive URL may have.
var urlParams = []string{
	"credentials_file", "client_id", "client_secret", "refresh_token", "impersonate", "scope",
	"shared_drive", "chunk_size", "max_attempts", "cleanup_age", "endpoint", "token_url",
}

// NewFromURL returns the Drive that a "gdrive://FOLDER_ID?..." URL names;
// see the package documentation for its parameters. It is what
// destination.Open calls for the "gdrive" scheme. Errors never contain
// secrets.
func NewFromURL(ctx context.Context, u *url.URL) (*Drive, error) {
	opts, err := ParseURL(u)
	if err != nil {
		return nil, err
	}
	return New(ctx, opts)
}

// ParseURL returns the Options that a "gdrive://FOLDER_ID?..." URL
// describes, without any network access or file reading. When the URL names
// no credentials, the file named by the GOOGLE_APPLICATION_CREDENTIALS
// environment variable is used, if it is set.
func ParseURL(u *url.URL) (Options, error) {
	var o Options
	if !strings.EqualFold(u.Scheme, Scheme) {
		return o, fmt.Errorf("gdrive: URL scheme is %q, not %q", u.Scheme, Scheme)
	}
	if u.User != nil {
		return o, errors.New("gdrive: a gdrive URL has no user or password; pass credentials as parameters")
	}
	if u.Fragment != "" {
		return o, errors.New("gdrive: a gdrive URL cannot have a fragment")
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") {
		return o, errors.New("gdrive: a gdrive URL is gdrive://FOLDER_ID?..., with the folder's ID as host and no path")
	}
	o.FolderID = u.Host
	if o.FolderID == "" {
		return o, errors.New("gdrive: a gdrive URL needs a folder ID, as in gdrive://FOLDER_ID")
	}
	for name, values := range u.Query() {
		if !slices.Contains(urlParams, name) {
			return o, fmt.Errorf("gdrive: unknown URL parameter %q (known: %s)", name, strings.Join(urlParams, ", "))
		}
		if len(values) != 1 {
			return o, fmt.Errorf("gdrive: URL parameter %q is given %d times", name, len(values))
		}
		v := values[0]
		switch name {
		case "credentials_file":
			o.CredentialsFile = v
		case "client_id":
			o.ClientID = v
		case "client_secret":
			o.ClientSecret = v
		case "refresh_token":
			o.RefreshToken = v
		case "impersonate":
			o.Subject = v
		case "scope":
			switch v {
			case "drive.file", ScopeFile:
				o.Scope = ScopeFile
			case "drive", ScopeDrive:
				o.Scope = ScopeDrive
			default:
				return o, fmt.Errorf("gdrive: URL parameter scope=%q is not drive.file or drive", v)
			}
		case "shared_drive":
			o.SharedDrive = v
		case "chunk_size":
			n, err := units.ParsePositive(v)
			if err != nil || n%chunkUnit != 0 || n > 1<<30 {
				return o, fmt.Errorf("gdrive: URL parameter chunk_size=%q is not a multiple of 256KiB such as 8MiB", v)
			}
			o.ChunkSize = int(n)
		case "max_attempts":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return o, fmt.Errorf("gdrive: URL parameter max_attempts=%q is not a positive integer", v)
			}
			o.MaxAttempts = n
		case "cleanup_age":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return o, fmt.Errorf("gdrive: URL parameter cleanup_age=%q is not a positive duration such as 2h", v)
			}
			o.CleanupAge = d
		case "endpoint":
			e, err := url.Parse(v)
			if err != nil || (e.Scheme != "https" && e.Scheme != "http") || e.Host == "" {
				return o, fmt.Errorf("gdrive: URL parameter endpoint=%q is not an http(s) URL", v)
			}
			o.Endpoint = v
		case "token_url":
			o.TokenURL = v
		}
	}
	if o.CredentialsFile == "" && o.RefreshToken == "" {
		o.CredentialsFile = os.Getenv("GOOGLE_APPLICATION_CREDENTIALS")
	}
	return o, nil
}
