package archive_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"pgregory.net/rapid"

	"github.com/backupkit/backupkit/source/mongodb/archive"
	"github.com/backupkit/backupkit/source/mongodb/internal/bsongen"
)

// TestRapidRoundTrip writes random documents of every BSON type (including
// those FerretDB refuses) to several namespaces in randomly interleaved
// segments, and requires the reader to return each namespace's documents
// byte for byte, in order.
func TestRapidRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nns := rapid.IntRange(1, 4).Draw(t, "namespaces")
		var colls []archive.Collection
		want := map[string][][]byte{}
		for i := range nns {
			c := archive.Collection{DB: fmt.Sprint("db", i%2), Collection: fmt.Sprint("c", i)}
			if rapid.Bool().Draw(t, "view") {
				c.Type = archive.TypeView
			}
			colls = append(colls, c)
		}
		var buf bytes.Buffer
		aw, err := archive.NewWriter(&buf, archive.Header{ConcurrentCollections: 2}, colls)
		if err != nil {
			t.Fatal(err)
		}
		ended := map[int]bool{}
		for step := range rapid.IntRange(0, 12).Draw(t, "steps") {
			i := rapid.IntRange(0, nns-1).Draw(t, "ns")
			c := colls[i]
			if ended[i] {
				continue
			}
			if rapid.IntRange(0, 5).Draw(t, "end") == 0 {
				if err := aw.EndNamespace(c.DB, c.Collection); err != nil {
					t.Fatal(err)
				}
				ended[i] = true
				continue
			}
			var docs [][]byte
			for j := range rapid.IntRange(0, 4).Draw(t, "docs") {
				b, err := bson.Marshal(bsongen.Doc(t, fmt.Sprintf("s%dd%d", step, j), false))
				if err != nil {
					t.Fatal(err)
				}
				docs = append(docs, b)
			}
			if err := aw.WriteSegment(c.DB, c.Collection, docs...); err != nil {
				t.Fatal(err)
			}
			want[c.Namespace()] = append(want[c.Namespace()], docs...)
		}
		if err := aw.Close(); err != nil {
			t.Fatal(err)
		}
		ar, err := archive.NewReader(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][][]byte{}
		for {
			it, err := ar.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if !it.EOF {
				got[it.DB+"."+it.Collection] = append(got[it.DB+"."+it.Collection], it.Doc)
			}
		}
		for ns, docs := range want {
			if len(got[ns]) != len(docs) {
				t.Fatalf("%s: %d documents, want %d", ns, len(got[ns]), len(docs))
			}
			for i := range docs {
				if !bytes.Equal(docs[i], got[ns][i]) {
					t.Fatalf("%s: document %d differs", ns, i)
				}
			}
		}
	})
}
