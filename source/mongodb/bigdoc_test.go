package mongodb_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/sourcetest"
)

// TestLargeDocument dumps and restores a document of about 15 MiB, close to
// MongoDB's 16 MiB limit, through the server.
func TestLargeDocument(t *testing.T) {
	h := newHarness(t)
	data := make([]byte, 15<<20)
	for i := range data {
		data[i] = byte(i * 31)
	}
	_, err := h.c.Database(h.db).Collection("big").InsertOne(t.Context(), bson.D{{Key: "_id", Value: int32(1)}, {Key: "bin", Value: bson.Binary{Data: data}}, {Key: "after", Value: "x"}})
	require.NoError(t, err)
	src := h.Source(t)
	snap, info := sourcetest.Snapshot(t, src)
	require.Len(t, info.Items, 1)
	assert.Greater(t, info.Items[0].Bytes, int64(15<<20))
	target := h.RestoreTarget(t)
	require.NoError(t, src.(source.Restorer).Restore(t.Context(), bytes.NewReader(snap), source.RestoreOptions{Target: target}))
	back, _ := sourcetest.Snapshot(t, h.OpenTarget(t, target))
	sourcetest.Config{Canonical: canonical}.RequireSameContent(t, snap, back)
}
