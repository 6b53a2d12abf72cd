package destinationtest_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/destination/destinationtest"
)

// memory is a small in-memory destination.Destination, correct unless one of
// its bugs is switched on. It has every Ability.
type memory struct {
	bug string

	mu      sync.Mutex
	objects map[string]memObject
	pending map[string]int // keys being written, for the "listsPending" bug
}

type memObject struct {
	data    []byte
	modTime time.Time
}

func newMemory(bug string) *memory {
	return &memory{bug: bug, objects: map[string]memObject{}, pending: map[string]int{}}
}

func (m *memory) validate(key string) error {
	if m.bug == "noKeyValidation" {
		return nil
	}
	return destination.ValidateKey(key)
}

func (m *memory) Put(ctx context.Context, key string, r io.Reader, opts *destination.PutOptions) (destination.Object, error) {
	if err := m.validate(key); err != nil {
		return destination.Object{}, err
	}
	m.mu.Lock()
	m.pending[key]++
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		if m.pending[key]--; m.pending[key] == 0 {
			delete(m.pending, key)
		}
		m.mu.Unlock()
	}()

	var buf bytes.Buffer
	p := make([]byte, 32<<10)
	var err error
	for {
		if m.bug != "ignoresContext" {
			if err = ctx.Err(); err != nil {
				break
			}
		}
		n, rerr := r.Read(p)
		buf.Write(p[:n])
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	if err == nil && m.bug != "ignoresContext" {
		err = ctx.Err()
	}
	if err == nil && opts != nil && opts.Size > 0 && int64(buf.Len()) != opts.Size && m.bug != "ignoresSize" {
		err = fmt.Errorf("read %d bytes, want %d", buf.Len(), opts.Size)
	}
	if err != nil && m.bug != "keepsPartial" {
		return destination.Object{}, fmt.Errorf("memory: put %q: %w", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[key] = memObject{data: buf.Bytes(), modTime: time.Now()}
	return destination.Object{Key: key, Size: int64(buf.Len())}, err
}

func (m *memory) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	o, err := m.get(key)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(o.data)), nil
}

func (m *memory) get(key string) (memObject, error) {
	if err := m.validate(key); err != nil {
		return memObject{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[key]
	if !ok {
		return memObject{}, fmt.Errorf("memory: %q: %w", key, destination.ErrNotExist)
	}
	return o, nil
}

func (m *memory) Stat(ctx context.Context, key string) (destination.Object, error) {
	o, err := m.get(key)
	if err != nil {
		return destination.Object{}, err
	}
	return destination.Object{Key: key, Size: int64(len(o.data)), ModTime: o.modTime}, nil
}

func (m *memory) Delete(ctx context.Context, key string) error {
	if err := m.validate(key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objects[key]; !ok && m.bug == "deleteMissingFails" {
		return destination.ErrNotExist
	}
	delete(m.objects, key)
	return nil
}

func (m *memory) List(ctx context.Context, prefix string) iter.Seq2[destination.Object, error] {
	return func(yield func(destination.Object, error) bool) {
		m.mu.Lock()
		var objs []destination.Object
		for k, o := range m.objects {
			if strings.HasPrefix(k, prefix) {
				objs = append(objs, destination.Object{Key: k, Size: int64(len(o.data)), ModTime: o.modTime})
			}
		}
		if m.bug == "listsPending" {
			for k := range m.pending {
				if _, ok := m.objects[k]; !ok && strings.HasPrefix(k, prefix) {
					objs = append(objs, destination.Object{Key: k})
				}
			}
		}
		m.mu.Unlock()
		cmpKeys := func(a, b destination.Object) int { return strings.Compare(a.Key, b.Key) }
		if m.bug == "folderOrder" {
			// What a naive per-folder walk (fs.WalkDir) yields: "a/b" before "a-b".
			cmpKeys = func(a, b destination.Object) int {
				return slices.Compare(strings.Split(a.Key, "/"), strings.Split(b.Key, "/"))
			}
		}
		slices.SortFunc(objs, cmpKeys)
		for _, o := range objs {
			if !yield(o, nil) {
				return
			}
		}
	}
}

func TestMemory(t *testing.T) {
	destinationtest.Run(t, func(t *testing.T) destination.Destination {
		return newMemory(os.Getenv("DESTINATIONTEST_BUG"))
	}, destinationtest.LargeObjectSize(1))
}

// TestSuiteCatchesBugs runs the suite against broken memory destinations, in
// child processes, and checks that the expected subtests fail.
func TestSuiteCatchesBugs(t *testing.T) {
	if os.Getenv("DESTINATIONTEST_BUG") != "" {
		t.Skip("child process")
	}
	cases := map[string][]string{ // bug: subtests that must fail
		"keepsPartial":       {"AtomicReaderError", "AtomicCanceled", "AtomicSizeMismatch"},
		"ignoresContext":     {"AtomicCanceled", "AtomicCanceledBeforePut"},
		"ignoresSize":        {"AtomicSizeMismatch"},
		"listsPending":       {"NotVisibleWhileWriting"},
		"folderOrder":        {"List"},
		"deleteMissingFails": {"Delete"},
		"noKeyValidation":    {"InvalidKeys"},
	}
	for _, bug := range slices.Sorted(maps.Keys(cases)) {
		t.Run(bug, func(t *testing.T) {
			for _, sub := range cases[bug] {
				cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestMemory$/^"+sub+"$", "-test.count=1")
				cmd.Env = append(os.Environ(), "DESTINATIONTEST_BUG="+bug)
				out, err := cmd.CombinedOutput()
				require.Error(t, err, "the suite passed a destination with bug %q; output:\n%s", bug, out)
				require.Contains(t, string(out), "--- FAIL: TestMemory/"+sub, "output:\n%s", out)
			}
		})
	}
}

func TestAbilityString(t *testing.T) {
	require.Equal(t, "ObjectsAsFolders", destinationtest.ObjectsAsFolders.String())
	require.Equal(t, "Ability(99)", destinationtest.Ability(99).String())
}
