// Package memory is a Destination that keeps objects in memory, for tests and
// examples. Objects are lost when the process exits; never use it for backups.
//
// It registers the URL scheme "mem": every "mem://NAME" URL opened in a process
// returns the same Bucket for the same NAME.
package memory

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/backupkit/backupkit/destination"
)

var _ destination.Destination = (*Bucket)(nil)

// Bucket is an in-memory Destination. The zero value is not usable; use New.
type Bucket struct {
	mu      sync.RWMutex
	objects map[string]object
}

type object struct {
	data    []byte
	modTime time.Time
}

// New returns an empty Bucket.
func New() *Bucket { return &Bucket{objects: map[string]object{}} }

var (
	namedMu sync.Mutex
	named   = map[string]*Bucket{}
)

func init() {
	destination.Register("mem", func(_ context.Context, u *url.URL) (destination.Destination, error) {
		name := u.Host + u.Path + u.Opaque
		namedMu.Lock()
		defer namedMu.Unlock()
		b, ok := named[name]
		if !ok {
			b = New()
			named[name] = b
		}
		return b, nil
	})
}

// Put reads r to the end, then stores its bytes under key. If r fails, ctx is
// canceled or opts.Size does not match, nothing is stored.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, opts *destination.PutOptions) (destination.Object, error) {
	if err := destination.ValidateKey(key); err != nil {
		return destination.Object{}, err
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, ctxReader{ctx, r}); err != nil {
		return destination.Object{}, fmt.Errorf("put %s: %w", key, err)
	}
	if opts != nil && opts.Size > 0 && int64(buf.Len()) != opts.Size {
		return destination.Object{}, fmt.Errorf("put %s: read %d bytes, want %d", key, buf.Len(), opts.Size)
	}
	o := object{data: buf.Bytes(), modTime: time.Now()}
	b.mu.Lock()
	b.objects[key] = o
	b.mu.Unlock()
	return destination.Object{Key: key, Size: int64(len(o.data)), ModTime: o.modTime}, nil
}

// Open returns a reader of the object's bytes, or an ErrNotExist error.
func (b *Bucket) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	o, err := b.get(key)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(o.data)), nil
}

// Stat describes the object, or returns an ErrNotExist error.
func (b *Bucket) Stat(ctx context.Context, key string) (destination.Object, error) {
	o, err := b.get(key)
	if err != nil {
		return destination.Object{}, err
	}
	return destination.Object{Key: key, Size: int64(len(o.data)), ModTime: o.modTime}, nil
}

func (b *Bucket) get(key string) (object, error) {
	if err := destination.ValidateKey(key); err != nil {
		return object{}, err
	}
	b.mu.RLock()
	o, ok := b.objects[key]
	b.mu.RUnlock()
	if !ok {
		return object{}, fmt.Errorf("%s: %w", key, destination.ErrNotExist)
	}
	return o, nil
}

// Delete removes the object; a missing key is not an error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := destination.ValidateKey(key); err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.objects, key)
	b.mu.Unlock()
	return nil
}

// List yields the objects whose keys start with prefix, in key order, as they
// were when List was called.
func (b *Bucket) List(ctx context.Context, prefix string) iter.Seq2[destination.Object, error] {
	return func(yield func(destination.Object, error) bool) {
		b.mu.RLock()
		var objs []destination.Object
		for k, o := range b.objects {
			if strings.HasPrefix(k, prefix) {
				objs = append(objs, destination.Object{Key: k, Size: int64(len(o.data)), ModTime: o.modTime})
			}
		}
		b.mu.RUnlock()
		slices.SortFunc(objs, func(a, b destination.Object) int { return strings.Compare(a.Key, b.Key) })
		for _, o := range objs {
			if err := ctx.Err(); err != nil {
				yield(destination.Object{}, err)
				return
			}
			if !yield(o, nil) {
				return
			}
		}
	}
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
