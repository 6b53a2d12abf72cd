package s3

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/backupkit/backupkit/internal/s3util"
	"github.com/backupkit/backupkit/internal/setsum"
	"github.com/backupkit/backupkit/source"
)

var (
	_ source.Inspector     = (*Bucket)(nil)
	_ source.Scratcher     = (*Bucket)(nil)
	_ source.TargetSourcer = (*Bucket)(nil)
)

// checksumPrefix starts the Checksum of the "objects" item.
const checksumPrefix = "content-set-sha256:"

// objectSet is the order-independent digest of a set of objects: for each,
// the SHA-256 of its name (relative to the prefix), size and the SHA-256 of
// its content, in a setsum.Set. Safe for concurrent use.
type objectSet struct {
	mu    sync.Mutex
	set   setsum.Set
	bytes int64
}

// add adds the object name of size bytes whose content has the SHA-256
// contentSum.
func (o *objectSet) add(name string, size int64, contentSum []byte) {
	h := sha256.New()
	h.Write([]byte(strconv.Itoa(len(name)) + ":" + name + "\x00" + strconv.FormatInt(size, 10) + "\x00"))
	h.Write(contentSum)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	o.mu.Lock()
	defer o.mu.Unlock()
	o.set.Add(sum)
	o.bytes += size
}

// item returns the "objects" Item, with no Checksum when the set is empty.
func (o *objectSet) item() source.Item {
	o.mu.Lock()
	defer o.mu.Unlock()
	it := source.Item{Name: "objects", Count: o.set.Len(), Bytes: o.bytes}
	if it.Count > 0 {
		it.Checksum = checksumPrefix + o.set.Hex()
	}
	return it
}

// scratchPrefix starts the name of every scratch prefix.
const scratchPrefix = ".backupkit-scratch-"

// scratchName matches the scratch prefixes ScratchTarget makes (without the
// trailing "/"), and nothing else.
var scratchName = regexp.MustCompile(`^\.backupkit-scratch-[A-Za-z0-9_]{0,40}-[0-9a-f]{16}$`)

// inScratch reports whether the entry name (relative to a prefix) lies in a
// scratch prefix: Snapshot, Inspect and Restore's DropExisting leave such
// objects alone, so that a scratch restore into the bucket root of a
// whole-bucket source is never part of its snapshots.
func inScratch(name string) bool {
	first, _, ok := strings.Cut(name, "/")
	return ok && strings.HasPrefix(first, scratchPrefix) && scratchName.MatchString(first)
}

// at returns a copy of b reading bucket and prefix.
func (b *Bucket) at(bucket, prefix string) *Bucket {
	c := *b
	c.bucket, c.prefix = bucket, prefix
	return &c
}

// Inspect reports what target holds (see RestoreOptions.Target in Restore:
// "" is the Bucket's own bucket and prefix), as Snapshot would: the item
// "objects" with the number of objects, their total size and a Checksum over
// their names, sizes and contents (see the package documentation). It
// downloads every object to hash it, Concurrency at a time, so it costs as
// much as a snapshot without the tar stream. A target with no objects gives
// an Info with no Items.
func (b *Bucket) Inspect(ctx context.Context, target string) (source.Info, error) {
	bucket, prefix, err := b.target(target)
	if err != nil {
		return source.Info{}, fmt.Errorf("s3 source: inspect: %w", err)
	}
	t := b.at(bucket, prefix)
	info := source.Info{Kind: Kind, Format: Format, Location: t.String()}
	var set objectSet
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(b.concurrency)
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	var lerr error
list:
	for p.HasMorePages() {
		page, err := p.NextPage(gctx)
		if err != nil {
			lerr = fmt.Errorf("listing: %w", err)
			break
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			name := strings.TrimPrefix(key, prefix)
			if name == "" || inScratch(name) {
				continue
			}
			if gctx.Err() != nil {
				break list
			}
			g.Go(func() error { return t.hashObject(gctx, key, name, &set) })
		}
	}
	if err := g.Wait(); err != nil {
		return info, fmt.Errorf("s3 source: inspect %s: %w", t, err)
	}
	if lerr == nil {
		lerr = ctx.Err()
	}
	if lerr != nil {
		return info, fmt.Errorf("s3 source: inspect %s: %w", t, lerr)
	}
	if it := set.item(); it.Count > 0 {
		info.Items = []source.Item{it}
	}
	return info, nil
}

// hashObject downloads the object key and adds it to set; an object deleted
// meanwhile is left out.
func (b *Bucket) hashObject(ctx context.Context, key, name string, set *objectSet) error {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(key)})
	if err != nil && s3util.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %q: %w", key, err)
	}
	defer out.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, &ctxReader{ctx: ctx, r: out.Body})
	if err != nil {
		return fmt.Errorf("reading %q: %w", key, err)
	}
	set.add(name, n, h.Sum(nil))
	return nil
}

// TargetSource returns a Bucket that snapshots target (as in Restore: ""
// is the Bucket's own bucket and prefix) with the same connection, for a
// safety backup before a restore replaces it.
func (b *Bucket) TargetSource(target string) (source.Source, error) {
	bucket, prefix, err := b.target(target)
	if err != nil {
		return nil, fmt.Errorf("s3 source: target source: %w", err)
	}
	return b.at(bucket, prefix), nil
}

// ScratchTarget returns a new prefix ".backupkit-scratch-<hint>-<16 random
// hex digits>" at the root of the Bucket's own bucket, where hint keeps
// only its first 40 ASCII letters, digits and '_', checked to hold no
// object. It creates nothing. Snapshot and Inspect leave out objects whose
// name starts with such a prefix, so a scratch restore never shows in a
// snapshot even of the whole bucket.
func (b *Bucket) ScratchTarget(ctx context.Context, hint string) (string, error) {
	for range 10 {
		name := setsum.ScratchName(scratchPrefix, hint, 40, "-")
		out, err := b.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(b.bucket), Prefix: aws.String(name + "/"), MaxKeys: aws.Int32(1)})
		if err != nil {
			return "", fmt.Errorf("s3 source: scratch target in %s: %w", b.bucket, err)
		}
		if len(out.Contents) == 0 {
			return name, nil
		}
	}
	return "", fmt.Errorf("s3 source: scratch target: no unused prefix in bucket %q", b.bucket)
}

// DropTarget deletes every object under the scratch prefix target. It
// refuses, deleting nothing, "" and the Bucket's own prefix, and any target
// that is not a prefix ScratchTarget could have returned: one segment of
// the scratch form, in the Bucket's own bucket ("s3://bucket/" forms are
// accepted only for that bucket). A prefix with no objects is not an error.
// Multipart uploads left under it by a killed restore are not aborted (the
// S3 destination's cleaner or a bucket lifecycle rule does that).
func (b *Bucket) DropTarget(ctx context.Context, target string) error {
	if target == "" {
		return errors.New("s3 source: drop target: refusing to delete the source's own objects (empty target)")
	}
	bucket, prefix, err := b.target(target)
	if err != nil {
		return fmt.Errorf("s3 source: drop target: %w", err)
	}
	where := "s3://" + bucket + "/" + prefix
	if bucket == b.bucket && strings.HasPrefix(b.prefix, prefix) {
		return fmt.Errorf("s3 source: drop target: refusing to delete the source's own objects at %s", where)
	}
	if bucket != b.bucket || !strings.HasSuffix(prefix, "/") || !scratchName.MatchString(strings.TrimSuffix(prefix, "/")) {
		return fmt.Errorf("s3 source: drop target: refusing to delete %s: not a scratch prefix (%s<hint>-<id> at the root of bucket %q)",
			where, scratchPrefix, b.bucket)
	}
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("s3 source: drop target %s: listing: %w", where, err)
		}
		for _, o := range page.Contents {
			if _, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key}); err != nil {
				return fmt.Errorf("s3 source: drop target %s: deleting %q: %w", where, aws.ToString(o.Key), err)
			}
		}
	}
	return nil
}
