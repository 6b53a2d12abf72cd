package mongodb_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"pgregory.net/rapid"

	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/mongodb"
	"github.com/backupkit/backupkit/source/mongodb/internal/bsongen"
	"github.com/backupkit/backupkit/source/sourcetest"
)

// TestRapidDumpRestore stores random documents of every type FerretDB
// accepts, with random indexes, dumps them, restores the dump under another
// name and requires every document (canonical Extended JSON, so types and
// field order) and every index definition to be equal.
func TestRapidDumpRestore(t *testing.T) {
	uri := testenv.MongoDB(t)
	c := client(t, uri)
	src := testenv.UniqueName(t)
	dst := testenv.UniqueName(t)
	dropLater(t, c, src)
	dropLater(t, c, dst)
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		n++
		ctx := t.Context()
		require.NoError(rt, c.Database(src).Drop(ctx))
		require.NoError(rt, c.Database(dst).Drop(ctx))
		colls := rapid.IntRange(1, 3).Draw(rt, "collections")
		for ci := range colls {
			name := fmt.Sprint("c", ci)
			require.NoError(rt, c.Database(src).CreateCollection(ctx, name))
			var docs []any
			for i := range rapid.IntRange(0, 8).Draw(rt, "docs") {
				d := bsongen.Doc(rt, fmt.Sprintf("c%dd%d", ci, i), true)
				d[0].Value = []any{int32(i), fmt.Sprint("id", i), int64(i) << 33}[i%3] // unique _id
				docs = append(docs, d)
			}
			if len(docs) > 0 {
				_, err := c.Database(src).Collection(name).InsertMany(ctx, docs)
				require.NoError(rt, err)
			}
			if rapid.Bool().Draw(rt, "index") {
				_, err := c.Database(src).Collection(name).Indexes().CreateOne(ctx, mongo.IndexModel{
					Keys:    bson.D{{Key: "f", Value: rapid.SampledFrom([]int{1, -1}).Draw(rt, "dir")}, {Key: "g", Value: 1}},
					Options: options.Index().SetName("fg"),
				})
				require.NoError(rt, err)
			}
		}
		s, err := mongodb.New(withDB(t, uri, src))
		require.NoError(rt, err)
		var buf bytes.Buffer
		info, err := s.Snapshot(ctx, &buf)
		require.NoError(rt, err)
		require.NoError(rt, s.Restore(ctx, bytes.NewReader(buf.Bytes()), source.RestoreOptions{Target: dst}))
		d, err := mongodb.New(withDB(t, uri, dst))
		require.NoError(rt, err)
		var back bytes.Buffer
		binfo, err := d.Snapshot(ctx, &back)
		require.NoError(rt, err)
		cfg := sourcetest.Config{Canonical: canonical}
		cfg.RequireSameContent(t, buf.Bytes(), back.Bytes())
		require.Equal(rt, len(info.Items), len(binfo.Items))
	})
	t.Logf("%d dump/restore rounds", n)
}
