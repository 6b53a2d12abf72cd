package s3

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/internal/s3util"
	"github.com/backupkit/backupkit/internal/units"
)

// Scheme is the URL scheme this package registers with destination.Register.
const Scheme = "s3"

func init() {
	destination.Register(Scheme, func(ctx context.Context, u *url.URL) (destination.Destination, error) {
		return NewFromURL(ctx, u)
	})
}

// urlParams are the parameters of destination URLs beyond the connection ones.
var urlParams = []string{"storage_class", "sse", "sse_kms_key_id", "tag", "part_size", "concurrency", "checksum", "cleanup_age", "stall_timeout"}

// NewFromURL returns the Bucket an "s3://bucket/prefix?..." URL names; see
// the package documentation for its parameters. It is what destination.Open
// calls for the "s3" scheme. Errors never contain secrets.
func NewFromURL(ctx context.Context, u *url.URL) (*Bucket, error) {
	opts, err := ParseURL(u)
	if err != nil {
		return nil, err
	}
	return New(ctx, opts)
}

// ParseURL returns the Options an "s3://bucket/prefix?..." URL describes,
// without any network access.
func ParseURL(u *url.URL) (Options, error) {
	c, prefix, rest, err := s3util.ParseURL(u)
	if err != nil {
		return Options{}, fmt.Errorf("s3: %w", err)
	}
	o := Options{
		Bucket: c.Bucket, Prefix: prefix, Region: c.Region, Endpoint: c.Endpoint, PathStyle: c.PathStyle,
		AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken,
		MaxAttempts: c.MaxAttempts,
	}
	for name, values := range rest {
		v := values[0]
		switch name {
		case "storage_class":
			o.StorageClass = v
		case "sse":
			o.SSE = v
		case "sse_kms_key_id":
			o.SSEKMSKeyID = v
		case "checksum":
			o.Checksum = v
		case "tag":
			o.Tags = map[string]string{}
			for _, t := range values {
				k, val, ok := strings.Cut(t, ":")
				if !ok || k == "" {
					return Options{}, fmt.Errorf("s3: URL parameter tag=%q is not KEY:VALUE", t)
				}
				o.Tags[k] = val
			}
		case "part_size":
			n, err := units.ParsePositive(v)
			if err != nil {
				return Options{}, fmt.Errorf("s3: URL parameter part_size=%q: %w", v, err)
			}
			o.PartSize = n
		case "concurrency":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return Options{}, fmt.Errorf("s3: URL parameter concurrency=%q is not a positive integer", v)
			}
			o.Concurrency = n
		case "cleanup_age":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return Options{}, fmt.Errorf("s3: URL parameter cleanup_age=%q is not a positive duration such as 48h", v)
			}
			o.CleanupAge = d
		case "stall_timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return Options{}, fmt.Errorf("s3: URL parameter stall_timeout=%q is not a duration such as 30s (0 turns the check off)", v)
			}
			if d == 0 {
				d = -1
			}
			o.StallTimeout = d
		default:
			return Options{}, fmt.Errorf("s3: %w", s3util.UnknownParam(name, urlParams))
		}
	}
	return o, nil
}
