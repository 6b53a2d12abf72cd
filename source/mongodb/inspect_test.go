package mongodb_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/mongodb"
	"github.com/backupkit/backupkit/source/sourcetest"
)

// scratchRestore snapshots src, restores it into a scratch database (dropped
// when the test ends) and returns the snapshot's Info and the target.
func scratchRestore(t *testing.T, src *mongodb.Source) (source.Info, string) {
	t.Helper()
	snap, info := sourcetest.Snapshot(t, src)
	target, err := src.ScratchTarget(t.Context(), "T01")
	require.NoError(t, err)
	t.Cleanup(func() { _ = src.DropTarget(context.Background(), target) }) // t.Context() is canceled by now
	require.NoError(t, src.Restore(t.Context(), bytes.NewReader(snap), source.RestoreOptions{Target: target}))
	return info, target
}

func checksums(items []source.Item) map[string]string {
	m := map[string]string{}
	for _, it := range items {
		m[it.Name] = it.Checksum
	}
	return m
}

func TestInspect(t *testing.T) {
	h := newHarness(t)
	h.Seed(t, 0)
	src := h.Source(t).(*mongodb.Source)
	info, target := scratchRestore(t, src)
	assert.Equal(t, "5", info.Details["indexes"], "types has 3 (with _id_), empty and capped 1 each")

	got, err := src.Inspect(t.Context(), target)
	require.NoError(t, err)
	assert.Equal(t, info.Items, got.Items, "names (the source's database), counts, bytes and checksums")
	assert.Equal(t, info.Details["indexes"], got.Details["indexes"])
	assert.Contains(t, got.Location, target)
	for _, it := range got.Items {
		assert.Contains(t, it.Checksum, "bson-set-sha256:")
	}

	own, err := src.Inspect(t.Context(), "")
	require.NoError(t, err)
	assert.Equal(t, info.Items, own.Items)

	// Every kind of change shows in the collection's checksum.
	coll := h.c.Database(target).Collection("types")
	name := h.db + ".types"
	before := checksums(got.Items)[name]
	step := func(what string, change func()) {
		change()
		again, err := src.Inspect(t.Context(), target)
		require.NoError(t, err)
		now := checksums(again.Items)[name]
		assert.NotEqual(t, before, now, "%s must change the checksum", what)
		before = now
	}
	step("a changed document", func() {
		_, err := coll.UpdateOne(t.Context(), bson.D{{Key: "a", Value: int32(1)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "s", Value: "changed"}}}})
		require.NoError(t, err)
	})
	step("a dropped index", func() {
		require.NoError(t, coll.Indexes().DropOne(t.Context(), "s_1"))
	})
	step("a deleted document", func() {
		_, err := coll.DeleteOne(t.Context(), bson.D{{Key: "a", Value: int32(2)}})
		require.NoError(t, err)
	})

	missing, err := src.Inspect(t.Context(), "backupkit_no_such_db")
	require.NoError(t, err)
	assert.Empty(t, missing.Items)
}

func TestInspectIgnoresFilters(t *testing.T) {
	h := newHarness(t)
	h.Seed(t, 0)
	s, err := mongodb.New(withDB(t, h.uri, h.db), mongodb.Filter(h.db+".types", bson.D{{Key: "a", Value: bson.D{{Key: "$lt", Value: 2}}}}))
	require.NoError(t, err)
	info, target := scratchRestore(t, s)
	got, err := s.Inspect(t.Context(), target)
	require.NoError(t, err)
	assert.Equal(t, info.Items, got.Items, "a faithful restore of a filtered snapshot")
	own, err := s.Inspect(t.Context(), "")
	require.NoError(t, err)
	for _, it := range own.Items {
		if it.Name == h.db+".types" {
			assert.Equal(t, int64(5), it.Count, "Inspect counts whole collections: a restore replaces them")
		}
	}
	ts, err := s.TargetSource("")
	require.NoError(t, err)
	_, tsInfo := sourcetest.Snapshot(t, ts)
	assert.Equal(t, own.Items, tsInfo.Items, "the safety backup holds whole collections")
}

// TestFailedRestoreLeavesTargetUnchanged: a truncated archive, and a reader
// that fails after the whole archive (the engine's checksum check), leave a
// target that holds data exactly as it was, even with DropExisting: the
// archive is validated in full before the server is touched.
func TestFailedRestoreLeavesTargetUnchanged(t *testing.T) {
	h := newHarness(t)
	h.Seed(t, 0)
	src := h.Source(t).(*mongodb.Source)
	_, target := scratchRestore(t, src)
	before, err := src.Inspect(t.Context(), target)
	require.NoError(t, err)
	require.NotEmpty(t, before.Items)

	h.Seed(t, 1)
	snap, _ := sourcetest.Snapshot(t, src)
	readErr := errors.New("checksum mismatch")
	for name, r := range map[string]io.Reader{
		"truncated":          bytes.NewReader(snap[:len(snap)-5]),
		"cut in the middle":  bytes.NewReader(snap[:len(snap)/2]),
		"error at the end":   io.MultiReader(bytes.NewReader(snap), &errReader{readErr}),
		"error after a half": io.MultiReader(bytes.NewReader(snap[:len(snap)/2]), &errReader{readErr}),
	} {
		t.Run(name, func(t *testing.T) {
			err := src.Restore(t.Context(), r, source.RestoreOptions{Target: target, DropExisting: true})
			require.Error(t, err)
			after, err := src.Inspect(t.Context(), target)
			require.NoError(t, err)
			assert.Equal(t, before.Items, after.Items, "the target changed")
		})
	}
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

func TestDropTargetRefuses(t *testing.T) {
	// No server needed: the refusals come before any connection.
	s, err := mongodb.New("mongodb://127.0.0.1:1/shop", mongodb.ConnectTimeout(1))
	require.NoError(t, err)
	for _, target := range []string{"", "shop", "shop_copy", "backupkit_scratch_", "backupkit_scratch_x_0123",
		"backupkit_scratch_x_0123456789abcdef.x", "admin", "backupkit_scratch_x_0123456789ABCDEF"} {
		assert.Error(t, s.DropTarget(t.Context(), target), "%q", target)
	}
	multi, err := mongodb.New("mongodb://127.0.0.1:1/", mongodb.Databases("a", "b"), mongodb.ConnectTimeout(1))
	require.NoError(t, err)
	// A source of several databases has scratch targets (a pattern): this
	// one fails only because the server is unreachable.
	_, err = multi.ScratchTarget(t.Context(), "x")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "exactly one database")
	_, err = multi.Inspect(t.Context(), "other")
	assert.ErrorContains(t, err, "exactly one database")
	_, err = multi.TargetSource("other")
	assert.ErrorContains(t, err, "exactly one database")
}
