package sourcetest_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/sourcetest"
)

// inspectingKV is kv with the optional restore-target abilities.
type inspectingKV struct {
	kv
	scratches int
}

var (
	_ source.Inspector     = (*inspectingKV)(nil)
	_ source.Scratcher     = (*inspectingKV)(nil)
	_ source.TargetSourcer = (*inspectingKV)(nil)
)

// Inspect reports the target's rows under the source's database name.
func (k *inspectingKV) Inspect(ctx context.Context, target string) (source.Info, error) {
	if err := ctx.Err(); err != nil {
		return source.Info{}, err
	}
	k.srv.mu.Lock()
	defer k.srv.mu.Unlock()
	rows := k.srv.dbs[cmp.Or(target, k.db)]
	info := source.Info{Kind: "kv", Format: "kv"}
	if len(rows) > 0 {
		info.Items = []source.Item{{Name: k.db, Count: int64(len(rows))}}
	}
	return info, nil
}

func (k *inspectingKV) ScratchTarget(context.Context, string) (string, error) {
	k.scratches++
	return fmt.Sprintf("scratch_%d", k.scratches), nil
}

func (k *inspectingKV) DropTarget(_ context.Context, target string) error {
	if !strings.HasPrefix(target, "scratch_") {
		return errors.New("not a scratch database")
	}
	k.srv.mu.Lock()
	defer k.srv.mu.Unlock()
	delete(k.srv.dbs, target)
	return nil
}

func (k *inspectingKV) TargetSource(target string) (source.Source, error) {
	return &kv{srv: k.srv, db: cmp.Or(target, k.db)}, nil
}

type inspectingHarness struct {
	harness
	src *inspectingKV
}

func (h *inspectingHarness) Source(testing.TB) source.Source { return h.src }

// TestRunWithInspector runs the suite, InspectScratch included, on an
// adapter that implements Inspector, Scratcher and TargetSourcer.
func TestRunWithInspector(t *testing.T) {
	srv := &server{dbs: map[string]map[string]string{}}
	h := &inspectingHarness{harness: harness{srv: srv}, src: &inspectingKV{kv: kv{srv: srv, db: "shop"}}}
	sourcetest.Run(t, h, sourcetest.Config{
		Canonical: func(t testing.TB, snapshot []byte) any {
			return strings.TrimSuffix(string(snapshot), "end\n")
		},
	})
	assert.Positive(t, h.src.scratches, "the suite used ScratchTarget")
}

func TestSameItems(t *testing.T) {
	sourcetest.SameItems(t,
		[]source.Item{{Name: "a", Count: 2, Bytes: 10, Checksum: "x"}, {Name: "b", Count: 1}, {Name: "empty"}},
		[]source.Item{{Name: "b", Count: 1, Bytes: 99}, {Name: "a", Count: 2, Bytes: 11, Checksum: "x"}},
		"order, Bytes and empty items do not matter")
	sourcetest.SameItems(t, []source.Item{{Name: "files"}, {Name: "dirs"}}, nil, "all empty equals none")
}
