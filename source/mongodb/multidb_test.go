package mongodb_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/mongodb"
	"github.com/backupkit/backupkit/source/mongodb/archive"
)

func names(t *testing.T, snap []byte) []string {
	ar, err := archive.NewReader(bytes.NewReader(snap))
	require.NoError(t, err)
	var ns []string
	for _, c := range ar.Collections() {
		ns = append(ns, c.Namespace())
	}
	return ns
}

// TestSeveralDatabases dumps two databases, and all databases (limited to
// ours by a namespace pattern, since the server is shared), and restores a
// two-database archive onto the original names with DropExisting.
func TestSeveralDatabases(t *testing.T) {
	uri := testenv.MongoDB(t)
	c := client(t, uri)
	a, b := testenv.UniqueName(t), testenv.UniqueName(t)
	for i, db := range []string{a, b} {
		dropLater(t, c, db)
		_, err := c.Database(db).Collection("x").InsertOne(t.Context(), bson.D{{Key: "_id", Value: int32(i)}})
		require.NoError(t, err)
	}
	s, err := mongodb.New(uri, mongodb.Databases(a, b))
	require.NoError(t, err)
	var snap bytes.Buffer
	info, err := s.Snapshot(t.Context(), &snap)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{a + ".x", b + ".x"}, names(t, snap.Bytes()))
	assert.Len(t, info.Items, 2)

	all, err := mongodb.New(uri, mongodb.Collections(a+".*", b+".*"))
	require.NoError(t, err)
	var allSnap bytes.Buffer
	_, err = all.Snapshot(t.Context(), &allSnap)
	require.NoError(t, err)
	got := names(t, allSnap.Bytes())
	assert.ElementsMatch(t, []string{a + ".x", b + ".x"}, got)
	for _, n := range got {
		assert.False(t, strings.HasPrefix(n, "admin.") || strings.HasPrefix(n, "config.") || strings.HasPrefix(n, "local."), n)
	}

	// Onto the existing databases: refused, then replaced with DropExisting.
	err = s.Restore(t.Context(), bytes.NewReader(snap.Bytes()), source.RestoreOptions{})
	assert.ErrorContains(t, err, "already exists")
	require.NoError(t, s.Restore(t.Context(), bytes.NewReader(snap.Bytes()), source.RestoreOptions{DropExisting: true}))
	n, err := c.Database(b).Collection("x").CountDocuments(t.Context(), bson.D{})
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	// A Target with two databases is refused.
	assert.ErrorContains(t, s.Restore(t.Context(), bytes.NewReader(snap.Bytes()), source.RestoreOptions{Target: "t"}), "2 databases")
}

// TestDropExistingKeepsOtherCollections: a Source limited by collection
// patterns drops only the archive's collections.
func TestDropExistingKeepsOtherCollections(t *testing.T) {
	uri := testenv.MongoDB(t)
	c := client(t, uri)
	db := testenv.UniqueName(t)
	dropLater(t, c, db)
	for _, coll := range []string{"keep", "dump"} {
		_, err := c.Database(db).Collection(coll).InsertOne(t.Context(), bson.D{{Key: "_id", Value: coll}})
		require.NoError(t, err)
	}
	s, err := mongodb.New(withDB(t, uri, db), mongodb.Collections("dump"))
	require.NoError(t, err)
	var snap bytes.Buffer
	_, err = s.Snapshot(t.Context(), &snap)
	require.NoError(t, err)
	require.NoError(t, s.Restore(t.Context(), bytes.NewReader(snap.Bytes()), source.RestoreOptions{DropExisting: true}))
	colls, err := c.Database(db).ListCollectionNames(t.Context(), bson.D{})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"keep", "dump"}, colls)
}
