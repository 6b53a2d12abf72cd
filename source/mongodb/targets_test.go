package mongodb_test

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/mongodb"
	"github.com/backupkit/backupkit/source/mongodb/archive"
	"github.com/backupkit/backupkit/source/sourcetest"
)

// twoDatabases creates two databases with a few documents and an index
// each (dropped when the test ends) and returns their names and a Source of
// both.
func twoDatabases(t *testing.T) (c *mongo.Client, uri, a, b string, src *mongodb.Source) {
	t.Helper()
	uri = testenv.MongoDB(t)
	c = client(t, uri)
	a, b = testenv.UniqueName(t), testenv.UniqueName(t)
	for i, db := range []string{a, b} {
		dropLater(t, c, db)
		var docs []any
		for j := range 3 + i {
			docs = append(docs, bson.D{{Key: "_id", Value: int32(j)}, {Key: "db", Value: db}, {Key: "v", Value: typesDoc(j)}})
		}
		_, err := c.Database(db).Collection("x").InsertMany(t.Context(), docs)
		require.NoError(t, err)
		_, err = c.Database(db).Collection("x").Indexes().CreateOne(t.Context(), mongo.IndexModel{Keys: bson.D{{Key: "db", Value: 1}}})
		require.NoError(t, err)
		_, err = c.Database(db).Collection("y"+db[len(db)-2:]).InsertOne(t.Context(), bson.D{{Key: "_id", Value: db}})
		require.NoError(t, err)
	}
	src, err := mongodb.New(uri, mongodb.Databases(a, b))
	require.NoError(t, err)
	return c, uri, a, b, src
}

// docsOf returns the "db" field of every document of db.x, and the number
// of collections of db.
func docsOf(t *testing.T, c *mongo.Client, db string) ([]string, int) {
	t.Helper()
	cur, err := c.Database(db).Collection("x").Find(t.Context(), bson.D{})
	require.NoError(t, err)
	var docs []struct {
		DB string `bson:"db"`
	}
	require.NoError(t, cur.All(t.Context(), &docs))
	var out []string
	for _, d := range docs {
		out = append(out, d.DB)
	}
	colls, err := c.Database(db).ListCollectionNames(t.Context(), bson.D{})
	require.NoError(t, err)
	return out, len(colls)
}

func databaseNames(t *testing.T, c *mongo.Client) []string {
	t.Helper()
	names, err := c.ListDatabaseNames(t.Context(), bson.D{})
	require.NoError(t, err)
	return names
}

// TestRestoreSeveralDatabasesUnderOtherNames restores a two-database
// archive with a rename map and with a pattern.
func TestRestoreSeveralDatabasesUnderOtherNames(t *testing.T) {
	c, _, a, b, src := twoDatabases(t)
	snap, _ := sourcetest.Snapshot(t, src)

	a2, b2 := testenv.UniqueName(t), testenv.UniqueName(t)
	dropLater(t, c, a2)
	dropLater(t, c, b2)
	require.NoError(t, src.Restore(t.Context(), bytes.NewReader(snap), source.RestoreOptions{Target: a + "=" + a2 + "," + b + "=" + b2}))
	for from, to := range map[string]string{a: a2, b: b2} {
		got, colls := docsOf(t, c, to)
		want, wantColls := docsOf(t, c, from)
		assert.Equal(t, want, got, "%s restored into %s", from, to)
		assert.Equal(t, wantColls, colls)
	}

	pattern := "r_*"
	for _, db := range []string{a, b} {
		dropLater(t, c, "r_"+db)
	}
	require.NoError(t, src.Restore(t.Context(), bytes.NewReader(snap), source.RestoreOptions{Target: pattern}))
	for _, db := range []string{a, b} {
		got, colls := docsOf(t, c, "r_"+db)
		want, wantColls := docsOf(t, c, db)
		assert.Equal(t, want, got, "%s restored into r_%s", db, db)
		assert.Equal(t, wantColls, colls)
	}
	// Onto them again: refused without DropExisting, as for one database.
	err := src.Restore(t.Context(), bytes.NewReader(snap), source.RestoreOptions{Target: pattern})
	assert.ErrorContains(t, err, "already exists")
	require.NoError(t, src.Restore(t.Context(), bytes.NewReader(snap), source.RestoreOptions{Target: pattern, DropExisting: true}))

	// Inspect and TargetSource take the same targets, under the source's names.
	_, info := sourcetest.Snapshot(t, src)
	for _, target := range []string{pattern, a + "=" + a2 + "," + b + "=" + b2} {
		got, err := src.Inspect(t.Context(), target)
		require.NoError(t, err, target)
		assert.Equal(t, info.Items, got.Items, target)
		ts, err := src.TargetSource(target)
		require.NoError(t, err, target)
		tsSnap, tsInfo := sourcetest.Snapshot(t, ts)
		assert.Equal(t, info.Items, tsInfo.Items, target)
		assert.ElementsMatch(t, names(t, snap), names(t, tsSnap), "the archive names the source's databases")
	}
}

// TestRestoreRefusesBadTargets: targets that do not give each database of
// a two-database archive a database of its own are refused, with and
// without DryRun, and nothing is written.
func TestRestoreRefusesBadTargets(t *testing.T) {
	c, _, a, b, src := twoDatabases(t)
	snap, _ := sourcetest.Snapshot(t, src)
	before := databaseNames(t, c)
	long := strings.Repeat("l", 60) + "_*"
	for target, msg := range map[string]string{
		a + "=" + a + "_m":                     "no entry for database",
		a + "=z_" + a + "," + b + "=z_" + a:    "ambiguous",
		"*_c_*":                                "exactly one '*'",
		"plain_" + a:                           "2 databases",
		long:                                   "longer than 63 bytes",
		a + "=" + b + "," + b + "=" + a + "_$": "invalid database name",
	} {
		for _, dry := range []bool{true, false} {
			err := src.Restore(t.Context(), bytes.NewReader(snap), source.RestoreOptions{Target: target, DryRun: dry})
			assert.ErrorContains(t, err, msg, "%q (dry run %v)", target, dry)
		}
	}
	assert.ElementsMatch(t, before, databaseNames(t, c), "a refused restore created a database")
}

// TestRestoreRefusesBadTargetsWithoutServer: the refusals come before
// Restore connects.
func TestRestoreRefusesBadTargetsWithoutServer(t *testing.T) {
	var buf bytes.Buffer
	aw, err := archive.NewWriter(&buf, archive.Header{}, []archive.Collection{{DB: "a", Collection: "x"}, {DB: "b", Collection: "y"}})
	require.NoError(t, err)
	require.NoError(t, aw.Close())
	s, err := mongodb.New("mongodb://unreachable.invalid:27017/", mongodb.ConnectTimeout(1))
	require.NoError(t, err)
	for target, msg := range map[string]string{
		"a=a2":      "no entry for database \"b\"",
		"a=z,b=z":   "ambiguous",
		"a=z,a=y":   "mapped twice",
		"*_*":       "exactly one '*'",
		"t":         "2 databases",
		"a=,b=c":    "empty database name",
		"x.*":       "invalid database name",
		"a=b,b=c.d": "invalid database name",
	} {
		err := s.Restore(t.Context(), bytes.NewReader(buf.Bytes()), source.RestoreOptions{Target: target})
		assert.ErrorContains(t, err, msg, "%q", target)
	}
	for _, target := range []string{"", "a=a2,b=b2", "b=a,a=b", "*_copy", "restored_*", "a=a2,b=b2,c=c2"} {
		assert.NoError(t, s.Restore(t.Context(), bytes.NewReader(buf.Bytes()), source.RestoreOptions{Target: target, DryRun: true}), "%q", target)
	}
}

var scratchPatternRE = regexp.MustCompile(`^backupkit_scratch_[A-Za-z0-9_]*_[0-9a-f]{8}_\*$`)

// TestScratchSeveralDatabases runs verify at level "restore" on a source of
// two databases, and on a source of every database (limited to ours by
// collection patterns): ScratchTarget, Restore, Inspect equal to the
// snapshot's Items, TargetSource, DropTarget, with the source's databases
// left intact.
func TestScratchSeveralDatabases(t *testing.T) {
	c, uri, a, b, listed := twoDatabases(t)
	every, err := mongodb.New(uri, mongodb.Collections(a+".*", b+".*"))
	require.NoError(t, err)
	for name, src := range map[string]*mongodb.Source{"listed": listed, "every": every} {
		t.Run(name, func(t *testing.T) {
			snap, info := sourcetest.Snapshot(t, src)
			require.Len(t, info.Items, 4)
			own, err := src.Inspect(t.Context(), "")
			require.NoError(t, err)
			require.Equal(t, info.Items, own.Items)

			target, err := src.ScratchTarget(t.Context(), "01JRUN/ID-with-a-long-tail")
			require.NoError(t, err)
			assert.Regexp(t, scratchPatternRE, target)
			t.Cleanup(func() { _ = src.DropTarget(context.Background(), target) }) // t.Context() is canceled by now
			other, err := src.ScratchTarget(t.Context(), "01JRUN/ID-with-a-long-tail")
			require.NoError(t, err)
			assert.NotEqual(t, target, other)
			for _, db := range []string{a, b} {
				n := strings.Replace(target, "*", db, 1)
				assert.LessOrEqual(t, len(n), 63, n)
				assert.NotContains(t, databaseNames(t, c), n)
			}
			empty, err := src.Inspect(t.Context(), target)
			require.NoError(t, err)
			assert.Empty(t, empty.Items)

			require.NoError(t, src.Restore(t.Context(), bytes.NewReader(snap), source.RestoreOptions{Target: target}))
			for _, db := range []string{a, b} {
				got, _ := docsOf(t, c, strings.Replace(target, "*", db, 1))
				want, _ := docsOf(t, c, db)
				assert.Equal(t, want, got)
			}
			got, err := src.Inspect(t.Context(), target)
			require.NoError(t, err)
			assert.Equal(t, info.Items, got.Items, "names (the source's databases), counts, bytes and checksums")
			assert.Equal(t, info.Details["indexes"], got.Details["indexes"])
			assert.Contains(t, got.Location, target)

			ts, err := src.TargetSource(target)
			require.NoError(t, err)
			tsSnap, tsInfo := sourcetest.Snapshot(t, ts)
			assert.Equal(t, info.Items, tsInfo.Items)
			assert.Equal(t, canonical(t, snap), canonical(t, tsSnap))
			// The safety backup goes back with the same target.
			require.NoError(t, src.Restore(t.Context(), bytes.NewReader(tsSnap), source.RestoreOptions{Target: target, DropExisting: true}))

			// Refused: nothing is dropped.
			for _, bad := range []string{"", a, b, "*", "*_copy", a + "=x_" + a + "," + b + "=x_" + b,
				strings.Replace(target, "*", a, 1), strings.TrimSuffix(target, "_*") + "*_x",
				"backupkit_scratch_x_0123456789abcdef_*", "backupkit_scratch_x_0123456_*"} {
				assert.Error(t, src.DropTarget(t.Context(), bad), "%q", bad)
			}
			again, err := src.Inspect(t.Context(), target)
			require.NoError(t, err)
			assert.Equal(t, info.Items, again.Items, "a refused DropTarget dropped the scratch databases")

			require.NoError(t, src.DropTarget(t.Context(), target))
			gone, err := src.Inspect(t.Context(), target)
			require.NoError(t, err)
			assert.Empty(t, gone.Items)
			for _, n := range databaseNames(t, c) {
				assert.False(t, strings.HasPrefix(n, strings.TrimSuffix(target, "*")), "%s is left", n)
			}
			after, err := src.Inspect(t.Context(), "")
			require.NoError(t, err)
			assert.Equal(t, info.Items, after.Items, "DropTarget changed the source's databases")
		})
	}
}

// TestScratchTargetNeedsRoom: a pattern's names must fit in 63 bytes.
func TestScratchTargetNeedsRoom(t *testing.T) {
	uri := testenv.MongoDB(t)
	s, err := mongodb.New(uri, mongodb.Databases("a", strings.Repeat("n", 40)))
	require.NoError(t, err)
	_, err = s.ScratchTarget(t.Context(), "x")
	assert.ErrorContains(t, err, "no room")
}

// TestTargetsOfSeveralDatabasesWithoutServer: what Inspect and TargetSource
// refuse before connecting.
func TestTargetsOfSeveralDatabasesWithoutServer(t *testing.T) {
	multi, err := mongodb.New("mongodb://127.0.0.1:1/", mongodb.Databases("a", "b"), mongodb.ConnectTimeout(1))
	require.NoError(t, err)
	for target, msg := range map[string]string{
		"other":   "exactly one database",
		"*_*":     "exactly one '*'",
		"a=x,b=x": "ambiguous",
		"a.b":     "invalid database name",
	} {
		_, err = multi.Inspect(t.Context(), target)
		assert.ErrorContains(t, err, msg, "%q", target)
		_, err = multi.TargetSource(target)
		assert.ErrorContains(t, err, msg, "%q", target)
	}
	for _, target := range []string{"a=x,b=y", "*_copy", "restored_*"} {
		_, err = multi.TargetSource(target)
		assert.NoError(t, err, "%q", target)
	}
	for _, target := range []string{"", "a", "b", "*_copy", "a=x,b=y", "backupkit_scratch_x_0123abcd_", "backupkit_scratch_x_0123abcd_*_*"} {
		assert.Error(t, multi.DropTarget(t.Context(), target), "%q", target)
	}
}
