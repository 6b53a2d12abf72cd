package sourcetest_test

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/sourcetest"
)

// server stands in for a database server: named databases of key/value rows.
type server struct {
	mu  sync.Mutex
	dbs map[string]map[string]string
}

// kv is a Source for one database of a server, in the shape a database
// adapter has: the restore target is another database's name.
type kv struct {
	srv      *server
	db       string
	password string // never in Info
}

var (
	_ source.Source   = (*kv)(nil)
	_ source.Restorer = (*kv)(nil)
)

func (k *kv) Format() string { return "kv" }

// Snapshot writes "key=value" lines in key order, then "end", under the lock:
// a point in time.
func (k *kv) Snapshot(ctx context.Context, w io.Writer) (source.Info, error) {
	if err := ctx.Err(); err != nil {
		return source.Info{}, fmt.Errorf("kv: %w", err)
	}
	k.srv.mu.Lock()
	rows, ok := k.srv.dbs[k.db]
	rows = maps.Clone(rows)
	k.srv.mu.Unlock()
	if !ok {
		return source.Info{}, fmt.Errorf("kv: no database %q", k.db)
	}
	bw := bufio.NewWriter(w)
	for _, key := range slices.Sorted(maps.Keys(rows)) {
		if err := ctx.Err(); err != nil {
			return source.Info{}, fmt.Errorf("kv: %w", err)
		}
		fmt.Fprintf(bw, "%s=%s\n", key, rows[key])
	}
	bw.WriteString("end\n")
	if err := bw.Flush(); err != nil {
		return source.Info{}, fmt.Errorf("kv: %w", err)
	}
	return source.Info{
		Kind: "kv", Format: "kv", Location: "kv://server/" + k.db, PointInTime: true,
		Items: []source.Item{{Name: k.db, Count: int64(len(rows))}},
	}, nil
}

// Restore reads the whole stream first, then installs it in one step.
func (k *kv) Restore(ctx context.Context, r io.Reader, opts source.RestoreOptions) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("kv: %w", err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("kv: %w", err)
	}
	body, ok := strings.CutSuffix(string(b), "end\n")
	if !ok {
		return errors.New("kv: truncated stream: no end line")
	}
	rows := map[string]string{}
	for line := range strings.Lines(body) {
		key, value, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "=")
		if !ok || key == "" || !strings.HasSuffix(line, "\n") {
			return fmt.Errorf("kv: malformed line %q", line)
		}
		rows[key] = value
	}
	if opts.DryRun {
		return nil
	}
	target := cmp.Or(opts.Target, k.db)
	k.srv.mu.Lock()
	defer k.srv.mu.Unlock()
	if len(k.srv.dbs[target]) > 0 && !opts.DropExisting {
		return fmt.Errorf("kv: database %q is not empty", target)
	}
	k.srv.dbs[target] = rows
	return nil
}

// harness is all an adapter writes to run the suite.
type harness struct {
	srv *server
	n   int
}

func (h *harness) Source(testing.TB) source.Source {
	return &kv{srv: h.srv, db: "shop", password: "hunter2"}
}

func (h *harness) Seed(_ testing.TB, variant int) {
	rows := map[string]string{"a": "1", "b": "", "long": strings.Repeat("x", 5000)}
	if variant == 1 {
		rows = map[string]string{"a": "2", "c": "3"}
	}
	h.srv.mu.Lock()
	h.srv.dbs["shop"] = rows
	h.srv.mu.Unlock()
}

func (h *harness) RestoreTarget(testing.TB) string {
	h.n++
	return fmt.Sprintf("restore_%d", h.n)
}

func (h *harness) OpenTarget(_ testing.TB, target string) source.Source {
	return &kv{srv: h.srv, db: target}
}

// TestRunOnAMemorySource runs the suite on a minimal database-like adapter
// with every ability, and a Canonical that compares the rows.
func TestRunOnAMemorySource(t *testing.T) {
	h := &harness{srv: &server{dbs: map[string]map[string]string{}}}
	sourcetest.Run(t, h, sourcetest.Config{
		Secret: "hunter2",
		Canonical: func(t testing.TB, snapshot []byte) any {
			lines := strings.Split(strings.TrimSuffix(string(snapshot), "end\n"), "\n")
			slices.Sort(lines)
			return lines
		},
	})
}

func TestAbilityString(t *testing.T) {
	require.Equal(t, "none", sourcetest.Ability(0).String())
	require.Equal(t, "Restore|PointInTime", (sourcetest.Restore | sourcetest.PointInTime).String())
}
