package local

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func newFolder(t *testing.T, opts *Options) *Folder {
	t.Helper()
	f, err := New(t.TempDir(), opts)
	require.NoError(t, err)
	return f
}

// tempFiles returns the paths, relative to root, of the temporary files under it.
func tempFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), TempPrefix) {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

// entries returns the names in folder dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func put(t *testing.T, f *Folder, key, data string) {
	t.Helper()
	_, err := f.Put(t.Context(), key, strings.NewReader(data), nil)
	require.NoError(t, err)
}

func keys(t *testing.T, f *Folder, prefix string) []string {
	t.Helper()
	var out []string
	for o, err := range f.List(t.Context(), prefix) {
		require.NoError(t, err)
		out = append(out, o.Key)
	}
	return out
}

// blockingReader yields head, closes blocked, waits for release, then ends.
type blockingReader struct {
	head    []byte
	blocked chan struct{}
	release chan struct{}
	once    sync.Once
}

func newBlockingReader(head string) *blockingReader {
	return &blockingReader{head: []byte(head), blocked: make(chan struct{}), release: make(chan struct{})}
}

func (r *blockingReader) Read(p []byte) (int, error) {
	if len(r.head) > 0 {
		n := copy(p, r.head)
		r.head = r.head[n:]
		return n, nil
	}
	r.once.Do(func() { close(r.blocked); <-r.release })
	return 0, io.EOF
}

// startBlockedPut starts a Put of key that blocks mid-stream, waits until it
// does, and returns a function that lets it finish and returns its error.
func startBlockedPut(t *testing.T, f *Folder, key, head string) (finish func() error) {
	t.Helper()
	r := newBlockingReader(head)
	done := make(chan error, 1)
	go func() {
		_, err := f.Put(t.Context(), key, r, nil)
		done <- err
	}()
	var once sync.Once
	var err error
	finish = func() error {
		once.Do(func() {
			close(r.release)
			err = <-done
		})
		return err
	}
	select {
	case <-r.blocked:
	case err := <-done:
		t.Fatalf("Put returned before blocking: %v", err)
	}
	t.Cleanup(func() { _ = finish() })
	return finish
}
