package s3_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/internal/s3util/s3test"
	"github.com/backupkit/backupkit/source"
	s3src "github.com/backupkit/backupkit/source/s3"
)

type entry struct {
	name string
	typ  byte
	data string
}

func tarOf(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Name: e.name, Typeflag: typ, Size: int64(len(e.data)), Mode: 0o644, Format: tar.FormatPAX}
		if typ != tar.TypeReg {
			hdr.Size = 0
			hdr.Linkname = "/etc/passwd"
		}
		require.NoError(t, tw.WriteHeader(hdr))
		if typ == tar.TypeReg {
			_, err := tw.Write([]byte(e.data))
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

func keysIn(t *testing.T, srv s3test.Server, bucket string) []string {
	t.Helper()
	out, err := srv.Client(t).ListObjectsV2(context.Background(), &awss3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	require.NoError(t, err)
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

func TestRestoreRefusesEscapingEntries(t *testing.T) {
	srv := s3test.Fake(t)
	bucket := s3test.NewBucket(t, srv)
	src, err := s3src.New(t.Context(), s3src.Options{
		Bucket: bucket, Prefix: "src", Endpoint: srv.Endpoint, PathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
	})
	require.NoError(t, err)
	good := entry{name: "ok.txt", data: "fine"}
	for _, bad := range []entry{
		{name: "../escape", data: "x"},
		{name: "a/../../escape", data: "x"},
		{name: "/abs", data: "x"},
		{name: "./dot", data: "x"},
		{name: "a\\b", data: "x"},
		{name: "link", typ: tar.TypeSymlink},
		{name: "dir/", typ: tar.TypeDir},
		{name: "ok.txt", data: "duplicate"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			stream := tarOf(t, good, bad)
			err := src.Restore(t.Context(), bytes.NewReader(stream), source.RestoreOptions{Target: "target"})
			require.Error(t, err)
			assert.Empty(t, keysIn(t, srv, bucket), "a refused restore left objects")
			err = src.Restore(t.Context(), bytes.NewReader(stream), source.RestoreOptions{Target: "target", DryRun: true})
			require.Error(t, err, "DryRun must refuse it too")
		})
	}
	// The good entry alone restores, into another bucket named by URL too.
	other := s3test.NewBucket(t, srv)
	require.NoError(t, src.Restore(t.Context(), bytes.NewReader(tarOf(t, good)), source.RestoreOptions{Target: "s3://" + other + "/into/here"}))
	assert.Equal(t, []string{"into/here/ok.txt"}, keysIn(t, srv, other))
	assert.Empty(t, keysIn(t, srv, bucket))
}

func TestSnapshotRefusesUnsafeKeys(t *testing.T) {
	srv := s3test.Fake(t)
	bucket := s3test.NewBucket(t, srv)
	_, err := srv.Client(t).PutObject(t.Context(), &awss3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("src/a/../b"), Body: strings.NewReader("x"), ContentLength: aws.Int64(1),
	})
	require.NoError(t, err)
	src, err := s3src.New(t.Context(), s3src.Options{
		Bucket: bucket, Prefix: "src", Endpoint: srv.Endpoint, PathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
	})
	require.NoError(t, err)
	_, err = src.Snapshot(t.Context(), io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"src/a/../b" cannot be restored safely`)
}

func TestSourceBadInput(t *testing.T) {
	srv := s3test.Fake(t)
	ctx := t.Context()
	_, err := s3src.New(ctx, s3src.Options{Bucket: "no-such-bucket", Endpoint: srv.Endpoint, PathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: "very-secret-value"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `bucket "no-such-bucket" does not exist`)
	assert.NotContains(t, err.Error(), "very-secret-value")

	for _, bad := range []string{"s3://Bad/p", "s3://bucket/p?nope=1", "s3://bucket/p?concurrency=-1", "s3://bucket/p?endpoint=ftp://x"} {
		u, err := url.Parse(bad)
		require.NoError(t, err)
		_, err = s3src.NewFromURL(ctx, u)
		assert.Error(t, err, bad)
	}
	_, err = source.Open(ctx, "s3://Bad_Bucket/p?secret_access_key=topsecret&access_key_id=a")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "topsecret")
}
