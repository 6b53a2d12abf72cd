package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/backupkit/backupkit/internal/s3util"
	"github.com/backupkit/backupkit/source"
)

// Kind is the Info.Kind of this adapter's snapshots.
const Kind = "s3"

// Format is the byte format of this adapter's snapshots.
const Format = "tar"

// Options configure a Bucket. Only Bucket is required.
type Options struct {
	// Bucket is the bucket to back up. It must exist.
	Bucket string
	// Prefix limits the snapshot to the objects whose keys start with
	// "Prefix/"; entries are named by their keys relative to it. Leading and
	// trailing slashes are ignored; empty means the whole bucket.
	Prefix string

	// Region, Endpoint, PathStyle and the credentials work as in
	// destination/s3: empty Region means the SDK's default (or "us-east-1"
	// with an Endpoint), empty Endpoint means AWS, and empty credentials mean
	// the SDK's default chain.
	Region          string
	Endpoint        string
	PathStyle       bool
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string

	// Concurrency is the number of objects fetched ahead of the one being
	// written, default 8. Objects up to 256 KiB are read whole by the
	// fetchers; larger ones are streamed when their turn comes, so memory
	// stays below Concurrency × 256 KiB plus the SDK's buffers.
	Concurrency int
	// PartSize and UploadConcurrency bound Restore's uploads, as in
	// destination/s3 (defaults 8 MiB and 4).
	PartSize          int64
	UploadConcurrency int
	// MaxAttempts is the number of attempts per request (default 5).
	MaxAttempts int
	// HTTPClient sends the requests; nil means the SDK's default.
	HTTPClient *http.Client
	// SkipBucketCheck makes New skip its HeadBucket request.
	SkipBucketCheck bool
}

// DefaultConcurrency is the Concurrency used when Options.Concurrency is 0.
const DefaultConcurrency = 8

// smallObject is the size up to which fetchers read an object whole.
const smallObject = 256 << 10

// Bucket is a source.Source that snapshots the objects of a bucket, or of a
// prefix of one, as a tar stream, and restores such streams into a bucket.
// It is safe for concurrent use.
type Bucket struct {
	client      *s3.Client
	bucket      string
	prefix      string // "" or ends with "/"
	concurrency int
	partSize    int64
	upConc      int
	endpoint    string
}

var (
	_ source.Source   = (*Bucket)(nil)
	_ source.Restorer = (*Bucket)(nil)
	_ source.Checker  = (*Bucket)(nil)
)

// New checks opts and returns a Bucket. Unless opts.SkipBucketCheck is set
// it sends one HeadBucket request, so that an unknown bucket, wrong
// credentials or an unreachable endpoint fail here with a clear error.
// Errors never contain secrets.
func New(ctx context.Context, opts Options) (*Bucket, error) {
	conn := s3util.Conn{
		Bucket: opts.Bucket, Region: opts.Region, Endpoint: opts.Endpoint, PathStyle: opts.PathStyle,
		AccessKeyID: opts.AccessKeyID, SecretAccessKey: opts.SecretAccessKey, SessionToken: opts.SessionToken,
		MaxAttempts: opts.MaxAttempts, HTTPClient: opts.HTTPClient,
	}
	if err := conn.Validate(); err != nil {
		return nil, fmt.Errorf("s3 source: %w", err)
	}
	prefix := strings.Trim(opts.Prefix, "/")
	if prefix != "" {
		if err := checkName(prefix); err != nil {
			return nil, fmt.Errorf("s3 source: prefix %q: %w", prefix, err)
		}
		prefix += "/"
	}
	if opts.Concurrency < 0 || opts.UploadConcurrency < 0 {
		return nil, errors.New("s3 source: concurrency is negative")
	}
	if opts.PartSize != 0 && (opts.PartSize < s3util.MinPartSize || opts.PartSize > s3util.MaxPartSize) {
		return nil, fmt.Errorf("s3 source: part size %d is outside S3's limits of 5 MiB to 5 GiB", opts.PartSize)
	}
	client, err := s3util.NewClient(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("s3 source: %w", err)
	}
	b := &Bucket{
		client: client, bucket: opts.Bucket, prefix: prefix, concurrency: opts.Concurrency,
		partSize: opts.PartSize, upConc: opts.UploadConcurrency, endpoint: opts.Endpoint,
	}
	if b.concurrency == 0 {
		b.concurrency = DefaultConcurrency
	}
	if !opts.SkipBucketCheck {
		if err := headBucket(ctx, client, b.bucket); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func headBucket(ctx context.Context, c *s3.Client, bucket string) error {
	_, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	switch {
	case err == nil:
		return nil
	case s3util.IsNoSuchBucket(err) || s3util.StatusCode(err) == http.StatusNotFound:
		return fmt.Errorf("s3 source: bucket %q does not exist: %w", bucket, err)
	case s3util.IsAccessDenied(err):
		return fmt.Errorf("s3 source: bucket %q: access denied (check the credentials and their rights): %w", bucket, err)
	case s3util.StatusCode(err) == 0 && ctx.Err() == nil:
		return fmt.Errorf("s3 source: bucket %q: cannot reach the endpoint: %w", bucket, err)
	}
	return fmt.Errorf("s3 source: bucket %q: %w", bucket, err)
}

// String returns "s3://bucket/prefix", with no secrets.
func (b *Bucket) String() string { return "s3://" + b.bucket + "/" + b.prefix }

// Format returns "tar".
func (b *Bucket) Format() string { return Format }

// Check reports whether the bucket exists and the credentials can list it
// and read from it: it lists one key under the prefix and, if there is
// one, reads its first byte.
func (b *Bucket) Check(ctx context.Context) error {
	if err := headBucket(ctx, b.client, b.bucket); err != nil {
		return err
	}
	out, err := b.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(b.bucket), Prefix: aws.String(b.prefix), MaxKeys: aws.Int32(1)})
	if err != nil {
		return fmt.Errorf("s3 source: check: cannot list %s: %w", b, err)
	}
	if len(out.Contents) == 0 || aws.ToInt64(out.Contents[0].Size) == 0 {
		return nil
	}
	key := aws.ToString(out.Contents[0].Key)
	obj, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(key), Range: aws.String("bytes=0-0")})
	if err != nil {
		return fmt.Errorf("s3 source: check: cannot read %q in bucket %q: %w", key, b.bucket, err)
	}
	_, _ = io.Copy(io.Discard, obj.Body)
	obj.Body.Close()
	return nil
}

// checkName reports whether an entry name (an object key relative to the
// prefix) is safe: non-empty valid UTF-8 without NUL, not absolute, and
// without "." or ".." segments, so that it cannot name anything outside the
// prefix it is restored under. Empty segments ("a//b", "folder/") are
// allowed: S3 keys have them, and they escape nothing.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case strings.HasPrefix(name, "/"):
		return errors.New("absolute name (leading slash)")
	case strings.ContainsRune(name, 0):
		return errors.New("NUL byte in name")
	case strings.ContainsRune(name, '\\'):
		return errors.New(`backslash in name`)
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "." || seg == ".." {
			return errors.New(`"." or ".." segment in name`)
		}
	}
	if !isUTF8(name) {
		return errors.New("name is not valid UTF-8")
	}
	return nil
}

// Scheme is the URL scheme this package registers with source.Register.
const Scheme = "s3"

func init() {
	source.Register(Scheme, func(ctx context.Context, u *url.URL) (source.Source, error) {
		return NewFromURL(ctx, u)
	})
}

var urlParams = []string{"concurrency", "part_size"}

// NewFromURL returns the Bucket an "s3://bucket/prefix?..." URL names. It
// takes the connection parameters of destination/s3 (region, endpoint,
// path_style, access_key_id, secret_access_key, session_token,
// max_attempts) plus concurrency. Errors never contain secrets.
func NewFromURL(ctx context.Context, u *url.URL) (*Bucket, error) {
	c, prefix, rest, err := s3util.ParseURL(u)
	if err != nil {
		return nil, fmt.Errorf("s3 source: %w", err)
	}
	o := Options{
		Bucket: c.Bucket, Prefix: prefix, Region: c.Region, Endpoint: c.Endpoint, PathStyle: c.PathStyle,
		AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, MaxAttempts: c.MaxAttempts,
	}
	for name, values := range rest {
		switch name {
		case "concurrency":
			n, err := strconv.Atoi(values[0])
			if err != nil || n < 1 {
				return nil, fmt.Errorf("s3 source: URL parameter concurrency=%q is not a positive integer", values[0])
			}
			o.Concurrency = n
		case "part_size":
			n, err := strconv.ParseInt(strings.TrimSuffix(values[0], "MiB"), 10, 64)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("s3 source: URL parameter part_size=%q is not a size such as 16MiB", values[0])
			}
			if strings.HasSuffix(values[0], "MiB") {
				n <<= 20
			}
			o.PartSize = n
		default:
			return nil, fmt.Errorf("s3 source: %w", s3util.UnknownParam(name, urlParams))
		}
	}
	return New(ctx, o)
}
