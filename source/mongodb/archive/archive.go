// Package archive reads and writes the mongodump --archive stream, the format
// `mongorestore --archive` reads:
//
//	archive    = magic prelude *(segment | eof-block)
//	magic      = 6D E2 99 81                  ; uint32 0x8199e26d, little-endian
//	prelude    = header-doc *collection-doc terminator
//	segment    = ns-header{EOF:false, CRC:0} *bson-doc terminator
//	eof-block  = ns-header{EOF:true,  CRC:crc} terminator
//	terminator = FF FF FF FF
//
// Every item after the magic is a BSON document (5 bytes up to [MaxDocSize],
// read by its int32 length, last byte 0x00) or the terminator. Segments of
// different namespaces may interleave; every namespace named in the prelude
// ends with an EOF block whose CRC is CRC-64/ECMA (hash/crc64) over the raw
// bytes of all the namespace's documents in write order.
//
// [Writer] writes such a stream field for field as mongodump does; [Reader]
// reads streams written by mongodump or by Writer, plain or gzipped as a
// whole (mongodump --archive --gzip), and rejects corrupt input with an error
// that says what is wrong and at which byte offset.
package archive

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc64"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Magic is the archive's first four bytes, as a little-endian uint32.
const Magic uint32 = 0x8199e26d

// MaxDocSize is the largest BSON document the format carries: MongoDB's
// 16 MiB document limit.
const MaxDocSize = 16 << 20

// terminator is the 4-byte item that ends the prelude and every block.
const terminator uint32 = 0xffffffff

// FormatVersion is the archive format version mongodump writes in the
// header document.
const FormatVersion = "0.1"

var crcTable = crc64.MakeTable(crc64.ECMA)

// Collection types of a prelude collection document.
const (
	// TypeCollection is a plain collection, as mongodump 100.x writes it
	// (golden.archive); older versions wrote "", which readers must also
	// take for a collection.
	TypeCollection = "collection"
	// TypeView is a view: no documents, its definition in the metadata's
	// options (viewOn, pipeline).
	TypeView = "view"
	// TypeTimeseries is a time series collection.
	TypeTimeseries = "timeseries"
)

// Header is the archive's first document.
type Header struct {
	// ConcurrentCollections is how many collections the writer read at once.
	ConcurrentCollections int32
	// Version is the archive format version, [FormatVersion].
	Version string
	// ServerVersion is the version of the server the dump was read from.
	ServerVersion string
	// ToolVersion names the program and version that wrote the archive.
	ToolVersion string
}

// Collection describes one namespace in the prelude.
type Collection struct {
	// DB is the database name.
	DB string
	// Collection is the collection (or view) name.
	Collection string
	// Metadata is the collection's options and indexes as a string of
	// canonical Extended JSON v2; see [Metadata].
	Metadata string
	// Size is the collection's size as the writer reported it; mongodump
	// writes 0 and readers must not depend on it.
	Size int64
	// Type is TypeCollection (or "" from older writers), TypeView or
	// TypeTimeseries.
	Type string
}

// Namespace returns "db.collection".
func (c Collection) Namespace() string { return c.DB + "." + c.Collection }

// Metadata is the decoded form of Collection.Metadata.
type Metadata struct {
	// Options are the collection's creation options (capped, size, max,
	// validator, collation, viewOn, pipeline, ...), as listCollections
	// reports them; nil or empty when there are none.
	Options bson.Raw
	// Indexes are the index specifications as listIndexes reports them.
	Indexes []bson.Raw
	// UUID is the collection's UUID in hex, when known.
	UUID string
	// CollectionName is the collection's name.
	CollectionName string
	// Type is the listCollections type ("collection", "view",
	// "timeseries"), when known.
	Type string
}

// Marshal returns m as mongodump writes it: canonical Extended JSON v2 with
// the fields options (if not empty), indexes (always an array), uuid (if
// known), collectionName and type (if not empty), in that order.
func (m Metadata) Marshal() (string, error) {
	var d bson.D
	if len(m.Options) > 5 {
		d = append(d, bson.E{Key: "options", Value: m.Options})
	}
	idx := bson.A{}
	for _, ix := range m.Indexes {
		idx = append(idx, ix)
	}
	d = append(d, bson.E{Key: "indexes", Value: idx})
	if m.UUID != "" {
		d = append(d, bson.E{Key: "uuid", Value: m.UUID})
	}
	d = append(d, bson.E{Key: "collectionName", Value: m.CollectionName})
	if m.Type != "" {
		d = append(d, bson.E{Key: "type", Value: m.Type})
	}
	b, err := bson.MarshalExtJSON(d, true, false)
	if err != nil {
		return "", fmt.Errorf("archive: metadata of %q: %w", m.CollectionName, err)
	}
	return string(b), nil
}

// ParseMetadata decodes a Collection.Metadata string.
func ParseMetadata(s string) (Metadata, error) {
	var m Metadata
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	var raw bson.Raw
	if err := bson.UnmarshalExtJSON([]byte(s), false, &raw); err != nil {
		return m, fmt.Errorf("archive: metadata is not Extended JSON: %w", err)
	}
	elems, err := raw.Elements()
	if err != nil {
		return m, fmt.Errorf("archive: metadata: %w", err)
	}
	for _, e := range elems {
		v := e.Value()
		switch e.Key() {
		case "options":
			d, ok := v.DocumentOK()
			if !ok {
				return m, errors.New("archive: metadata options is not a document")
			}
			m.Options = d
		case "indexes":
			a, ok := v.ArrayOK()
			if !ok {
				return m, errors.New("archive: metadata indexes is not an array")
			}
			vals, err := a.Values()
			if err != nil {
				return m, fmt.Errorf("archive: metadata indexes: %w", err)
			}
			for _, iv := range vals {
				d, ok := iv.DocumentOK()
				if !ok {
					return m, errors.New("archive: metadata index is not a document")
				}
				m.Indexes = append(m.Indexes, d)
			}
		case "uuid":
			m.UUID, _ = v.StringValueOK()
		case "collectionName":
			m.CollectionName, _ = v.StringValueOK()
		case "type":
			m.Type, _ = v.StringValueOK()
		}
	}
	return m, nil
}

// bsonDoc builds a BSON document from already encoded elements.
type bsonDoc []byte

func newDoc() bsonDoc { return bsonDoc{0, 0, 0, 0} }

func (d bsonDoc) str(k, v string) bsonDoc {
	d = append(d, 0x02)
	d = append(append(d, k...), 0)
	d = binary.LittleEndian.AppendUint32(d, uint32(len(v)+1))
	return append(append(d, v...), 0)
}

func (d bsonDoc) i32(k string, v int32) bsonDoc {
	d = append(d, 0x10)
	d = append(append(d, k...), 0)
	return binary.LittleEndian.AppendUint32(d, uint32(v))
}

func (d bsonDoc) i64(k string, v int64) bsonDoc {
	d = append(d, 0x12)
	d = append(append(d, k...), 0)
	return binary.LittleEndian.AppendUint64(d, uint64(v))
}

func (d bsonDoc) boolean(k string, v bool) bsonDoc {
	d = append(d, 0x08)
	d = append(append(d, k...), 0)
	if v {
		return append(d, 1)
	}
	return append(d, 0)
}

func (d bsonDoc) done() []byte {
	d = append(d, 0)
	binary.LittleEndian.PutUint32(d, uint32(len(d)))
	return d
}

func headerDoc(h Header) []byte {
	return newDoc().i32("concurrent_collections", h.ConcurrentCollections).
		str("version", h.Version).str("server_version", h.ServerVersion).
		str("tool_version", h.ToolVersion).done()
}

func collectionDoc(c Collection) []byte {
	d := newDoc().str("db", c.DB).str("collection", c.Collection).str("metadata", c.Metadata)
	if c.Size >= -1<<31 && c.Size < 1<<31 {
		d = d.i32("size", int32(c.Size))
	} else {
		d = d.i64("size", c.Size)
	}
	return d.str("type", c.Type).done()
}

func nsHeaderDoc(db, coll string, eof bool, crc uint64) []byte {
	return newDoc().str("db", db).str("collection", coll).boolean("EOF", eof).i64("CRC", int64(crc)).done()
}
