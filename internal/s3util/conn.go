// Package s3util holds what the S3 destination (destination/s3) and the S3
// source (source/s3) share: connection settings and their URL form, the SDK
// client, error classification, and a streaming multipart uploader whose
// memory is bounded by part size × concurrency.
package s3util

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Conn are the settings needed to reach a bucket.
type Conn struct {
	Bucket          string
	Region          string
	Endpoint        string
	PathStyle       bool
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	MaxAttempts     int
	HTTPClient      *http.Client
}

// DefaultMaxAttempts is the number of attempts per request when Conn.MaxAttempts is 0.
const DefaultMaxAttempts = 5

// Validate checks the settings without any network access.
func (c *Conn) Validate() error {
	if err := ValidateBucketName(c.Bucket); err != nil {
		return err
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("endpoint %q is not an http:// or https:// URL with a host", redactEndpoint(c.Endpoint))
		}
		if u.User != nil {
			return errors.New("endpoint must not contain a user name or password; use access_key_id and secret_access_key")
		}
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return errors.New("access key id and secret access key must be given together (or neither, for the SDK's default credential chain)")
	}
	if c.SessionToken != "" && c.AccessKeyID == "" {
		return errors.New("a session token needs an access key id and secret access key")
	}
	if c.MaxAttempts < 0 {
		return fmt.Errorf("max attempts %d is negative", c.MaxAttempts)
	}
	return nil
}

func redactEndpoint(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		if i := strings.Index(s, "@"); i >= 0 {
			return "xxxxx" + s[i:]
		}
		return s
	}
	u.User = nil
	return u.String()
}

// ValidateBucketName checks the S3 bucket naming rules loosely (3 to 63
// lower-case letters, digits, dots and hyphens), so that a typo fails before
// any request.
func ValidateBucketName(b string) error {
	if b == "" {
		return errors.New("bucket name is empty")
	}
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q must be 3 to 63 characters long", b)
	}
	for _, r := range b {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
			return fmt.Errorf("bucket name %q may contain only lower-case letters, digits, '.' and '-'", b)
		}
	}
	return nil
}

// NewClient returns an S3 client for c. Credentials are the explicit keys
// when set, else the SDK's default chain (environment, shared files, web
// identity, container and instance roles). Requests are retried with
// exponential backoff and jitter on throttling, 5xx answers and dropped
// connections, up to c.MaxAttempts attempts; 4xx answers are not retried.
func NewClient(ctx context.Context, c Conn) (*s3.Client, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	attempts := c.MaxAttempts
	if attempts == 0 {
		attempts = DefaultMaxAttempts
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.MaxBackoff = 10 * time.Second
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	if c.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		if c.Endpoint == "" {
			return nil, errors.New("no region: set region (or AWS_REGION) for AWS S3")
		}
		cfg.Region = "us-east-1" // S3-compatible stores mostly ignore it
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
		o.UsePathStyle = c.PathStyle
		if c.HTTPClient != nil {
			// Set here rather than with config.WithHTTPClient, which refuses
			// a plain *http.Client when AWS_CA_BUNDLE is set.
			o.HTTPClient = c.HTTPClient
		}
		// Checksums are asked for explicitly where they are wanted (uploads),
		// which S3-compatible stores handle better than the SDK's default of
		// adding them to every request.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}), nil
}

// URLParams are the query parameters every s3 URL accepts (see ParseURL).
var URLParams = []string{"region", "endpoint", "path_style", "access_key_id", "secret_access_key", "session_token", "max_attempts"}

// ParseURL reads an "s3://bucket/prefix?..." URL into a Conn and a prefix
// (without leading or trailing slashes). It returns the query parameters
// that are not connection settings for the caller to interpret; a parameter
// given twice is an error. Errors never contain secrets.
func ParseURL(u *url.URL) (Conn, string, url.Values, error) {
	var c Conn
	if !strings.EqualFold(u.Scheme, "s3") {
		return c, "", nil, fmt.Errorf("URL scheme is %q, not \"s3\"", u.Scheme)
	}
	if u.User != nil {
		return c, "", nil, errors.New("an s3 URL cannot have user information; use access_key_id and secret_access_key parameters")
	}
	if u.Opaque != "" || u.Host == "" {
		return c, "", nil, errors.New("an s3 URL names a bucket: s3://bucket/prefix")
	}
	if u.Fragment != "" {
		return c, "", nil, errors.New(`an s3 URL cannot have a fragment ("#...")`)
	}
	c.Bucket = u.Host
	prefix := strings.Trim(u.Path, "/")
	rest := url.Values{}
	for name, values := range u.Query() {
		if len(values) != 1 && name != "tag" {
			return c, "", nil, fmt.Errorf("s3 URL parameter %q is given %d times", name, len(values))
		}
		v := values[0]
		switch name {
		case "region":
			c.Region = v
		case "endpoint":
			c.Endpoint = v
		case "path_style":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return c, "", nil, fmt.Errorf("s3 URL parameter path_style=%q is not true or false", v)
			}
			c.PathStyle = b
		case "access_key_id":
			c.AccessKeyID = v
		case "secret_access_key":
			c.SecretAccessKey = v
		case "session_token":
			c.SessionToken = v
		case "max_attempts":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return c, "", nil, fmt.Errorf("s3 URL parameter max_attempts=%q is not a positive integer", v)
			}
			c.MaxAttempts = n
		default:
			rest[name] = values
		}
	}
	return c, prefix, rest, nil
}

// UnknownParam returns the error for a query parameter no one knows.
func UnknownParam(name string, extra []string) error {
	known := slices.Concat(URLParams, extra)
	slices.Sort(known)
	return fmt.Errorf("unknown s3 URL parameter %q (known: %s)", name, strings.Join(known, ", "))
}
