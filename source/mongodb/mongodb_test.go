package mongodb_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/mongodb"
	"github.com/backupkit/backupkit/source/mongodb/archive"
	"github.com/backupkit/backupkit/source/sourcetest"
)

// withDB returns the server URI with db as its path.
func withDB(t testing.TB, uri, db string) string {
	t.Helper()
	u, err := url.Parse(uri)
	require.NoError(t, err)
	u.Path = "/" + db
	return u.String()
}

func client(t testing.TB, uri string) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

func dropLater(t testing.TB, c *mongo.Client, db string) {
	t.Cleanup(func() { _ = c.Database(db).Drop(context.Background()) })
}

type harness struct {
	uri string
	db  string
	c   *mongo.Client
}

func (h *harness) Source(t testing.TB) source.Source {
	s, err := mongodb.New(withDB(t, h.uri, h.db))
	require.NoError(t, err)
	return s
}

// typesDoc is a document of every BSON type FerretDB stores, in a
// deliberate field order.
func typesDoc(i int) bson.D {
	oid, _ := bson.ObjectIDFromHex(fmt.Sprintf("5f1d7a2b9c8e4d3a2b1c%04x", i))
	return bson.D{
		{Key: "_id", Value: oid},
		{Key: "z", Value: "field order: z before a"},
		{Key: "a", Value: int32(i)},
		{Key: "i32", Value: int32(-7)},
		{Key: "i64", Value: int64(1) << 40},
		{Key: "i64small", Value: int64(7)},
		{Key: "dbl", Value: 7.0},
		{Key: "frac", Value: 0.1},
		{Key: "s", Value: fmt.Sprintf("héllo wörld 🎉 %d", i)},
		{Key: "t", Value: true},
		{Key: "null", Value: nil},
		{Key: "old", Value: bson.NewDateTimeFromTime(time.Date(1900, 1, 2, 3, 4, 5, 6e6, time.UTC))},
		{Key: "new", Value: bson.NewDateTimeFromTime(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))},
		{Key: "ts", Value: bson.Timestamp{T: 1700000000, I: uint32(i + 1)}},
		{Key: "bin0", Value: bson.Binary{Subtype: 0, Data: []byte{0, 1, 2}}},
		{Key: "uuid", Value: bson.Binary{Subtype: 4, Data: bytes.Repeat([]byte{0xab}, 16)}},
		{Key: "user", Value: bson.Binary{Subtype: 0x80, Data: []byte("x")}},
		{Key: "re", Value: bson.Regex{Pattern: "^a.*b$", Options: "i"}},
		{Key: "nested", Value: bson.D{{Key: "b", Value: int32(1)}, {Key: "a", Value: bson.D{{Key: "y", Value: bson.A{}}, {Key: "x", Value: bson.D{}}}}}},
		{Key: "arr", Value: bson.A{int32(1), "two", int64(3), bson.D{{Key: "k", Value: nil}}}},
	}
}

func (h *harness) Seed(t testing.TB, variant int) {
	ctx := t.Context()
	require.NoError(t, h.c.Database(h.db).Drop(ctx))
	db := h.c.Database(h.db)
	switch variant {
	case 0:
		var docs []any
		for i := range 5 {
			docs = append(docs, typesDoc(i))
		}
		_, err := db.Collection("types").InsertMany(ctx, docs)
		require.NoError(t, err)
		_, err = db.Collection("types").Indexes().CreateMany(ctx, []mongo.IndexModel{
			{Keys: bson.D{{Key: "s", Value: 1}}, Options: options.Index().SetUnique(true)},
			{Keys: bson.D{{Key: "i32", Value: -1}, {Key: "a", Value: 1}}},
		})
		require.NoError(t, err)
		require.NoError(t, db.CreateCollection(ctx, "empty"))
		require.NoError(t, db.CreateCollection(ctx, "capped", options.CreateCollection().SetCapped(true).SetSizeInBytes(1<<20)))
		_, err = db.Collection("capped").InsertMany(ctx, []any{bson.D{{Key: "_id", Value: int32(1)}}, bson.D{{Key: "_id", Value: int32(2)}}})
		require.NoError(t, err)
	case 1:
		var docs []any
		for i := range 2500 {
			docs = append(docs, bson.D{{Key: "_id", Value: int64(i)}, {Key: "v", Value: fmt.Sprint("value-", i)}, {Key: "pad", Value: bytes.Repeat([]byte{byte(i)}, 500)}})
		}
		_, err := db.Collection("many").InsertMany(ctx, docs)
		require.NoError(t, err)
		_, err = db.Collection("types").InsertOne(ctx, typesDoc(9))
		require.NoError(t, err)
	}
}

func (h *harness) RestoreTarget(t testing.TB) string {
	name := testenv.UniqueName(t)
	dropLater(t, h.c, name)
	return name
}

func (h *harness) OpenTarget(t testing.TB, target string) source.Source {
	s, err := mongodb.New(withDB(t, h.uri, target))
	require.NoError(t, err)
	return s
}

// canonical maps an archive to per-collection sorted canonical Extended
// JSON of its documents, its indexes (without "ns") and its options, without
// database names or UUIDs.
type canonColl struct {
	Type    string
	Options string
	Indexes []string
	Docs    []string
}

func canonical(t testing.TB, snap []byte) any {
	t.Helper()
	ar, err := archive.NewReader(bytes.NewReader(snap))
	if err != nil {
		t.Fatalf("canonical: %v", err)
	}
	out := map[string]*canonColl{}
	for _, c := range ar.Collections() {
		md, err := archive.ParseMetadata(c.Metadata)
		require.NoError(t, err)
		cc := &canonColl{Type: c.Type, Docs: []string{}}
		if len(md.Options) > 5 {
			cc.Options = ext(t, md.Options)
		}
		for _, ix := range md.Indexes {
			var d bson.D
			elems, err := ix.Elements()
			require.NoError(t, err)
			for _, e := range elems {
				if e.Key() != "ns" {
					d = append(d, bson.E{Key: e.Key(), Value: e.Value()})
				}
			}
			b, err := bson.MarshalExtJSON(d, true, false)
			require.NoError(t, err)
			cc.Indexes = append(cc.Indexes, string(b))
		}
		slices.Sort(cc.Indexes)
		out[c.Collection] = cc
	}
	for {
		it, err := ar.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("canonical: %v", err)
		}
		if !it.EOF {
			out[it.Collection].Docs = append(out[it.Collection].Docs, ext(t, it.Doc))
		}
	}
	res := map[string]canonColl{}
	for k, v := range out {
		slices.Sort(v.Docs)
		res[k] = *v
	}
	return res
}

func ext(t testing.TB, d bson.Raw) string {
	b, err := bson.MarshalExtJSON(d, true, false)
	require.NoError(t, err)
	return string(b)
}

func newHarness(t *testing.T) *harness {
	uri := testenv.MongoDB(t)
	h := &harness{uri: uri, db: testenv.UniqueName(t), c: client(t, uri)}
	dropLater(t, h.c, h.db)
	return h
}

func TestConformance(t *testing.T) {
	h := newHarness(t)
	sourcetest.Run(t, h, sourcetest.Config{
		Lacks:     sourcetest.PointInTime, // FerretDB is no replica set
		Canonical: canonical,
	})
}

func TestSnapshotInfoAndFormat(t *testing.T) {
	h := newHarness(t)
	h.Seed(t, 0)
	snap, info := sourcetest.Snapshot(t, h.Source(t))
	assert.Equal(t, "archive", info.Format)
	assert.False(t, info.PointInTime)
	assert.Contains(t, info.Details["consistency"], "not point-in-time")
	counts := map[string]int64{}
	for _, it := range info.Items {
		counts[it.Name] = it.Count
	}
	assert.Equal(t, map[string]int64{h.db + ".types": 5, h.db + ".empty": 0, h.db + ".capped": 2}, counts)
	assert.NotEmpty(t, info.ServerVersion)

	c := canonical(t, snap).(map[string]canonColl)
	assert.Contains(t, c["capped"].Options, `"capped":true`)
	assert.Len(t, c["types"].Indexes, 3)
	// Every document comes back byte for byte (types and field order).
	ar, err := archive.NewReader(bytes.NewReader(snap))
	require.NoError(t, err)
	var got []bson.Raw
	for {
		it, err := ar.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if it.Collection == "types" && !it.EOF {
			got = append(got, it.Doc)
		}
	}
	require.Len(t, got, 5)
	slices.SortFunc(got, func(a, b bson.Raw) int { return int(a.Lookup("a").Int32() - b.Lookup("a").Int32()) })
	for i, d := range got {
		want, err := bson.Marshal(typesDoc(i))
		require.NoError(t, err)
		assert.Equal(t, ext(t, want), ext(t, d))
		assert.True(t, bytes.Equal(want, d), "document %d is not byte-identical", i)
	}
}

func TestCollectionPatterns(t *testing.T) {
	h := newHarness(t)
	h.Seed(t, 0)
	for _, tc := range []struct {
		opts []mongodb.Option
		want []string
	}{
		{[]mongodb.Option{mongodb.Collections("ty*")}, []string{"types"}},
		{[]mongodb.Option{mongodb.ExcludeCollections("types", h.db+".capped")}, []string{"empty"}},
		{[]mongodb.Option{mongodb.Collections("*"), mongodb.ExcludeCollections("e*")}, []string{"capped", "types"}},
	} {
		s, err := mongodb.New(withDB(t, h.uri, h.db), tc.opts...)
		require.NoError(t, err)
		snap, _ := sourcetest.Snapshot(t, s)
		var names []string
		for k := range canonical(t, snap).(map[string]canonColl) {
			names = append(names, k)
		}
		slices.Sort(names)
		assert.Equal(t, tc.want, names)
	}
	// Filter
	s, err := mongodb.New(withDB(t, h.uri, h.db), mongodb.Filter(h.db+".types", bson.D{{Key: "a", Value: bson.D{{Key: "$lt", Value: 2}}}}))
	require.NoError(t, err)
	_, info := sourcetest.Snapshot(t, s)
	for _, it := range info.Items {
		if it.Name == h.db+".types" {
			assert.Equal(t, int64(2), it.Count)
		}
	}
}

// TestGoldenRestore restores mongodump's archives into FerretDB and compares
// what the server then holds with golden.expected.jsonl.
func TestGoldenRestore(t *testing.T) {
	h := newHarness(t)
	want := expectedGolden(t)
	for _, name := range []string{"golden.archive.gz", "golden.archive.plain.gz"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile("testdata/" + name)
			require.NoError(t, err)
			if name == "golden.archive.plain.gz" {
				zr, err := gzip.NewReader(bytes.NewReader(data))
				require.NoError(t, err)
				data, err = io.ReadAll(zr)
				require.NoError(t, err)
			}
			target := h.RestoreTarget(t)
			// The plain archive is restored in small batches by one worker.
			var opts []mongodb.Option
			if name == "golden.archive.plain.gz" {
				opts = append(opts, mongodb.BatchDocuments(7), mongodb.Parallel(1), mongodb.TempDir(t.TempDir()))
			}
			src, err := mongodb.New(withDB(t, h.uri, target), opts...)
			require.NoError(t, err)
			require.NoError(t, src.Restore(t.Context(), bytes.NewReader(data), source.RestoreOptions{Target: target}))
			snap, info := sourcetest.Snapshot(t, src)
			got := canonical(t, snap).(map[string]canonColl)
			for coll, w := range want {
				assert.Equal(t, w.Docs, got[coll].Docs, "documents of %s", coll)
				assert.Equal(t, w.Indexes, got[coll].Indexes, "indexes of %s", coll)
			}
			assert.Contains(t, got["capped"].Options, `"capped":true`)
			assert.Len(t, info.Items, 4)
		})
	}
}

func expectedGolden(t testing.TB) map[string]canonColl {
	f, err := os.Open("testdata/golden.expected.jsonl.gz")
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	out := map[string]canonColl{}
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var line struct {
			NS    string          `json:"ns"`
			Doc   json.RawMessage `json:"doc"`
			Index json.RawMessage `json:"index"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line))
		coll := line.NS[len("golden."):]
		c := out[coll]
		if c.Docs == nil {
			c.Docs = []string{}
		}
		var raw bson.Raw
		if line.Doc != nil {
			require.NoError(t, bson.UnmarshalExtJSON(line.Doc, true, &raw))
			c.Docs = append(c.Docs, ext(t, raw))
		} else {
			require.NoError(t, bson.UnmarshalExtJSON(line.Index, true, &raw))
			c.Indexes = append(c.Indexes, ext(t, raw))
		}
		out[coll] = c
	}
	require.NoError(t, sc.Err())
	for k, c := range out {
		slices.Sort(c.Docs)
		slices.Sort(c.Indexes)
		out[k] = c
	}
	return out
}

func TestRestoreRefusesMultiDBTarget(t *testing.T) {
	var buf bytes.Buffer
	aw, err := archive.NewWriter(&buf, archive.Header{}, []archive.Collection{{DB: "a", Collection: "x"}, {DB: "b", Collection: "y"}})
	require.NoError(t, err)
	require.NoError(t, aw.Close())
	s, err := mongodb.New("mongodb://unreachable.invalid:27017/")
	require.NoError(t, err)
	err = s.Restore(t.Context(), bytes.NewReader(buf.Bytes()), source.RestoreOptions{Target: "t", DryRun: true})
	assert.ErrorContains(t, err, "2 databases")
}

// TestBadInput needs no server: a truncated or corrupt stream is rejected
// before Restore connects, and an unknown host fails Snapshot and Check with
// an error naming it.
func TestBadInput(t *testing.T) {
	s, err := mongodb.New("mongodb://user:s3cret-pw@unreachable.invalid:27017/shop", mongodb.ConnectTimeout(time.Second))
	require.NoError(t, err)
	golden, err := os.ReadFile("testdata/empty-collection.archive")
	require.NoError(t, err)
	for _, cut := range []int{0, 3, 100, len(golden) - 1} {
		err := s.Restore(t.Context(), bytes.NewReader(golden[:cut]), source.RestoreOptions{})
		require.Error(t, err)
		assert.ErrorIs(t, err, archive.ErrCorrupt, "cut at %d", cut)
	}
	require.NoError(t, s.Restore(t.Context(), bytes.NewReader(golden), source.RestoreOptions{DryRun: true}))

	_, err = s.Snapshot(t.Context(), io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unreachable.invalid")
	assert.NotContains(t, err.Error(), "s3cret-pw")
	err = s.Check(t.Context())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret-pw")

	_, err = mongodb.New("postgres://x/y")
	assert.Error(t, err)
	_, err = mongodb.New("mongodb://h/db", mongodb.Collections("[bad"))
	assert.Error(t, err)
	_, err = mongodb.New("mongodb://h/db?connectTimeoutMS=notanumber")
	assert.Error(t, err)
	_, err = source.Open(t.Context(), "mongodb://h/db?parallel=x")
	assert.Error(t, err)
}

func TestOpenURL(t *testing.T) {
	s, err := source.Open(t.Context(), "mongodb://u:pw@h1:27017/shop?collections=a*,b&exclude=tmp&replicaSet=rs0&parallel=2")
	require.NoError(t, err)
	assert.Equal(t, "archive", s.Format())
	assert.Equal(t, "mongodb://h1:27017/shop", s.(*mongodb.Source).Location())
	m, err := mongodb.New("mongodb://u:pw@h1:27017,h2/shop?replicaSet=rs0")
	require.NoError(t, err)
	assert.Equal(t, "mongodb://h1:27017,h2/shop", m.Location())
	_, err = source.Open(t.Context(), "mongodb+srv://cluster.example.com/?databases=a,b")
	require.NoError(t, err)
	_, err = source.Open(t.Context(), "mongodb://h/shop?databases=a")
	assert.Error(t, err)
	s, err = source.Open(t.Context(), "mongodb://h/?collections=x")
	require.NoError(t, err)
	require.True(t, errors.Is(s.(source.Restorer).Restore(t.Context(), bytes.NewReader(nil), source.RestoreOptions{DryRun: true}), archive.ErrCorrupt))
}

// TestGoldenEmptyCollectionRestore restores mongodump's archive of one empty
// collection: the collection must exist afterwards, with its _id index.
func TestGoldenEmptyCollectionRestore(t *testing.T) {
	h := newHarness(t)
	data, err := os.ReadFile("testdata/empty-collection.archive")
	require.NoError(t, err)
	target := h.RestoreTarget(t)
	src := h.OpenTarget(t, target)
	require.NoError(t, src.(source.Restorer).Restore(t.Context(), bytes.NewReader(data), source.RestoreOptions{Target: target}))
	snap, info := sourcetest.Snapshot(t, src)
	require.Len(t, info.Items, 1)
	assert.Equal(t, target+".empty", info.Items[0].Name)
	assert.Zero(t, info.Items[0].Count)
	assert.NotEmpty(t, info.Items[0].Checksum, "an empty collection's checksum covers its indexes")
	got := canonical(t, snap).(map[string]canonColl)
	assert.Equal(t, []string{}, got["empty"].Docs)
	assert.Len(t, got["empty"].Indexes, 1)
}
