package s3

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/backupkit/backupkit/internal/s3util"
	"github.com/backupkit/backupkit/source"
)

// PAX record names of the object attributes kept in the tar stream.
const (
	paxContentType     = "BACKUPKIT.s3.content-type"
	paxContentEncoding = "BACKUPKIT.s3.content-encoding"
	paxCacheControl    = "BACKUPKIT.s3.cache-control"
	paxDisposition     = "BACKUPKIT.s3.content-disposition"
	paxLanguage        = "BACKUPKIT.s3.content-language"
	paxLastModified    = "BACKUPKIT.s3.last-modified"
	paxMetaPrefix      = "BACKUPKIT.s3.meta."
)

func isUTF8(s string) bool { return utf8.ValidString(s) }

// fetch is one object on its way from the bucket to the tar stream.
type fetch struct {
	key  string // full key
	name string // relative to the prefix
	err  error  // a listing or fetching error: ends the snapshot
	gone bool   // deleted between listing and reading: left out
	done chan struct{}

	hdr   *tar.Header
	small []byte        // the whole body, for small objects
	body  io.ReadCloser // the open body, for large ones
}

func (f *fetch) release() {
	if f.body != nil {
		f.body.Close()
		f.body = nil
	}
}

// Snapshot writes the objects under the prefix to w as a PAX tar stream in
// lexical key order, one regular-file entry per object named by its key
// relative to the prefix, and returns an Info with the object count, total
// bytes and checksum (see Inspect). Objects under a scratch prefix (see
// ScratchTarget) are left out. Up to Concurrency objects are fetched ahead; bodies larger
// than 256 KiB are streamed, never held whole. A key that would not be a
// safe entry name (see the package documentation) fails the snapshot. The
// snapshot is not a point in time: objects changed while it runs may appear
// in either version (each one whole).
func (b *Bucket) Snapshot(ctx context.Context, w io.Writer) (source.Info, error) {
	info := source.Info{Kind: Kind, Format: Format, Location: b.String()}
	if err := ctx.Err(); err != nil {
		return info, fmt.Errorf("s3 source: snapshot of %s: %w", b, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	queue := make(chan *fetch, b.concurrency)
	slots := make(chan struct{}, b.concurrency)
	go b.produce(ctx, queue, slots)

	// On any exit, stop the producer and fetchers, and close what they opened.
	defer func() {
		cancel()
		for f := range queue {
			<-f.done
			f.release()
		}
	}()

	tw := tar.NewWriter(w)
	var set objectSet
	var vanished []string
	for f := range queue {
		select {
		case <-f.done:
		case <-ctx.Done():
			return info, fmt.Errorf("s3 source: snapshot of %s: %w", b, ctx.Err())
		}
		if f.err != nil {
			f.release()
			return info, fmt.Errorf("s3 source: snapshot of %s: %w", b, f.err)
		}
		if f.gone {
			vanished = append(vanished, f.name)
			<-slots
			continue
		}
		err := b.writeEntry(ctx, tw, f, &set)
		f.release()
		<-slots
		if err != nil {
			return info, fmt.Errorf("s3 source: snapshot of %s: %w", b, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return info, fmt.Errorf("s3 source: snapshot of %s: %w", b, err)
	}
	if err := tw.Close(); err != nil {
		return info, fmt.Errorf("s3 source: snapshot of %s: %w", b, err)
	}
	info.Items = []source.Item{set.item()}
	info.Details = map[string]string{"bucket": b.bucket, "prefix": strings.TrimSuffix(b.prefix, "/")}
	if len(vanished) > 0 {
		info.Details["vanished"] = strconv.Itoa(len(vanished))
		info.Details["vanished_keys"] = strings.Join(vanished[:min(10, len(vanished))], ", ")
	}
	return info, nil
}

// writeEntry writes f's header and body, and adds f to set.
func (b *Bucket) writeEntry(ctx context.Context, tw *tar.Writer, f *fetch, set *objectSet) error {
	if err := tw.WriteHeader(f.hdr); err != nil {
		return fmt.Errorf("%q: %w", f.name, err)
	}
	if f.small != nil || f.hdr.Size == 0 {
		if _, err := tw.Write(f.small); err != nil {
			return fmt.Errorf("%q: %w", f.name, err)
		}
		sum := sha256.Sum256(f.small)
		set.add(f.name, f.hdr.Size, sum[:])
		return nil
	}
	h := sha256.New()
	n, err := io.Copy(tw, io.TeeReader(&ctxReader{ctx: ctx, r: f.body}, h))
	if err != nil {
		return fmt.Errorf("%q: reading after %d of %d bytes: %w", f.name, n, f.hdr.Size, err)
	}
	if n != f.hdr.Size {
		return fmt.Errorf("%q: got %d bytes, expected %d", f.name, n, f.hdr.Size)
	}
	set.add(f.name, n, h.Sum(nil))
	return nil
}

// produce lists the objects and starts their fetches in order, with at most
// cap(slots) fetched and not yet written. It closes queue when done.
func (b *Bucket) produce(ctx context.Context, queue chan<- *fetch, slots chan struct{}) {
	defer close(queue)
	send := func(f *fetch) bool {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		select {
		case queue <- f:
			return true
		case <-ctx.Done():
			<-slots
			return false
		}
	}
	fail := func(err error) {
		f := &fetch{err: err, done: make(chan struct{})}
		close(f.done)
		select {
		case queue <- f:
		case <-ctx.Done():
		}
	}
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: aws.String(b.bucket), Prefix: aws.String(b.prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			fail(fmt.Errorf("listing: %w", err))
			return
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			name := strings.TrimPrefix(key, b.prefix)
			if name == "" {
				continue // the prefix's own folder marker
			}
			if inScratch(name) {
				continue // a scratch restore in progress (see ScratchTarget)
			}
			if err := checkName(name); err != nil {
				fail(fmt.Errorf("object %q cannot be restored safely (%v); move it or narrow the prefix", key, err))
				return
			}
			f := &fetch{key: key, name: name, done: make(chan struct{})}
			if !send(f) {
				return
			}
			go func() {
				defer close(f.done)
				f.err = b.get(ctx, f)
			}()
		}
	}
}

// get opens f's object and fills its header, reading small bodies whole.
func (b *Bucket) get(ctx context.Context, f *fetch) error {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(f.key)})
	if err != nil && s3util.IsNotFound(err) {
		f.gone = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %q: %w", f.key, err)
	}
	size := aws.ToInt64(out.ContentLength)
	rec := map[string]string{}
	set := func(k string, v *string) {
		if s := aws.ToString(v); s != "" {
			rec[k] = s
		}
	}
	set(paxContentType, out.ContentType)
	set(paxContentEncoding, out.ContentEncoding)
	set(paxCacheControl, out.CacheControl)
	set(paxDisposition, out.ContentDisposition)
	set(paxLanguage, out.ContentLanguage)
	mtime := aws.ToTime(out.LastModified).UTC()
	if !mtime.IsZero() {
		rec[paxLastModified] = mtime.Format(time.RFC3339Nano)
	}
	for k, v := range out.Metadata {
		rec[paxMetaPrefix+strings.ToLower(k)] = v
	}
	for k, v := range rec {
		if !isUTF8(v) || strings.ContainsAny(k, "= ") {
			out.Body.Close()
			return fmt.Errorf("object %q: attribute %q cannot be stored in a tar header", f.key, k)
		}
	}
	f.hdr = &tar.Header{
		Typeflag: tar.TypeReg, Name: f.name, Size: size, Mode: 0o644, ModTime: mtime.Truncate(time.Second),
		Format: tar.FormatPAX, PAXRecords: rec,
	}
	if size > smallObject {
		f.body = out.Body
		return nil
	}
	defer out.Body.Close()
	f.small = make([]byte, size)
	if _, err := io.ReadFull(&ctxReader{ctx: ctx, r: out.Body}, f.small); err != nil {
		return fmt.Errorf("reading %q: %w", f.key, err)
	}
	return nil
}

// ctxReader fails with ctx's error once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// metadataOf returns the object attributes kept in hdr's PAX records.
func metadataOf(hdr *tar.Header) (contentType string, meta map[string]string, other map[string]string) {
	other = map[string]string{}
	for k, v := range hdr.PAXRecords {
		switch {
		case k == paxContentType:
			contentType = v
		case strings.HasPrefix(k, paxMetaPrefix):
			if meta == nil {
				meta = map[string]string{}
			}
			meta[strings.TrimPrefix(k, paxMetaPrefix)] = v
		case strings.HasPrefix(k, "BACKUPKIT.s3."):
			other[k] = v
		}
	}
	return contentType, meta, other
}
