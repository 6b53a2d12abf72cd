package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/internal/s3util"
)

// Options configure a Bucket. Only Bucket is required; the zero value of
// every other field means the default stated on it.
type Options struct {
	// Bucket is the bucket's name. It must exist.
	Bucket string
	// Prefix is prepended, with a slash, to every key: objects live under
	// "Prefix/key". Leading and trailing slashes are ignored; empty means
	// the bucket's root.
	Prefix string

	// Region is the bucket's region. Empty means the SDK's default (the
	// AWS_REGION variable or shared configuration), or "us-east-1" when
	// Endpoint is set.
	Region string
	// Endpoint is the base URL of an S3-compatible store
	// ("http://127.0.0.1:9000", "https://<account>.r2.cloudflarestorage.com").
	// Empty means AWS S3.
	Endpoint string
	// PathStyle addresses buckets as "endpoint/bucket" rather than
	// "bucket.endpoint". MinIO and most self-hosted stores need it.
	PathStyle bool

	// AccessKeyID, SecretAccessKey and SessionToken are explicit
	// credentials. When empty, the SDK's default chain is used (environment,
	// shared credentials and config files, web identity, ECS and EC2 roles).
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string

	// StorageClass of the objects written ("STANDARD_IA", "GLACIER_IR", ...).
	// Empty means the bucket's default (STANDARD).
	StorageClass string
	// SSE selects server-side encryption: "" (the bucket's default),
	// "AES256" (SSE-S3) or "aws:kms" (SSE-KMS, with SSEKMSKeyID or the
	// account's default key).
	SSE string
	// SSEKMSKeyID is the KMS key id or ARN for SSE "aws:kms".
	SSEKMSKeyID string
	// Tags are set on every object written (S3 object tagging).
	Tags map[string]string

	// PartSize is the size of multipart upload parts, at least 5 MiB;
	// default 8 MiB. An object smaller than one part is sent in one request.
	PartSize int64
	// Concurrency is the number of parts of one Put sent at once; default 4.
	// One Put holds at most PartSize × Concurrency bytes in memory.
	Concurrency int
	// Checksum is the algorithm of the checksum sent with every upload
	// request, which S3 verifies: "CRC32" (default), "CRC32C", "SHA1",
	// "SHA256", or "none".
	Checksum string
	// MaxAttempts is the number of attempts per request, retried with
	// exponential backoff on throttling, 5xx answers and dropped
	// connections; default 5.
	MaxAttempts int
	// CleanupAge is how old an incomplete multipart upload must be before
	// Cleanup aborts it; default 24 hours. See Bucket.Cleanup.
	CleanupAge time.Duration

	// StallTimeout fails a request on which nothing has moved for this long
	// (no byte of the request taken by the connection, no answer, no byte
	// of the answer while it is read); the SDK then retries it like a
	// timeout. A slow transfer that still moves is never cut, however long
	// it takes. Zero means DefaultStallTimeout (one minute); negative turns
	// the check off.
	StallTimeout time.Duration

	// HTTPClient sends the requests; nil means the SDK's default.
	HTTPClient *http.Client
	// SkipBucketCheck makes New skip the HeadBucket request that checks,
	// before any data moves, that the bucket exists and the credentials
	// work.
	SkipBucketCheck bool
}

// DefaultCleanupAge is the CleanupAge used when Options.CleanupAge is zero.
const DefaultCleanupAge = 24 * time.Hour

// probePrefix begins the names of Check's probe objects. Keys whose first
// segment begins with it are reserved.
const probePrefix = ".backupkit-check-"

// maxS3Key is S3's limit on the length of an object key, in bytes.
const maxS3Key = 1024

// Bucket is a destination.Destination that keeps objects in an S3 bucket,
// under a prefix. It is safe for concurrent use.
type Bucket struct {
	client     *s3.Client
	bucket     string
	prefix     string // "" or ends with "/"
	up         *s3util.Uploader
	cleanupAge time.Duration
}

var (
	_ destination.Destination = (*Bucket)(nil)
	_ destination.Checker     = (*Bucket)(nil)
	_ destination.StallGuard  = (*Bucket)(nil)
	_ destination.Cleaner     = (*Bucket)(nil)
)

// New checks opts and returns a Bucket. Unless opts.SkipBucketCheck is set,
// it sends one HeadBucket request, so that an unknown bucket, wrong
// credentials or an unreachable endpoint fail here, with a clear error,
// rather than in the middle of a backup. Errors never contain secrets.
func New(ctx context.Context, opts Options) (*Bucket, error) {
	conn := s3util.Conn{
		Bucket:          opts.Bucket,
		Region:          opts.Region,
		Endpoint:        opts.Endpoint,
		PathStyle:       opts.PathStyle,
		AccessKeyID:     opts.AccessKeyID,
		SecretAccessKey: opts.SecretAccessKey,
		SessionToken:    opts.SessionToken,
		MaxAttempts:     opts.MaxAttempts,
		HTTPClient:      opts.HTTPClient,
	}
	if err := conn.Validate(); err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	prefix := strings.Trim(opts.Prefix, "/")
	if prefix != "" {
		if err := destination.ValidateKey(prefix); err != nil {
			return nil, fmt.Errorf("s3: prefix: %w", err)
		}
		prefix += "/"
	}
	up := &s3util.Uploader{
		Bucket:      opts.Bucket,
		PartSize:    opts.PartSize,
		Concurrency: opts.Concurrency,
		SSEKMSKeyID: opts.SSEKMSKeyID,
	}
	if up.PartSize == 0 {
		up.PartSize = s3util.DefaultPartSize
	}
	if up.PartSize < s3util.MinPartSize || up.PartSize > s3util.MaxPartSize {
		return nil, fmt.Errorf("s3: part size %d is outside S3's limits of 5 MiB to 5 GiB", opts.PartSize)
	}
	if up.Concurrency < 0 || up.Concurrency > 256 {
		return nil, fmt.Errorf("s3: concurrency %d is outside 1 to 256", opts.Concurrency)
	}
	if opts.StorageClass != "" {
		sc := types.StorageClass(opts.StorageClass)
		if !slices.Contains(sc.Values(), sc) {
			return nil, fmt.Errorf("s3: unknown storage class %q (known: %s)", opts.StorageClass, joinValues(sc.Values()))
		}
		up.StorageClass = sc
	}
	switch opts.SSE {
	case "":
		if opts.SSEKMSKeyID != "" {
			return nil, errors.New(`s3: an SSE-KMS key id needs sse "aws:kms"`)
		}
	case string(types.ServerSideEncryptionAes256), string(types.ServerSideEncryptionAwsKms), string(types.ServerSideEncryptionAwsKmsDsse):
		up.SSE = types.ServerSideEncryption(opts.SSE)
		if opts.SSEKMSKeyID != "" && up.SSE == types.ServerSideEncryptionAes256 {
			return nil, errors.New(`s3: an SSE-KMS key id needs sse "aws:kms", not "AES256"`)
		}
	default:
		return nil, fmt.Errorf(`s3: unknown server-side encryption %q (known: "AES256", "aws:kms", "aws:kms:dsse")`, opts.SSE)
	}
	switch c := strings.ToUpper(opts.Checksum); c {
	case "":
	case "NONE":
		up.Checksum = "none"
	default:
		a := types.ChecksumAlgorithm(c)
		if !slices.Contains(a.Values(), a) {
			return nil, fmt.Errorf("s3: unknown checksum algorithm %q (known: %s, none)", opts.Checksum, joinValues(a.Values()))
		}
		up.Checksum = a
	}
	if len(opts.Tags) > 0 {
		if len(opts.Tags) > 10 {
			return nil, fmt.Errorf("s3: %d tags; S3 allows at most 10 per object", len(opts.Tags))
		}
		v := url.Values{}
		for k, val := range opts.Tags {
			if k == "" {
				return nil, errors.New("s3: a tag has an empty key")
			}
			v.Set(k, val)
		}
		up.Tagging = v.Encode()
	}
	if opts.CleanupAge < 0 {
		return nil, fmt.Errorf("s3: cleanup age %v is negative", opts.CleanupAge)
	}
	client, err := s3util.NewClient(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	idle := opts.StallTimeout
	if idle == 0 {
		idle = DefaultStallTimeout
	}
	client = s3.New(client.Options(), func(o *s3.Options) {
		o.HTTPClient = &guardClient{next: o.HTTPClient, idle: idle}
	})
	up.Client = client
	b := &Bucket{client: client, bucket: opts.Bucket, prefix: prefix, up: up, cleanupAge: opts.CleanupAge}
	if b.cleanupAge == 0 {
		b.cleanupAge = DefaultCleanupAge
	}
	if !opts.SkipBucketCheck {
		if err := b.headBucket(ctx); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func joinValues[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// GuardsStalls reports true: the bucket fails stalled requests itself after
// Options.StallTimeout, or the check was turned off for it, which the
// engine respects (see destination.StallGuard).
func (b *Bucket) GuardsStalls() bool { return true }

// String returns "s3://bucket/prefix", with no secrets.
func (b *Bucket) String() string { return "s3://" + b.bucket + "/" + b.prefix }

// Client returns the SDK client the Bucket uses, for what this package does
// not offer (object lock, lifecycle rules, presigned URLs).
func (b *Bucket) Client() *s3.Client { return b.client }

func (b *Bucket) headBucket(ctx context.Context) error {
	_, err := b.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(b.bucket)})
	if err == nil {
		return nil
	}
	switch {
	case s3util.IsNoSuchBucket(err) || s3util.StatusCode(err) == http.StatusNotFound:
		return fmt.Errorf("s3: bucket %q does not exist: %w", b.bucket, err)
	case s3util.IsAccessDenied(err):
		return fmt.Errorf("s3: bucket %q: access denied (check the credentials and their rights): %w: %w", b.bucket, destination.ErrPermission, err)
	case s3util.StatusCode(err) == 0 && ctx.Err() == nil:
		return fmt.Errorf("s3: bucket %q: cannot reach the endpoint: %w", b.bucket, b.classify(err))
	}
	return fmt.Errorf("s3: bucket %q: %w", b.bucket, b.classify(err))
}

// classify marks err with the destination error it matches.
func (b *Bucket) classify(err error) error {
	switch {
	case err == nil:
		return nil
	case s3util.IsNotFound(err):
		return fmt.Errorf("%w: %w", destination.ErrNotExist, err)
	case s3util.IsAccessDenied(err):
		return fmt.Errorf("%w: %w", destination.ErrPermission, err)
	case s3util.IsTransient(err):
		return destination.Retryable(err)
	}
	return err
}

func (b *Bucket) wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("s3: %s %q in %s: %w", op, key, b, b.classify(err))
}

// checkKey validates key, refusing reserved names and keys that S3's limit
// of 1024 bytes (prefix included) would refuse.
func (b *Bucket) checkKey(key string) error {
	if err := destination.ValidateKey(key); err != nil {
		return err
	}
	if len(b.prefix)+len(key) > maxS3Key {
		return fmt.Errorf("%w: key of %d bytes under the prefix %q is longer than S3's limit of %d bytes", destination.ErrInvalidKey, len(key), b.prefix, maxS3Key)
	}
	if strings.HasPrefix(key, probePrefix) {
		return fmt.Errorf("%w %q: names beginning with %q are reserved", destination.ErrInvalidKey, key, probePrefix)
	}
	return nil
}

// Put stores r under the key with a single PutObject when it is smaller than
// one part, else with a multipart upload of up to Concurrency parts in
// flight. Either becomes visible only when whole. If anything fails (r, ctx,
// a part, a size that differs from opts.Size), the multipart upload is
// aborted, so no parts are left behind, and an object previously stored
// under key is left as it was. A Put whose CreateMultipartUpload was
// retried, or that failed, also aborts the incomplete uploads of its key
// that no Put of this process runs: those whose IDs a lost answer hid.
// Errors from r are wrapped, not replaced. The returned Object's ModTime
// is the local time the Put completed; Stat and List report S3's
// Last-Modified.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, opts *destination.PutOptions) (destination.Object, error) {
	if err := b.checkKey(key); err != nil {
		return destination.Object{}, fmt.Errorf("s3: put: %w", err)
	}
	in := s3util.UploadInput{Key: b.prefix + key}
	if opts != nil {
		in.Size = opts.Size
		in.ContentType = opts.ContentType
		in.Metadata = opts.Metadata
	}
	trace := &putTrace{}
	n, err := b.up.Upload(context.WithValue(ctx, putTraceKey{}, trace), in, r)
	if c := trace.creates.Load(); c > 1 || (c == 1 && err != nil) {
		// The answer to a CreateMultipartUpload may have been lost and the
		// request retried: the uploads whose IDs this Put never learned
		// would be left until Cleanup.
		b.abortStrays(ctx, in.Key)
	}
	if err != nil {
		var re *s3util.ReaderError
		if errors.As(err, &re) || errors.Is(err, s3util.ErrSizeMismatch) || ctx.Err() != nil {
			return destination.Object{}, fmt.Errorf("s3: put %q in %s: %w", key, b, err)
		}
		return destination.Object{}, b.wrap("put", key, err)
	}
	return destination.Object{Key: key, Size: n, ModTime: time.Now()}, nil
}

// abortStrays aborts the incomplete multipart uploads of exactly fullKey
// that no Put of this process is running: those of a Put whose
// CreateMultipartUpload was retried. Best effort, with its own one-minute
// deadline: what it misses, Cleanup removes later.
func (b *Bucket) abortStrays(ctx context.Context, fullKey string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	out, err := b.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{
		Bucket: aws.String(b.bucket), Prefix: aws.String(fullKey),
	})
	if err != nil {
		return // gofakes3 answers NoSuchUpload when there are none
	}
	for _, up := range out.Uploads {
		if aws.ToString(up.Key) != fullKey || s3util.Live.Has(b.bucket, aws.ToString(up.UploadId)) {
			continue
		}
		_, _ = b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(b.bucket), Key: up.Key, UploadId: up.UploadId,
		})
	}
}

// Open returns a streaming reader of the object; the caller closes it.
func (b *Bucket) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := b.checkKey(key); err != nil {
		return nil, fmt.Errorf("s3: open: %w", err)
	}
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(b.prefix + key)})
	if err != nil {
		return nil, b.wrap("open", key, err)
	}
	return out.Body, nil
}

// Stat returns the object's size and last-modified time (HeadObject).
func (b *Bucket) Stat(ctx context.Context, key string) (destination.Object, error) {
	if err := b.checkKey(key); err != nil {
		return destination.Object{}, fmt.Errorf("s3: stat: %w", err)
	}
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(b.prefix + key)})
	if err != nil {
		return destination.Object{}, b.wrap("stat", key, err)
	}
	return destination.Object{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// Delete removes the object; a missing key is not an error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := b.checkKey(key); err != nil {
		return fmt.Errorf("s3: delete: %w", err)
	}
	_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(b.prefix + key)})
	if err != nil && !s3util.IsNotFound(err) {
		return b.wrap("delete", key, err)
	}
	return nil
}

// List yields the objects whose keys start with prefix, in lexical order,
// reading ListObjectsV2 pages as it goes. Objects under the Bucket's prefix
// whose names are not valid keys (written by other tools) are skipped.
func (b *Bucket) List(ctx context.Context, prefix string) iter.Seq2[destination.Object, error] {
	return func(yield func(destination.Object, error) bool) {
		if !canPrefixKey(prefix) {
			return // no valid key starts with it; some stores refuse such prefixes
		}
		// Some stores (MinIO) refuse a prefix whose last segment is "." or
		// "..", which keys such as ".hidden" may still start with: list the
		// segment's folder and filter.
		listPrefix := prefix
		if last := prefix[strings.LastIndexByte(prefix, '/')+1:]; last == "." || last == ".." {
			listPrefix = prefix[:len(prefix)-len(last)]
		}
		p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{
			Bucket: aws.String(b.bucket),
			Prefix: aws.String(b.prefix + listPrefix),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				yield(destination.Object{}, b.wrap("list", prefix, err))
				return
			}
			for _, o := range page.Contents {
				key, ok := strings.CutPrefix(aws.ToString(o.Key), b.prefix)
				if !ok || !strings.HasPrefix(key, prefix) || b.checkKey(key) != nil {
					continue
				}
				if !yield(destination.Object{Key: key, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)}, nil) {
					return
				}
			}
		}
	}
}

// Check reports whether the bucket exists and the credentials can list it
// and write to it: it lists one key, then writes and deletes a probe object
// named ".backupkit-check-<random>" under the prefix.
func (b *Bucket) Check(ctx context.Context) error {
	if err := b.headBucket(ctx); err != nil {
		return err
	}
	_, err := b.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(b.bucket), Prefix: aws.String(b.prefix), MaxKeys: aws.Int32(1)})
	if err != nil {
		return fmt.Errorf("s3: check: cannot list %s: %w", b, b.classify(err))
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	probe := b.prefix + probePrefix + hex.EncodeToString(rnd[:])
	if _, err := b.up.Upload(ctx, s3util.UploadInput{Key: probe, ContentType: "text/plain"}, strings.NewReader("backupkit check\n")); err != nil {
		return fmt.Errorf("s3: check: cannot write to %s: %w", b, b.classify(err))
	}
	_, err = b.client.DeleteObject(context.WithoutCancel(ctx), &s3.DeleteObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(probe)})
	if err != nil {
		return fmt.Errorf("s3: check: cannot delete the probe object %q in %s: %w", probe, b, b.classify(err))
	}
	return nil
}

// Cleanup aborts the incomplete multipart uploads under the Bucket's prefix
// that were initiated more than CleanupAge ago and that no Put of this
// process is running. A Put in another process that has been running for
// longer than CleanupAge would lose its upload, so CleanupAge must exceed
// the longest backup. Put aborts its own upload when it fails, and those a
// retried CreateMultipartUpload started, so only a process that died
// mid-Put (or whose abort or listing failed) leaves any.
// It returns the number of uploads aborted.
func (b *Bucket) Cleanup(ctx context.Context) (int, error) {
	cutoff := time.Now().Add(-b.cleanupAge)
	// The whole bucket is listed and filtered here: MinIO lists only the
	// uploads of one object when given a prefix.
	p := s3.NewListMultipartUploadsPaginator(b.client, &s3.ListMultipartUploadsInput{
		Bucket: aws.String(b.bucket),
	})
	n := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil && s3util.ErrorCode(err) == "NoSuchUpload" {
			break // gofakes3's answer when there are none
		}
		if err != nil {
			return n, fmt.Errorf("s3: cleanup: listing multipart uploads in %s: %w", b, b.classify(err))
		}
		for _, up := range page.Uploads {
			id := aws.ToString(up.UploadId)
			if !strings.HasPrefix(aws.ToString(up.Key), b.prefix) || s3util.Live.Has(b.bucket, id) || aws.ToTime(up.Initiated).After(cutoff) {
				continue
			}
			_, err := b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(b.bucket), Key: up.Key, UploadId: up.UploadId,
			})
			if err != nil && !s3util.IsNotFound(err) {
				return n, fmt.Errorf("s3: cleanup: aborting the upload of %q in %s: %w", aws.ToString(up.Key), b, b.classify(err))
			}
			if err == nil {
				n++
			}
		}
	}
	return n, nil
}

// canPrefixKey reports whether some valid key could start with prefix.
func canPrefixKey(prefix string) bool {
	if prefix == "" {
		return true
	}
	if !utf8.ValidString(prefix) || strings.ContainsRune(prefix, '\\') {
		return false
	}
	for _, r := range prefix {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	segs := strings.Split(prefix, "/")
	for _, seg := range segs[:len(segs)-1] { // the complete segments
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}
