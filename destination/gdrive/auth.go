package gdrive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"

	"github.com/backupkit/backupkit/destination"
)

// GoogleTokenURL is Google's OAuth 2.0 token endpoint, used when neither the
// credentials file nor Options.TokenURL names another.
const GoogleTokenURL = "https://oauth2.googleapis.com/token"

// Scopes for Options.Scope.
const (
	// ScopeFile ("drive.file") gives access only to the files and folders
	// that these credentials created, or that a user opened with the app.
	// It is the default and the recommended scope.
	ScopeFile = "https://www.googleapis.com/auth/drive.file"
	// ScopeDrive ("drive") gives access to every file the account can see.
	ScopeDrive = "https://www.googleapis.com/auth/drive"
)

// ErrReauthorize is matched (errors.Is) by errors about credentials that
// Google no longer accepts: a refresh token that was revoked or has expired,
// a deleted service-account key, a deleted OAuth client. Retrying does not
// help; someone must authorise again and store the new credentials. It also
// matches destination.ErrPermission.
var ErrReauthorize = fmt.Errorf("Google refused the credentials (revoked or expired); re-authorise and store new credentials: %w", destination.ErrPermission)

// credentialsFile is the union of the JSON credential files Google issues:
// a service-account key ("service_account") and the authorised-user file
// that gcloud and oauth2l write ("authorized_user").
type credentialsFile struct {
	Type         string `json:"type"`
	ClientEmail  string `json:"client_email"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	TokenURI     string `json:"token_uri"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	RefreshToken string `json:"refresh_token"`
}

// fetchFunc gets a new access token, never a cached one.
type fetchFunc func(ctx context.Context) (*oauth2.Token, error)

// newFetcher builds the token fetcher that opts describe.
func newFetcher(opts *Options) (fetchFunc, error) {
	scope := opts.Scope
	if scope == "" {
		scope = ScopeFile
	}
	if opts.TokenSource != nil {
		ts := opts.TokenSource
		return func(context.Context) (*oauth2.Token, error) { return ts.Token() }, nil
	}
	var cf credentialsFile
	raw := opts.CredentialsJSON
	src := "credentials JSON"
	if len(raw) == 0 && opts.CredentialsFile != "" {
		b, err := os.ReadFile(opts.CredentialsFile)
		if err != nil {
			return nil, fmt.Errorf("credentials file: %w", err)
		}
		raw, src = b, "credentials file "+opts.CredentialsFile
	}
	switch {
	case len(raw) > 0:
		if err := json.Unmarshal(raw, &cf); err != nil {
			return nil, fmt.Errorf("%s is not a Google credentials JSON file: %v", src, err)
		}
	case opts.RefreshToken != "":
		cf = credentialsFile{Type: "authorized_user", ClientID: opts.ClientID, ClientSecret: opts.ClientSecret, RefreshToken: opts.RefreshToken}
	default:
		return nil, errors.New("no credentials: set a service-account key or an OAuth client with a refresh token (credentials_file, or client_id, client_secret and refresh_token)")
	}
	tokenURL := firstNonEmpty(opts.TokenURL, cf.TokenURI, GoogleTokenURL)
	switch cf.Type {
	case "service_account":
		if cf.ClientEmail == "" || cf.PrivateKey == "" {
			return nil, fmt.Errorf("%s: a service-account key needs client_email and private_key", src)
		}
		c := &jwt.Config{
			Email: cf.ClientEmail, PrivateKey: []byte(cf.PrivateKey), PrivateKeyID: cf.PrivateKeyID,
			Scopes: []string{scope}, TokenURL: tokenURL, Subject: opts.Subject,
		}
		return func(ctx context.Context) (*oauth2.Token, error) { return c.TokenSource(ctx).Token() }, nil
	case "authorized_user":
		if cf.ClientID == "" || cf.RefreshToken == "" {
			return nil, fmt.Errorf("%s: OAuth credentials need a client ID and a refresh token", src)
		}
		c := &oauth2.Config{ClientID: cf.ClientID, ClientSecret: cf.ClientSecret,
			Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams}, Scopes: []string{scope}}
		var mu sync.Mutex
		refresh := cf.RefreshToken
		return func(ctx context.Context) (*oauth2.Token, error) {
			mu.Lock()
			rt := refresh
			mu.Unlock()
			tok, err := c.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
			if err == nil && tok.RefreshToken != "" && tok.RefreshToken != rt {
				mu.Lock()
				refresh = tok.RefreshToken // Google may rotate it
				mu.Unlock()
			}
			return tok, err
		}, nil
	case "":
		return nil, fmt.Errorf(`%s has no "type"; expected "service_account" or "authorized_user"`, src)
	default:
		return nil, fmt.Errorf("%s is of type %q; expected \"service_account\" or \"authorized_user\"", src, cf.Type)
	}
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// tokenCache hands out the current access token and fetches a new one when
// there is none, it is about to expire, or the server refused it.
type tokenCache struct {
	fetch  fetchFunc
	client *http.Client // for the token endpoint

	mu  sync.Mutex
	tok *oauth2.Token
}

// expiryMargin is how long before its expiry a token is replaced.
const expiryMargin = time.Minute

func (c *tokenCache) token(ctx context.Context) (*oauth2.Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok != nil && c.tok.AccessToken != "" && (c.tok.Expiry.IsZero() || time.Until(c.tok.Expiry) > expiryMargin) {
		return c.tok, nil
	}
	if c.client != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, c.client)
	}
	tok, err := c.fetch(ctx)
	if err != nil {
		return nil, authError(err)
	}
	if tok == nil || tok.AccessToken == "" {
		return nil, &tokenError{errors.New("the token source returned no access token")}
	}
	c.tok = tok
	return tok, nil
}

// invalidate drops tok if it is still the current token, so that the next
// call fetches a new one; concurrent requests refused with the same token
// cause one fetch, not one each.
func (c *tokenCache) invalidate(tok *oauth2.Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok != nil && tok != nil && c.tok.AccessToken == tok.AccessToken {
		c.tok = nil
	}
}

// tokenError is an error getting an access token.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return "getting an access token: " + e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

// authError classifies an error from the token endpoint: refused
// credentials match ErrReauthorize, a server error or throttling is
// retryable, anything else is permanent.
func authError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		code, desc := re.ErrorCode, re.ErrorDescription
		if code == "" { // x/oauth2/jwt does not parse the body
			var b struct {
				Error            string `json:"error"`
				ErrorDescription string `json:"error_description"`
			}
			if json.Unmarshal(re.Body, &b) == nil {
				code, desc = b.Error, b.ErrorDescription
			}
		}
		switch code {
		case "invalid_grant", "invalid_client", "unauthorized_client", "access_denied", "invalid_scope":
			if desc != "" {
				code += ": " + desc
			}
			return &tokenError{fmt.Errorf("%w (%s)", ErrReauthorize, code)}
		}
		if re.Response != nil && (re.Response.StatusCode >= 500 || re.Response.StatusCode == http.StatusTooManyRequests) {
			return destination.Retryable(&tokenError{err})
		}
		return &tokenError{err}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &tokenError{err}
	}
	return destination.Retryable(&tokenError{err}) // the token endpoint was unreachable
}

// authTransport adds the access token to every request. When Drive answers
// 401 (the token expired or was revoked early), it drops the token, fetches
// a new one and sends the request once more, if its body can be replayed.
type authTransport struct {
	base   http.RoundTripper
	tokens *tokenCache
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, tok, err := t.send(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	t.tokens.invalidate(tok)
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, nil // cannot replay; the caller retries the operation
	}
	resp.Body.Close()
	r2 := req
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r2 = req.Clone(req.Context())
		r2.Body = body
	}
	resp, _, err = t.send(r2)
	return resp, err
}

func (t *authTransport) send(req *http.Request) (*http.Response, *oauth2.Token, error) {
	tok, err := t.tokens.token(req.Context())
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := t.base.RoundTrip(r)
	return resp, tok, err
}
