package archive_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/backupkit/backupkit/source/mongodb/archive"
)

// FuzzArchiveRoundTrip writes the documents the input describes (split into
// up to three namespaces and segments) with Writer, reads them back with
// Reader, and requires the same documents in the same order with every
// namespace ended and a clean io.EOF; then it cuts the stream at a point the
// input chooses and requires an error, never a clean end.
func FuzzArchiveRoundTrip(f *testing.F) {
	f.Add([]byte("hello world"), uint16(3), uint8(2))
	f.Add([]byte{}, uint16(0), uint8(0))
	f.Add(bytes.Repeat([]byte{0xff, 0x00}, 300), uint16(500), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16, shape uint8) {
		nsCount := int(shape%3) + 1
		per := int(shape/3%4) + 1 // documents per segment
		colls := make([]archive.Collection, nsCount)
		for i := range colls {
			colls[i] = archive.Collection{DB: "fz", Collection: fmt.Sprintf("c%d", i), Metadata: `{"indexes":[],"collectionName":"c"}`}
		}
		var want [][]bson.Raw
		for i := range nsCount {
			var docs []bson.Raw
			for j := i; j < len(data); j += nsCount * 7 {
				chunk := data[j:min(j+7, len(data))]
				doc, err := bson.Marshal(bson.D{{Key: "_id", Value: j}, {Key: "b", Value: chunk}, {Key: "s", Value: string(chunk)}})
				if err != nil {
					t.Skip("not a document") // invalid UTF-8 is still legal BSON; Marshal refuses nothing here
				}
				docs = append(docs, doc)
			}
			want = append(want, docs)
		}
		var buf bytes.Buffer
		w, err := archive.NewWriter(&buf, archive.Header{ToolVersion: "fuzz"}, colls)
		if err != nil {
			t.Fatal(err)
		}
		for i, docs := range want {
			for s := 0; s < len(docs); s += per {
				seg := make([][]byte, 0, per)
				for _, d := range docs[s:min(s+per, len(docs))] {
					seg = append(seg, d)
				}
				if err := w.WriteSegment("fz", colls[i].Collection, seg...); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.EndNamespace("fz", colls[i].Collection); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		stream := buf.Bytes()

		got := make(map[string][]bson.Raw)
		ended := map[string]bool{}
		r, err := archive.NewReader(bytes.NewReader(stream))
		if err != nil {
			t.Fatalf("reading what Writer wrote: %v", err)
		}
		for {
			it, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("reading what Writer wrote: %v", err)
			}
			if it.EOF {
				ended[it.Collection] = true
				continue
			}
			got[it.Collection] = append(got[it.Collection], it.Doc)
		}
		for i, docs := range want {
			name := colls[i].Collection
			if !ended[name] {
				t.Fatalf("namespace %s not ended", name)
			}
			if len(got[name]) != len(docs) {
				t.Fatalf("namespace %s: %d documents back, want %d", name, len(got[name]), len(docs))
			}
			for k := range docs {
				if !bytes.Equal(got[name][k], docs[k]) {
					t.Fatalf("namespace %s: document %d differs", name, k)
				}
			}
		}

		// A cut stream never reads as complete.
		at := int(cut) % len(stream)
		r, err = archive.NewReader(bytes.NewReader(stream[:at]))
		if err != nil {
			return
		}
		for {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				t.Fatalf("a stream cut at %d of %d bytes read as complete", at, len(stream))
			}
			if err != nil {
				return
			}
		}
	})
}

// FuzzParseMetadata parses collection metadata strings: never a panic, and
// what parses survives Marshal and parses again; after one round trip
// (which turns invalid UTF-8 into U+FFFD) the text is stable.
func FuzzParseMetadata(f *testing.F) {
	f.Add(`{"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_"}],"uuid":"0123456789abcdef0123456789abcdef","collectionName":"c","type":"collection"}`)
	f.Add(`{"options":{"capped":true,"size":{"$numberInt":"4096"}},"indexes":[],"collectionName":"capped"}`)
	f.Add(``)
	f.Add(`{"indexes":"nope"}`)
	f.Fuzz(func(t *testing.T, s string) {
		m, err := archive.ParseMetadata(s)
		if err != nil {
			return
		}
		out, err := m.Marshal()
		if err != nil {
			return // e.g. a name that is not valid UTF-8
		}
		m2, err := archive.ParseMetadata(out)
		if err != nil {
			t.Fatalf("Marshal wrote %q, which does not parse: %v", out, err)
		}
		out2, err := m2.Marshal()
		if err != nil {
			t.Fatalf("Marshal of %q's parse: %v", out, err)
		}
		// Invalid UTF-8 in a string field is written as U+FFFD, so the
		// first round trip may normalize; the second must be stable.
		m3, err := archive.ParseMetadata(out2)
		if err != nil {
			t.Fatalf("Marshal wrote %q, which does not parse: %v", out2, err)
		}
		out3, err := m3.Marshal()
		if err != nil || out3 != out2 {
			t.Fatalf("not stable: %q then %q (%v)", out2, out3, err)
		}
	})
}
