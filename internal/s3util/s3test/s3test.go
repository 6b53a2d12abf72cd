// Package s3test gives the S3 adapters' tests a server to run against: an
// in-process gofakes3 (always available) or the MinIO of internal/testenv
// (under scripts/test-all), and fresh buckets on it.
package s3test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/backupkit/backupkit/internal/s3util"
	"github.com/backupkit/backupkit/internal/testenv"
)

// Server is an S3 endpoint with its credentials.
type Server struct {
	Name      string // "gofakes3" or "minio"
	Endpoint  string
	AccessKey string
	SecretKey string
	Region    string
}

// Conn returns connection settings for bucket on s (path-style addressing).
func (s Server) Conn(bucket string) s3util.Conn {
	return s3util.Conn{
		Bucket: bucket, Endpoint: s.Endpoint, Region: s.Region, PathStyle: true,
		AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey,
	}
}

// Client returns an SDK client for s.
func (s Server) Client(t testing.TB) *s3.Client {
	t.Helper()
	c, err := s3util.NewClient(context.Background(), s.Conn("placeholder"))
	if err != nil {
		t.Fatalf("s3test: client: %v", err)
	}
	return c
}

// Fake starts an in-process gofakes3 server for the test and returns it.
// gofakes3 checks neither signatures nor checksums.
func Fake(t testing.TB) Server {
	t.Helper()
	backend := s3mem.New()
	faker := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
	ts := httptest.NewServer(faker.Server())
	t.Cleanup(ts.Close)
	return Server{Name: "gofakes3", Endpoint: ts.URL, AccessKey: "fake-key", SecretKey: "fake-secret", Region: "us-east-1"}
}

// MinIO returns the MinIO server of internal/testenv; the test is skipped
// when there is none (and fails under scripts/test-all).
func MinIO(t testing.TB) Server {
	t.Helper()
	s := testenv.S3(t)
	return Server{Name: "minio", Endpoint: s.Endpoint, AccessKey: s.AccessKey, SecretKey: s.SecretKey, Region: s.Region}
}

// Servers runs f as a subtest for gofakes3 and for MinIO.
func Servers(t *testing.T, f func(t *testing.T, s Server)) {
	t.Run("gofakes3", func(t *testing.T) { f(t, Fake(t)) })
	t.Run("minio", func(t *testing.T) { f(t, MinIO(t)) })
}

// NewBucket creates a bucket with a unique name on s, removed with all its
// objects and uploads when the test ends.
func NewBucket(t testing.TB, s Server) string {
	t.Helper()
	name := testenv.UniqueName(t)
	c := s.Client(t)
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("s3test: creating bucket %s on %s: %v", name, s.Name, err)
	}
	t.Cleanup(func() { EmptyAndDelete(context.Background(), c, name) })
	return name
}

// EmptyAndDelete removes every object and multipart upload of the bucket and
// the bucket itself, ignoring errors.
func EmptyAndDelete(ctx context.Context, c *s3.Client, bucket string) {
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			break
		}
		for _, o := range page.Contents {
			_, _ = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		}
	}
	if ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)}); err == nil {
		for _, u := range ups.Uploads {
			_, _ = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: u.Key, UploadId: u.UploadId})
		}
	}
	_, _ = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
}

// Uploads returns the keys of the incomplete multipart uploads in bucket.
func Uploads(t testing.TB, c *s3.Client, bucket string) []string {
	t.Helper()
	out, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("s3test: ListMultipartUploads: %v", err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}
