package s3_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/internal/s3util/s3test"
	"github.com/backupkit/backupkit/source"
	s3src "github.com/backupkit/backupkit/source/s3"
	"github.com/backupkit/backupkit/source/sourcetest"
)

func put(t *testing.T, srv s3test.Server, bucket, key, body string) {
	t.Helper()
	_, err := srv.Client(t).PutObject(t.Context(), &awss3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
	})
	require.NoError(t, err)
}

func TestInspectScratchAndDrop(t *testing.T) {
	s3test.Servers(t, func(t *testing.T, srv s3test.Server) {
		h := &harness{srv: srv, bucket: s3test.NewBucket(t, srv)}
		h.Seed(t, 0)
		src := h.open(t, "src")
		snap, info := sourcetest.Snapshot(t, src)
		require.Len(t, info.Items, 1)
		assert.Contains(t, info.Items[0].Checksum, "content-set-sha256:")

		target, err := src.ScratchTarget(t.Context(), "run/01J")
		require.NoError(t, err)
		assert.Regexp(t, `^\.backupkit-scratch-run01J-[0-9a-f]{16}$`, target)
		require.NoError(t, src.Restore(t.Context(), bytes.NewReader(snap), source.RestoreOptions{Target: target}))
		got, err := src.Inspect(t.Context(), target)
		require.NoError(t, err)
		assert.Equal(t, info.Items, got.Items, "count, bytes and checksum of a faithful restore")

		// Same size, different content: the checksum sees it.
		put(t, srv, h.bucket, target+"/dir/sibling", "SIBLING")
		changed, err := src.Inspect(t.Context(), target)
		require.NoError(t, err)
		assert.Equal(t, info.Items[0].Count, changed.Items[0].Count)
		assert.Equal(t, info.Items[0].Bytes, changed.Items[0].Bytes)
		assert.NotEqual(t, info.Items[0].Checksum, changed.Items[0].Checksum)

		// A whole-bucket source leaves the scratch prefix out of its
		// snapshots and Inspect, and its DropExisting restores keep it.
		whole := h.open(t, "")
		_, wholeInfo := sourcetest.Snapshot(t, whole)
		assert.Equal(t, int64(len(variants[0])), wholeInfo.Items[0].Count, "only src/ objects, not the scratch prefix")
		ins, err := whole.Inspect(t.Context(), "")
		require.NoError(t, err)
		assert.Equal(t, wholeInfo.Items, ins.Items)
		wsnap, _ := sourcetest.Snapshot(t, whole)
		require.NoError(t, whole.Restore(t.Context(), bytes.NewReader(wsnap), source.RestoreOptions{DropExisting: true}))
		still, err := src.Inspect(t.Context(), target)
		require.NoError(t, err)
		assert.Equal(t, changed.Items, still.Items, "DropExisting at the bucket root left the scratch prefix alone")

		require.NoError(t, src.DropTarget(t.Context(), target))
		gone, err := src.Inspect(t.Context(), target)
		require.NoError(t, err)
		assert.Empty(t, gone.Items)
		own, err := src.Inspect(t.Context(), "")
		require.NoError(t, err)
		assert.Equal(t, info.Items, own.Items, "the source is untouched")
	})
}

func TestDropTargetRefuses(t *testing.T) {
	srv := s3test.Fake(t)
	bucket := s3test.NewBucket(t, srv)
	other := s3test.NewBucket(t, srv)
	open := func(prefix string) *s3src.Bucket {
		b, err := s3src.New(t.Context(), s3src.Options{
			Bucket: bucket, Prefix: prefix, Endpoint: srv.Endpoint, PathStyle: true,
			AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
		})
		require.NoError(t, err)
		return b
	}
	const scratch = ".backupkit-scratch-x-0123456789abcdef"
	keys := []string{"src/keep", "other/keep", scratch + "/data/keep", "deeper/" + scratch + "/keep"}
	for _, k := range keys {
		put(t, srv, bucket, k, "keep me")
	}
	put(t, srv, other, scratch+"/keep", "keep me")
	src := open("src")
	for _, target := range []string{"", "src", "/src/", "s3://" + bucket + "/src", "other", "deeper/" + scratch,
		scratch + "/data", "s3://" + other + "/" + scratch, ".backupkit-scratch-", ".backupkit-scratch-x-0123"} {
		assert.Error(t, src.DropTarget(t.Context(), target), "%q", target)
	}
	// A source inside a scratch prefix cannot drop that prefix.
	inside := open(scratch + "/data")
	assert.Error(t, inside.DropTarget(t.Context(), scratch))
	assert.ElementsMatch(t, keys, keysIn(t, srv, bucket))
	assert.Len(t, keysIn(t, srv, other), 1)

	// The scratch prefix itself goes, in either spelling.
	require.NoError(t, src.DropTarget(t.Context(), "s3://"+bucket+"/"+scratch+"/"))
	assert.ElementsMatch(t, []string{"src/keep", "other/keep", "deeper/" + scratch + "/keep"}, keysIn(t, srv, bucket))
	require.NoError(t, src.DropTarget(t.Context(), scratch), "dropping an empty scratch prefix")
}

func TestTargetSource(t *testing.T) {
	srv := s3test.Fake(t)
	h := &harness{srv: srv, bucket: s3test.NewBucket(t, srv)}
	h.Seed(t, 0)
	src := h.open(t, "src")
	snap, _ := sourcetest.Snapshot(t, src)
	require.NoError(t, src.Restore(t.Context(), bytes.NewReader(snap), source.RestoreOptions{Target: "copy"}))
	ts, err := src.TargetSource("copy")
	require.NoError(t, err)
	again, _ := sourcetest.Snapshot(t, ts)
	assert.Equal(t, canonical(t, snap), canonical(t, again))
	_, err = src.TargetSource("../x")
	assert.Error(t, err)
}

// TestFailedRestoreOverData pins what a failed restore with DropExisting
// leaves at a target that held objects (docs/s3.md, "The restore
// guarantee"): objects it created are deleted, an object it replaced keeps
// its new version, every other object is untouched.
func TestFailedRestoreOverData(t *testing.T) {
	s3test.Servers(t, func(t *testing.T, srv s3test.Server) {
		bucket := s3test.NewBucket(t, srv)
		h := &harness{srv: srv, bucket: bucket}
		src := h.open(t, "src")
		put(t, srv, bucket, "target/old-only", "old")
		put(t, srv, bucket, "target/shared", "old")
		stream := tarOf(t, entry{name: "new-a", data: "new"}, entry{name: "shared", data: "new"}, entry{name: "zz-new", data: "new"})
		readErr := errors.New("checksum mismatch")
		for name, r := range map[string]func() io.Reader{
			"error at the end": func() io.Reader { return io.MultiReader(bytes.NewReader(stream), &errReader{readErr}) },
			"truncated":        func() io.Reader { return bytes.NewReader(stream[:len(stream)-512]) },
		} {
			t.Run(name, func(t *testing.T) {
				put(t, srv, bucket, "target/shared", "old")
				err := src.Restore(t.Context(), r(), source.RestoreOptions{Target: "target", DropExisting: true})
				require.Error(t, err)
				assert.ElementsMatch(t, []string{"target/old-only", "target/shared"}, keysIn(t, srv, bucket))
				assert.Equal(t, "old", get(t, srv, bucket, "target/old-only"))
				assert.Equal(t, "new", get(t, srv, bucket, "target/shared"), "a replaced object keeps its new version")
			})
		}
		// The same stream, read to the end, replaces the target.
		require.NoError(t, src.Restore(t.Context(), bytes.NewReader(stream), source.RestoreOptions{Target: "target", DropExisting: true}))
		assert.ElementsMatch(t, []string{"target/new-a", "target/shared", "target/zz-new"}, keysIn(t, srv, bucket))
	})
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

func get(t *testing.T, srv s3test.Server, bucket, key string) string {
	t.Helper()
	out, err := srv.Client(t).GetObject(t.Context(), &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	require.NoError(t, err)
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	require.NoError(t, err)
	return string(b)
}
