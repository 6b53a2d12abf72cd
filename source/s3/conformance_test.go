package s3_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/internal/s3util/s3test"
	"github.com/backupkit/backupkit/source"
	s3src "github.com/backupkit/backupkit/source/s3"
	"github.com/backupkit/backupkit/source/sourcetest"
)

// object is one object a variant seeds.
type object struct {
	key         string
	data        []byte
	contentType string
	meta        map[string]string
}

func randomData(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed+1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

var variants = [][]object{
	{
		{key: "a.txt", data: []byte("hello, backup\n"), contentType: "text/plain", meta: map[string]string{"owner": "alice"}},
		{key: "empty", data: []byte{}},
		{key: "dir/nested/deep.bin", data: randomData(1, 300_001), contentType: "application/octet-stream"}, // streamed
		{key: "dir/sibling", data: []byte("sibling")},
		{key: "unicode/日本語 file.txt", data: []byte("ünïcödé"), meta: map[string]string{"lang": "ja", "x-note": "two words"}},
		{key: "z/last", data: randomData(2, 70_000)},
	},
	{
		{key: "b.json", data: []byte(`{"v":1}`), contentType: "application/json"},
		{key: "big/multipart.bin", data: randomData(3, 5<<20+100)}, // restored in two parts
		{key: "with space/and+plus", data: []byte("x")},
	},
}

type harness struct {
	srv    s3test.Server
	bucket string
	n      int
}

func (h *harness) open(t testing.TB, prefix string) *s3src.Bucket {
	t.Helper()
	b, err := s3src.New(context.Background(), s3src.Options{
		Bucket: h.bucket, Prefix: prefix, Endpoint: h.srv.Endpoint, Region: h.srv.Region, PathStyle: true,
		AccessKeyID: h.srv.AccessKey, SecretAccessKey: h.srv.SecretKey, PartSize: 5 << 20, Concurrency: 4,
	})
	require.NoError(t, err)
	return b
}

func (h *harness) Source(t testing.TB) source.Source { return h.open(t, "src") }

func (h *harness) Seed(t testing.TB, variant int) {
	t.Helper()
	c := h.srv.Client(t)
	ctx := context.Background()
	p := awss3.NewListObjectsV2Paginator(c, &awss3.ListObjectsV2Input{Bucket: aws.String(h.bucket), Prefix: aws.String("src/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		require.NoError(t, err)
		for _, o := range page.Contents {
			_, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(h.bucket), Key: o.Key})
			require.NoError(t, err)
		}
	}
	for _, o := range variants[variant] {
		in := &awss3.PutObjectInput{
			Bucket: aws.String(h.bucket), Key: aws.String("src/" + o.key), Body: bytes.NewReader(o.data),
			ContentLength: aws.Int64(int64(len(o.data))), Metadata: o.meta,
		}
		if o.contentType != "" {
			in.ContentType = aws.String(o.contentType)
		}
		_, err := c.PutObject(ctx, in)
		require.NoError(t, err)
	}
}

func (h *harness) RestoreTarget(t testing.TB) string {
	h.n++
	return fmt.Sprintf("restore/%d", h.n)
}

func (h *harness) OpenTarget(t testing.TB, target string) source.Source { return h.open(t, target) }

// canonical describes a snapshot without the times S3 sets on writes (and
// without the content type S3 gives objects stored without one, which
// differs between stores).
func canonical(t testing.TB, snap []byte) any {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(snap))
	var out []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("canonical: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("canonical: %v", err)
		}
		rec := maps.Clone(hdr.PAXRecords)
		delete(rec, "BACKUPKIT.s3.last-modified")
		delete(rec, "mtime")
		var recs []string
		for k, v := range rec {
			recs = append(recs, k+"="+v)
		}
		slicesSort(recs)
		out = append(out, fmt.Sprintf("%c %q %d %x %s", hdr.Typeflag, hdr.Name, hdr.Size, sha256.Sum256(body), strings.Join(recs, ";")))
	}
	return out
}

func slicesSort(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestConformance(t *testing.T) {
	s3test.Servers(t, func(t *testing.T, srv s3test.Server) {
		h := &harness{srv: srv, bucket: s3test.NewBucket(t, srv)}
		sourcetest.Run(t, h, sourcetest.Config{
			Lacks:     sourcetest.PointInTime,
			Canonical: canonical,
			Secret:    srv.SecretKey,
		})
	})
}
