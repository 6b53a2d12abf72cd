package archive_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/crc64"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/backupkit/backupkit/source/mongodb/archive"
)

const testdata = "../testdata/"

// goldenPlain returns golden.archive (stored gzipped in the repository as
// golden.archive.plain.gz, to keep it small; it is not the --gzip stream).
func goldenPlain(t testing.TB) []byte {
	t.Helper()
	f, err := os.Open(testdata + "golden.archive.plain.gz")
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	b, err := io.ReadAll(zr)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	require.Equal(t, "e081aa2bec7762305c36553f40b0fe406b4583ade21b4613b4dfd762408c5a7a", hex.EncodeToString(sum[:]),
		"golden.archive.plain.gz must hold the shared golden.archive")
	return b
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(testdata + name)
	require.NoError(t, err)
	return b
}

// content is what an archive yields, in comparable form: per namespace, the
// sorted canonical Extended JSON of its documents and of its indexes.
type content struct {
	Docs    map[string][]string
	Indexes map[string][]string
}

func extJSON(t testing.TB, doc bson.Raw) string {
	t.Helper()
	b, err := bson.MarshalExtJSON(doc, true, false)
	require.NoError(t, err)
	return string(b)
}

// readAll reads a whole archive and returns its content, prelude and items.
func readAll(t testing.TB, r io.Reader) (content, *archive.Reader, []archive.Item) {
	t.Helper()
	ar, err := archive.NewReader(r)
	require.NoError(t, err)
	c := content{Docs: map[string][]string{}, Indexes: map[string][]string{}}
	for _, coll := range ar.Collections() {
		ns := coll.Namespace()
		md, err := archive.ParseMetadata(coll.Metadata)
		require.NoError(t, err)
		c.Docs[ns] = []string{}
		for _, ix := range md.Indexes {
			c.Indexes[ns] = append(c.Indexes[ns], extJSON(t, ix))
		}
	}
	var items []archive.Item
	for {
		it, err := ar.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		items = append(items, it)
		if !it.EOF {
			ns := it.DB + "." + it.Collection
			c.Docs[ns] = append(c.Docs[ns], extJSON(t, it.Doc))
		}
	}
	for _, v := range c.Docs {
		slices.Sort(v)
	}
	for _, v := range c.Indexes {
		slices.Sort(v)
	}
	return c, ar, items
}

func expected(t testing.TB) content {
	f, err := os.Open(testdata + "golden.expected.jsonl.gz")
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	c := content{Docs: map[string][]string{}, Indexes: map[string][]string{}}
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var line struct {
			NS    string          `json:"ns"`
			Doc   json.RawMessage `json:"doc"`
			Index json.RawMessage `json:"index"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line))
		if _, ok := c.Docs[line.NS]; !ok {
			c.Docs[line.NS] = []string{}
		}
		var raw bson.Raw
		if line.Doc != nil {
			require.NoError(t, bson.UnmarshalExtJSON(line.Doc, true, &raw))
			c.Docs[line.NS] = append(c.Docs[line.NS], extJSON(t, raw))
		} else {
			require.NoError(t, bson.UnmarshalExtJSON(line.Index, true, &raw))
			c.Indexes[line.NS] = append(c.Indexes[line.NS], extJSON(t, raw))
		}
	}
	require.NoError(t, sc.Err())
	for _, v := range c.Docs {
		slices.Sort(v)
	}
	for _, v := range c.Indexes {
		slices.Sort(v)
	}
	return c
}

func TestGolden(t *testing.T) {
	want := expected(t)
	require.Len(t, want.Docs["golden.types"], 11)
	require.Len(t, want.Docs["golden.many"], 5000)
	for name, data := range map[string][]byte{
		"golden.archive":    goldenPlain(t),
		"golden.archive.gz": readFile(t, "golden.archive.gz"),
	} {
		t.Run(name, func(t *testing.T) {
			got, ar, _ := readAll(t, bytes.NewReader(data))
			assert.Equal(t, want, got)
			h := ar.Header()
			assert.Equal(t, archive.Header{ConcurrentCollections: 4, Version: "0.1", ServerVersion: "7.0.42", ToolVersion: "built-without-version-string"}, h)
			var names []string
			for _, c := range ar.Collections() {
				names = append(names, c.Namespace())
			}
			assert.ElementsMatch(t, []string{"golden.types", "golden.many", "golden.empty", "golden.capped"}, names)
			for _, c := range ar.Collections() {
				if c.Collection == "capped" {
					md, err := archive.ParseMetadata(c.Metadata)
					require.NoError(t, err)
					capped, _ := md.Options.Lookup("capped").BooleanOK()
					assert.True(t, capped, "capped collection options: %s", md.Options)
				}
			}
		})
	}
}

func TestGoldenEmptyCollection(t *testing.T) {
	got, ar, items := readAll(t, bytes.NewReader(readFile(t, "empty-collection.archive")))
	assert.Equal(t, map[string][]string{"golden.empty": {}}, got.Docs)
	assert.Len(t, ar.Collections(), 1)
	assert.Equal(t, []archive.Item{{DB: "golden", Collection: "empty", EOF: true}}, items)
}

// rewrite copies an archive with Writer, keeping its prelude and segment
// boundaries.
func rewrite(t testing.TB, data []byte) []byte {
	t.Helper()
	ar, err := archive.NewReader(bytes.NewReader(data))
	require.NoError(t, err)
	var out bytes.Buffer
	aw, err := archive.NewWriter(&out, ar.Header(), ar.Collections())
	require.NoError(t, err)
	var seg []byte
	var segDocs [][]byte
	var cur archive.Item
	flush := func() {
		if len(segDocs) > 0 {
			require.NoError(t, aw.WriteSegment(cur.DB, cur.Collection, segDocs...))
		}
		segDocs, seg = nil, seg[:0]
	}
	for {
		it, err := ar.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if it.EOF {
			flush()
			require.NoError(t, aw.EndNamespace(it.DB, it.Collection))
			continue
		}
		if it.DB != cur.DB || it.Collection != cur.Collection || it.Segment != cur.Segment {
			flush()
			cur = it
		}
		segDocs = append(segDocs, it.Doc)
	}
	flush()
	require.NoError(t, aw.Close())
	return out.Bytes()
}

// TestWriterReproducesGolden: writing mongodump's own prelude and segments
// gives mongodump's bytes exactly (field order, CRCs, terminators).
func TestWriterReproducesGolden(t *testing.T) {
	for _, name := range []string{"golden.archive", "empty-collection.archive"} {
		t.Run(name, func(t *testing.T) {
			var data []byte
			if name == "golden.archive" {
				data = goldenPlain(t)
			} else {
				data = readFile(t, name)
			}
			got := rewrite(t, data)
			require.Equal(t, len(data), len(got))
			require.True(t, bytes.Equal(data, got), "rewritten archive differs from mongodump's")
		})
	}
}

// allTypes is a document with every BSON type, including those FerretDB
// refuses, in a deliberate field order.
func allTypes(t testing.TB) bson.Raw {
	t.Helper()
	oid, _ := bson.ObjectIDFromHex("5f1d7a2b9c8e4d3a2b1c0f9e")
	dec, err := bson.ParseDecimal128("-1234567890.123456789012345678901234")
	require.NoError(t, err)
	d := bson.D{
		{Key: "z", Value: "first field"},
		{Key: "_id", Value: oid},
		{Key: "i32", Value: int32(-7)},
		{Key: "i64", Value: int64(1) << 40},
		{Key: "i64small", Value: int64(7)},
		{Key: "dbl", Value: 7.0},
		{Key: "negzero", Value: math.Copysign(0, -1)},
		{Key: "inf", Value: math.Inf(1)},
		{Key: "ninf", Value: math.Inf(-1)},
		{Key: "nan", Value: math.NaN()},
		{Key: "dec", Value: dec},
		{Key: "s", Value: "héllo wörld 🎉"},
		{Key: "empty", Value: ""},
		{Key: "t", Value: true},
		{Key: "null", Value: nil},
		{Key: "old", Value: bson.NewDateTimeFromTime(time.Date(1900, 1, 2, 3, 4, 5, 6e6, time.UTC))},
		{Key: "new", Value: bson.NewDateTimeFromTime(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))},
		{Key: "ts", Value: bson.Timestamp{T: 1700000000, I: 42}},
		{Key: "bin0", Value: bson.Binary{Subtype: 0, Data: []byte{0, 1, 2}}},
		{Key: "bin2", Value: bson.Binary{Subtype: 2, Data: []byte{3}}},
		{Key: "uuid", Value: bson.Binary{Subtype: 4, Data: bytes.Repeat([]byte{0xab}, 16)}},
		{Key: "md5", Value: bson.Binary{Subtype: 5, Data: bytes.Repeat([]byte{0xcd}, 16)}},
		{Key: "user", Value: bson.Binary{Subtype: 0x80, Data: []byte("x")}},
		{Key: "re", Value: bson.Regex{Pattern: "^a.*b$", Options: "imsx"}},
		{Key: "js", Value: bson.JavaScript("function() { return 1 }")},
		{Key: "jsscope", Value: bson.CodeWithScope{Code: "x", Scope: bson.D{{Key: "x", Value: int32(1)}}}},
		{Key: "sym", Value: bson.Symbol("sym")},
		{Key: "undef", Value: bson.Undefined{}},
		{Key: "dbptr", Value: bson.DBPointer{DB: "db.c", Pointer: oid}},
		{Key: "min", Value: bson.MinKey{}},
		{Key: "max", Value: bson.MaxKey{}},
		{Key: "nested", Value: bson.D{{Key: "b", Value: int32(1)}, {Key: "a", Value: bson.D{{Key: "y", Value: bson.A{}}, {Key: "x", Value: bson.D{}}}}}},
		{Key: "arr", Value: bson.A{int32(1), "two", bson.A{int64(3), bson.A{4.0}}, bson.D{{Key: "k", Value: nil}}}},
		{Key: "dotted.name", Value: int32(1)},
		{Key: "$dollar", Value: int32(2)},
	}
	b, err := bson.Marshal(d)
	require.NoError(t, err)
	return b
}

func TestRoundTripAllTypes(t *testing.T) {
	doc := allTypes(t)
	big := bson.Raw(mustMarshal(t, bson.D{{Key: "_id", Value: int32(1)}, {Key: "bin", Value: bson.Binary{Data: make([]byte, archive.MaxDocSize-100)}}}))
	require.LessOrEqual(t, len(big), archive.MaxDocSize)
	require.Greater(t, len(big), 16_000_000)
	colls := []archive.Collection{
		{DB: "d", Collection: "types", Metadata: `{"indexes":[]}`},
		{DB: "d", Collection: "big"},
		{DB: "d", Collection: "v", Type: archive.TypeView},
		{DB: "e", Collection: "empty"},
	}
	var buf bytes.Buffer
	aw, err := archive.NewWriter(&buf, archive.Header{ConcurrentCollections: 2, ServerVersion: "8.0.0", ToolVersion: "test"}, colls)
	require.NoError(t, err)
	require.NoError(t, aw.WriteSegment("d", "types", doc, doc))
	require.NoError(t, aw.WriteSegment("d", "big", big))
	require.NoError(t, aw.WriteSegment("d", "types", doc))
	require.NoError(t, aw.Close())

	ar, err := archive.NewReader(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, colls, ar.Collections())
	var docs []bson.Raw
	ended := map[string]bool{}
	for {
		it, err := ar.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if it.EOF {
			ended[it.DB+"."+it.Collection] = true
		} else {
			docs = append(docs, it.Doc)
		}
	}
	require.Len(t, docs, 4)
	for _, i := range []int{0, 1, 3} {
		assert.True(t, bytes.Equal(doc, docs[i]), "document %d changed", i)
	}
	assert.True(t, bytes.Equal(big, docs[2]), "the ~16 MiB document changed")
	assert.Equal(t, map[string]bool{"d.types": true, "d.big": true, "d.v": true, "e.empty": true}, ended)

	// The types survive decoding: spot checks.
	var back bson.D
	require.NoError(t, bson.Unmarshal(docs[0], &back))
	assert.Equal(t, "z", back[0].Key, "field order")
	assert.IsType(t, int32(0), back[2].Value)
	assert.IsType(t, int64(0), back[4].Value)
	assert.True(t, math.Signbit(back[6].Value.(float64)), "-0.0")
	assert.True(t, math.IsNaN(back[9].Value.(float64)))
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := bson.Marshal(v)
	require.NoError(t, err)
	return b
}

// TestWriterBytes checks our own stream byte by byte: magic, header field
// order, collection documents, namespace headers, CRCs and terminators.
func TestWriterBytes(t *testing.T) {
	d1 := mustMarshal(t, bson.D{{Key: "_id", Value: int32(1)}})
	d2 := mustMarshal(t, bson.D{{Key: "_id", Value: int32(2)}})
	var buf bytes.Buffer
	aw, err := archive.NewWriter(&buf, archive.Header{ConcurrentCollections: 1, ServerVersion: "7.0", ToolVersion: "bk"},
		[]archive.Collection{{DB: "a", Collection: "b", Metadata: "{}"}})
	require.NoError(t, err)
	require.NoError(t, aw.WriteSegment("a", "b", d1))
	require.NoError(t, aw.WriteSegment("a", "b", d2))
	require.NoError(t, aw.Close())

	var want []byte
	want = binary.LittleEndian.AppendUint32(want, 0x8199e26d)
	want = append(want, mustMarshal(t, bson.D{{Key: "concurrent_collections", Value: int32(1)}, {Key: "version", Value: "0.1"},
		{Key: "server_version", Value: "7.0"}, {Key: "tool_version", Value: "bk"}})...)
	want = append(want, mustMarshal(t, bson.D{{Key: "db", Value: "a"}, {Key: "collection", Value: "b"}, {Key: "metadata", Value: "{}"},
		{Key: "size", Value: int32(0)}, {Key: "type", Value: ""}})...)
	term := []byte{0xff, 0xff, 0xff, 0xff}
	want = append(want, term...)
	hdr := func(eof bool, crc uint64) []byte {
		return mustMarshal(t, bson.D{{Key: "db", Value: "a"}, {Key: "collection", Value: "b"}, {Key: "EOF", Value: eof}, {Key: "CRC", Value: int64(crc)}})
	}
	want = append(append(append(want, hdr(false, 0)...), d1...), term...)
	want = append(append(append(want, hdr(false, 0)...), d2...), term...)
	tab := crc64.MakeTable(crc64.ECMA)
	crc := crc64.Update(crc64.Checksum(d1, tab), tab, d2)
	want = append(append(want, hdr(true, crc)...), term...)
	assert.Equal(t, want, buf.Bytes())
}

func TestWriterErrors(t *testing.T) {
	var buf bytes.Buffer
	_, err := archive.NewWriter(&buf, archive.Header{}, []archive.Collection{{DB: "a", Collection: "b"}, {DB: "a", Collection: "b"}})
	assert.Error(t, err, "duplicate namespace")
	aw, err := archive.NewWriter(&buf, archive.Header{}, []archive.Collection{{DB: "a", Collection: "b"}})
	require.NoError(t, err)
	assert.Error(t, aw.WriteSegment("a", "c"), "unknown namespace")
	assert.Error(t, aw.WriteSegment("a", "b", []byte{1, 2, 3}), "bad document")
	assert.Error(t, aw.WriteSegment("a", "b", make([]byte, archive.MaxDocSize+1)), "document too large")
	require.NoError(t, aw.EndNamespace("a", "b"))
	assert.Error(t, aw.WriteSegment("a", "b"), "ended namespace")
}

// sample returns a small valid archive with two namespaces.
func sample(t testing.TB) []byte {
	var buf bytes.Buffer
	aw, err := archive.NewWriter(&buf, archive.Header{ConcurrentCollections: 1}, []archive.Collection{{DB: "a", Collection: "b"}, {DB: "a", Collection: "c"}})
	require.NoError(t, err)
	require.NoError(t, aw.WriteSegment("a", "b", mustMarshal(t, bson.D{{Key: "x", Value: "y"}})))
	require.NoError(t, aw.WriteSegment("a", "c", mustMarshal(t, bson.D{{Key: "x", Value: int32(1)}})))
	require.NoError(t, aw.Close())
	return buf.Bytes()
}

func readErr(data []byte) error {
	ar, err := archive.NewReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	for {
		if _, err := ar.Next(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

func TestReaderRejects(t *testing.T) {
	good := sample(t)
	require.NoError(t, readErr(good))
	term := []byte{0xff, 0xff, 0xff, 0xff}
	nsHdr := func(db, coll string, eof bool) []byte {
		return mustMarshal(t, bson.D{{Key: "db", Value: db}, {Key: "collection", Value: coll}, {Key: "EOF", Value: eof}, {Key: "CRC", Value: int64(0)}})
	}
	// Offset of the first namespace header: after magic, header, two
	// collection docs, terminator.
	ar, err := archive.NewReader(bytes.NewReader(good))
	require.NoError(t, err)
	body := int(ar.Offset())
	prelude := good[:body]

	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-5-1] ^= 1 // inside the last EOF header's CRC
	badLen := bytes.Clone(good)
	binary.LittleEndian.PutUint32(badLen[body+len(nsHdr("a", "b", false)):], 3)
	badDocLen := bytes.Clone(good)
	binary.LittleEndian.PutUint32(badDocLen[body+len(nsHdr("a", "b", false)):], 1000) // longer than the stream
	unknownField := append(bytes.Clone(prelude), mustMarshal(t, bson.D{{Key: "db", Value: "a"}, {Key: "collection", Value: "b"}, {Key: "EOF", Value: false}, {Key: "CRC", Value: int64(0)}, {Key: "x", Value: int32(1)}})...)

	cases := map[string][]byte{
		"empty":                   nil,
		"bad magic":               append([]byte{1, 2, 3, 4}, good[4:]...),
		"only magic":              good[:4],
		"terminator as header":    append(bytes.Clone(good[:4]), term...),
		"bad CRC":                 badCRC,
		"bad document length":     badLen,
		"document past the end":   badDocLen,
		"two terminators":         append(append(bytes.Clone(prelude), term...), good[body:]...),
		"never ends":              append(append(bytes.Clone(prelude), nsHdr("a", "b", false)...), term...),
		"not in prelude":          append(append(bytes.Clone(prelude), nsHdr("x", "y", false)...), term...),
		"unknown header field":    append(unknownField, term...),
		"segment after EOF":       append(bytes.Clone(good), append(nsHdr("a", "b", false), term...)...),
		"doc after EOF header":    append(append(bytes.Clone(prelude), nsHdr("a", "b", true)...), mustMarshal(t, bson.D{})...),
		"garbage after":           append(bytes.Clone(good), 1, 2),
		"not gzip after gz magic": {0x1f, 0x8b, 0, 0},
	}
	for cut := 1; cut < len(good); cut++ {
		cases["cut at "+itoa(cut)] = good[:cut]
	}
	for name, data := range cases {
		err := readErr(data)
		if assert.Error(t, err, name) && name != "not gzip after gz magic" {
			assert.True(t, errors.Is(err, archive.ErrCorrupt), "%s: %v", name, err)
		}
	}
	assert.ErrorContains(t, readErr(badCRC), "CRC mismatch")
	assert.ErrorContains(t, readErr(append([]byte{1, 2, 3, 4}, good[4:]...)), "bad magic")
	assert.ErrorContains(t, readErr(good[:len(good)-2]), "truncated")
	assert.ErrorContains(t, readErr(append(append(bytes.Clone(prelude), nsHdr("a", "b", false)...), term...)), "never ends")
	assert.ErrorContains(t, readErr(badLen), "bad document length")

	// A gzipped archive cut short fails too.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(good)
	require.NoError(t, zw.Close())
	require.NoError(t, readErr(gz.Bytes()))
	for _, cut := range []int{10, gz.Len() / 2, gz.Len() - 1} {
		assert.Error(t, readErr(gz.Bytes()[:cut]), "gzip cut at %d", cut)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func FuzzReader(f *testing.F) {
	f.Add(sample(f))
	f.Add(readFile(f, "empty-collection.archive"))
	f.Add([]byte{0x6d, 0xe2, 0x99, 0x81, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x6d, 0xe2, 0x99, 0x81, 0xff, 0xff, 0xff, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		ar, err := archive.NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		var total int
		for {
			it, err := ar.Next()
			if err != nil {
				return
			}
			total += len(it.Doc)
			if data[0] != 0x1f && total > len(data) { // gzip may expand

				t.Fatalf("read %d bytes of documents from %d bytes of input", total, len(data))
			}
		}
	})
}
