package s3

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/backupkit/backupkit/internal/s3util"
	"github.com/backupkit/backupkit/internal/tarstream"
	"github.com/backupkit/backupkit/source"
)

// target resolves RestoreOptions.Target: empty means the Bucket's own
// bucket and prefix; "s3://bucket/prefix" another bucket reachable with the
// same connection; anything else a prefix in the Bucket's own bucket.
func (b *Bucket) target(t string) (bucket, prefix string, err error) {
	if t == "" {
		return b.bucket, b.prefix, nil
	}
	bucket = b.bucket
	if strings.HasPrefix(t, "s3://") {
		u, err := url.Parse(t)
		if err != nil || u.Host == "" || u.RawQuery != "" || u.User != nil {
			return "", "", fmt.Errorf("restore target %q is not s3://bucket/prefix", t)
		}
		if err := s3util.ValidateBucketName(u.Host); err != nil {
			return "", "", fmt.Errorf("restore target: %w", err)
		}
		bucket, t = u.Host, u.Path
	}
	prefix = strings.Trim(t, "/")
	if prefix != "" {
		if err := checkName(prefix); err != nil {
			return "", "", fmt.Errorf("restore target prefix %q: %w", prefix, err)
		}
		prefix += "/"
	}
	return bucket, prefix, nil
}

// Restore reads a tar stream written by Snapshot and stores each entry as
// an object named target prefix + entry name, with the content type, user
// metadata and standard headers of its PAX records (last-modified times are
// kept in the stream but S3 sets its own). See RestoreOptions.Target for
// where it writes.
//
// The stream is treated as hostile: an entry that is not a regular file, or
// whose name is empty, absolute, has a "." or ".." segment, a backslash or
// a NUL byte, or repeats an earlier name, fails the whole restore. Without
// DropExisting a target that already holds objects is refused before
// anything is written; with it, the objects at the target that the stream
// does not contain are deleted after the whole stream has been restored.
// With DryRun the stream is read and checked, and nothing is written.
//
// A restore that fails (a refused entry, a truncated or corrupt stream, a
// reader error even at the very end, a canceled context) deletes the objects
// it created, so an empty target is left empty. Under DropExisting, each key
// is looked up (HeadObject) before it is written when the target held
// objects: objects that existed and were already replaced keep their new
// version (the old one is not brought back), the other existing objects are
// untouched, and objects the stream does not contain are deleted only after
// the whole stream succeeded.
func (b *Bucket) Restore(ctx context.Context, r io.Reader, opts source.RestoreOptions) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3 source: restore: %w", err)
	}
	bucket, prefix, err := b.target(opts.Target)
	if err != nil {
		return fmt.Errorf("s3 source: %w", err)
	}
	where := "s3://" + bucket + "/" + prefix
	rs := &restorer{b: b, ctx: ctx, bucket: bucket, prefix: prefix, dry: opts.DryRun, names: map[string]bool{}}
	if !opts.DryRun {
		if bucket != b.bucket {
			if err := headBucket(ctx, b.client, bucket); err != nil {
				return err
			}
		}
		out, lerr := b.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(1)})
		if lerr != nil {
			return fmt.Errorf("s3 source: restore into %s: listing the target: %w", where, lerr)
		}
		if len(out.Contents) > 0 && !opts.DropExisting {
			return fmt.Errorf("s3 source: restore into %s: the target already holds objects (%q); use DropExisting to replace them", where, aws.ToString(out.Contents[0].Key))
		}
		rs.holdsData = len(out.Contents) > 0
		rs.up = &s3util.Uploader{Client: b.client, Bucket: bucket, PartSize: b.partSize, Concurrency: b.upConc}
		defer func() {
			if err != nil { // the named result
				rs.rollback()
			}
		}()
	}
	if err := rs.run(r); err != nil {
		return fmt.Errorf("s3 source: restore into %s: %w", where, err)
	}
	if !opts.DryRun && opts.DropExisting {
		if err := rs.dropOthers(); err != nil {
			return fmt.Errorf("s3 source: restore into %s: removing objects not in the snapshot: %w", where, err)
		}
	}
	return nil
}

type restorer struct {
	b      *Bucket
	ctx    context.Context
	bucket string
	prefix string
	dry    bool
	up     *s3util.Uploader

	names   map[string]bool // entry names seen
	written []string        // keys written that did not exist before
	// holdsData: the target held objects when the restore started
	// (DropExisting), so each key is looked up before it is written, and a
	// rollback deletes only the keys this restore created.
	holdsData bool
	buf       [32 << 10]byte
}

func (rs *restorer) run(r io.Reader) error {
	tr := tarstream.NewReader(r, 64<<10)
	entries := 0
	for {
		if err := rs.ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading entry %d: %w", entries+1, err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		entries++
		if err := rs.entry(hdr, tr.Reader); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
	}
	// Read to EOF: a reader that verifies a checksum reports it there.
	return tr.Finish(rs.ctx)
}

func (rs *restorer) entry(hdr *tar.Header, tr io.Reader) error {
	if hdr.Typeflag != tar.TypeReg {
		return fmt.Errorf("type %q is not a regular file; an s3 snapshot holds only objects", string(hdr.Typeflag))
	}
	if err := checkName(hdr.Name); err != nil {
		return err
	}
	if rs.names[hdr.Name] {
		return errors.New("the name appears twice in the stream")
	}
	rs.names[hdr.Name] = true
	if len(rs.prefix)+len(hdr.Name) > 1024 {
		return fmt.Errorf("the key would be longer than S3's limit of 1024 bytes under %q", rs.prefix)
	}
	if rs.dry {
		_, err := io.CopyBuffer(io.Discard, &ctxReader{ctx: rs.ctx, r: tr}, rs.buf[:])
		if err != nil {
			return explain(err)
		}
		return nil
	}
	ct, meta, other := metadataOf(hdr)
	in := s3util.UploadInput{
		Key: rs.prefix + hdr.Name, Size: hdr.Size, ContentType: ct, Metadata: meta,
		ContentEncoding: other[paxContentEncoding], CacheControl: other[paxCacheControl],
		ContentDisposition: other[paxDisposition], ContentLanguage: other[paxLanguage],
	}
	existed := false
	if rs.holdsData {
		_, err := rs.b.client.HeadObject(rs.ctx, &s3.HeadObjectInput{Bucket: aws.String(rs.bucket), Key: aws.String(in.Key)})
		switch {
		case err == nil:
			existed = true
		case !s3util.IsNotFound(err):
			return fmt.Errorf("looking up the existing object: %w", err)
		}
	}
	// Recorded before the upload ends: a failed upload stores nothing, and
	// deleting a missing key is harmless. A key that existed is never
	// deleted by a rollback: it holds either its old version (the upload
	// failed) or the new one.
	if !existed {
		rs.written = append(rs.written, in.Key)
	}
	if _, err := rs.up.Upload(rs.ctx, in, tr); err != nil {
		return explain(err)
	}
	return nil
}

func explain(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("truncated stream: %w", err)
	}
	return err
}

// rollback deletes the objects the restore wrote.
func (rs *restorer) rollback() {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(rs.ctx), 5*time.Minute)
	defer cancel()
	for _, k := range rs.written {
		_, _ = rs.b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(rs.bucket), Key: aws.String(k)})
	}
}

// dropOthers deletes the objects under the target prefix that the stream
// did not contain.
func (rs *restorer) dropOthers() error {
	p := s3.NewListObjectsV2Paginator(rs.b.client, &s3.ListObjectsV2Input{Bucket: aws.String(rs.bucket), Prefix: aws.String(rs.prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(rs.ctx)
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			name := strings.TrimPrefix(aws.ToString(o.Key), rs.prefix)
			if rs.names[name] || inScratch(name) {
				continue
			}
			if _, err := rs.b.client.DeleteObject(rs.ctx, &s3.DeleteObjectInput{Bucket: aws.String(rs.bucket), Key: o.Key}); err != nil {
				return err
			}
		}
	}
	return nil
}
