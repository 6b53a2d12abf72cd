package s3_test

import (
	"context"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/destination"
	s3dest "github.com/backupkit/backupkit/destination/s3"
	"github.com/backupkit/backupkit/internal/s3util/s3test"
)

func TestParseURL(t *testing.T) {
	u, err := url.Parse("s3://my-bucket/backups/nightly/?region=eu-west-1&endpoint=http://127.0.0.1:9000&path_style=true" +
		"&storage_class=STANDARD_IA&sse=aws:kms&sse_kms_key_id=k-1&access_key_id=AK&secret_access_key=SK" +
		"&part_size=16MiB&concurrency=2&checksum=SHA256&tag=env:prod&tag=team:ops&cleanup_age=48h&max_attempts=3&stall_timeout=30s")
	require.NoError(t, err)
	o, err := s3dest.ParseURL(u)
	require.NoError(t, err)
	assert.Equal(t, s3dest.Options{
		Bucket: "my-bucket", Prefix: "backups/nightly", Region: "eu-west-1", Endpoint: "http://127.0.0.1:9000", PathStyle: true,
		StorageClass: "STANDARD_IA", SSE: "aws:kms", SSEKMSKeyID: "k-1", AccessKeyID: "AK", SecretAccessKey: "SK",
		PartSize: 16 << 20, Concurrency: 2, Checksum: "SHA256", Tags: map[string]string{"env": "prod", "team": "ops"},
		CleanupAge: 48 * 3600e9, MaxAttempts: 3, StallTimeout: 30 * time.Second,
	}, o)
	u, err = url.Parse("s3://b/?stall_timeout=0")
	require.NoError(t, err)
	o, err = s3dest.ParseURL(u)
	require.NoError(t, err)
	assert.Negative(t, o.StallTimeout, "stall_timeout=0 turns the check off")

	for _, bad := range []string{
		"s3:///prefix", "s3://user:pw@bucket/", "s3://bucket/?nope=1", "s3://bucket/?path_style=maybe",
		"s3://bucket/?part_size=lots", "s3://bucket/?concurrency=0", "s3://bucket/?tag=novalue", "s3://bucket/#frag",
		"s3://bucket/?region=a&region=b", "s3://bucket/?cleanup_age=-1h",
		"s3://bucket/?stall_timeout=-1s", "s3://bucket/?stall_timeout=soon",
	} {
		u, err := url.Parse(bad)
		require.NoError(t, err)
		_, err = s3dest.ParseURL(u)
		assert.Error(t, err, bad)
	}
}

// TestBadInput checks that mistakes fail in New, before any data moves,
// with an error that says what is wrong and holds no secret.
func TestBadInput(t *testing.T) {
	srv := s3test.Fake(t)
	bucket := s3test.NewBucket(t, srv)
	ctx := t.Context()
	cases := []struct {
		name string
		edit func(o *s3dest.Options)
		want string
	}{
		{"NoBucket", func(o *s3dest.Options) { o.Bucket = "" }, "bucket name is empty"},
		{"BadBucketName", func(o *s3dest.Options) { o.Bucket = "Bad_Bucket" }, "may contain only"},
		{"UnknownBucket", func(o *s3dest.Options) { o.Bucket = "no-such-bucket" }, `bucket "no-such-bucket" does not exist`},
		{"StorageClass", func(o *s3dest.Options) { o.StorageClass = "CHEAPEST" }, `unknown storage class "CHEAPEST"`},
		{"SSE", func(o *s3dest.Options) { o.SSE = "rot13" }, `unknown server-side encryption "rot13"`},
		{"KMSKeyWithoutKMS", func(o *s3dest.Options) { o.SSEKMSKeyID = "k" }, `needs sse "aws:kms"`},
		{"Checksum", func(o *s3dest.Options) { o.Checksum = "MD4" }, `unknown checksum algorithm "MD4"`},
		{"SmallPart", func(o *s3dest.Options) { o.PartSize = 1 << 20 }, "outside S3's limits"},
		{"HalfKeys", func(o *s3dest.Options) { o.AccessKeyID = "" }, "must be given together"},
		{"EndpointScheme", func(o *s3dest.Options) { o.Endpoint = "ftp://host" }, "not an http:// or https:// URL"},
		{"EndpointWithSecret", func(o *s3dest.Options) { o.Endpoint = "http://ak:" + o.SecretAccessKey + "@host" }, "must not contain a user name"},
		{"BadPrefix", func(o *s3dest.Options) { o.Prefix = "a/../b" }, "prefix"},
		{"UnreachableEndpoint", func(o *s3dest.Options) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			o.Endpoint = "http://" + l.Addr().String()
			require.NoError(t, l.Close()) // nothing listens there now
			o.MaxAttempts = 1
		}, "cannot reach the endpoint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := options(srv, bucket, "p")
			o.SecretAccessKey = "very-secret-value"
			c.edit(&o)
			_, err := s3dest.New(ctx, o)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.NotContains(t, err.Error(), "very-secret-value")
		})
	}
}

func TestWrongKeys(t *testing.T) {
	srv := s3test.MinIO(t) // gofakes3 accepts any signature
	bucket := s3test.NewBucket(t, srv)
	o := options(srv, bucket, "p")
	o.SecretAccessKey = "wrong-secret-value"
	_, err := s3dest.New(t.Context(), o)
	require.Error(t, err)
	assert.ErrorIs(t, err, destination.ErrPermission)
	assert.Contains(t, err.Error(), "access denied")
	assert.NotContains(t, err.Error(), "wrong-secret-value")
	assert.False(t, destination.IsRetryable(err))
}

func TestOpenURLRedactsSecrets(t *testing.T) {
	_, err := destination.Open(context.Background(), "s3://Bad_Bucket/p?access_key_id=AK&secret_access_key=topsecret")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "topsecret")
	assert.True(t, strings.Contains(err.Error(), "may contain only"), err.Error())
}

func TestReservedAndTooLongKeys(t *testing.T) {
	srv := s3test.Fake(t)
	b, err := s3dest.New(t.Context(), options(srv, s3test.NewBucket(t, srv), "some/prefix"))
	require.NoError(t, err)
	_, err = b.Put(t.Context(), ".backupkit-check-x", strings.NewReader("x"), nil)
	require.ErrorIs(t, err, destination.ErrInvalidKey)
	_, err = b.Put(t.Context(), strings.Repeat("k", 1020), strings.NewReader("x"), nil)
	require.ErrorIs(t, err, destination.ErrInvalidKey, "prefix + key over S3's 1024 bytes")
}

func TestStorageClassSSEAndTagsReachMinIO(t *testing.T) {
	srv := s3test.MinIO(t)
	bucket := s3test.NewBucket(t, srv)
	o := options(srv, bucket, "opts")
	o.StorageClass = "REDUCED_REDUNDANCY"
	o.Tags = map[string]string{"env": "test", "who": "backupkit"}
	o.Checksum = "SHA256"
	b, err := s3dest.New(t.Context(), o)
	require.NoError(t, err)
	data := randomData(9, 6<<20) // multipart
	_, err = b.Put(t.Context(), "obj", strings.NewReader(string(data)), &destination.PutOptions{ContentType: "application/zstd"})
	require.NoError(t, err)
	c := srv.Client(t)
	key := "opts/obj"
	head, err := c.HeadObject(t.Context(), &awss3.HeadObjectInput{Bucket: &bucket, Key: &key})
	require.NoError(t, err)
	assert.Equal(t, "application/zstd", *head.ContentType)
	assert.Equal(t, "REDUCED_REDUNDANCY", string(head.StorageClass))
	tags, err := c.GetObjectTagging(t.Context(), &awss3.GetObjectTaggingInput{Bucket: &bucket, Key: &key})
	require.NoError(t, err)
	got := map[string]string{}
	for _, tg := range tags.TagSet {
		got[*tg.Key] = *tg.Value
	}
	assert.Equal(t, o.Tags, got)
}

// TestDefaultCredentialChain opens a bucket without explicit keys: the
// SDK's default chain finds them in the environment.
func TestDefaultCredentialChain(t *testing.T) {
	srv := s3test.MinIO(t) // gofakes3 accepts any signature, so only MinIO proves it
	bucket := s3test.NewBucket(t, srv)
	dir := t.TempDir()
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/none")
	t.Setenv("AWS_CONFIG_FILE", dir+"/none")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_REGION", srv.Region)
	o := options(srv, bucket, "env")
	o.AccessKeyID, o.SecretAccessKey, o.Region = "", "", ""
	b, err := s3dest.New(t.Context(), o)
	require.NoError(t, err)
	require.NoError(t, b.Check(t.Context()))

	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
	_, err = s3dest.New(t.Context(), o)
	require.ErrorIs(t, err, destination.ErrPermission)
	assert.NotContains(t, err.Error(), "not-the-secret")
}
