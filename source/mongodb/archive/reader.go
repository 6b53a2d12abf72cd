package archive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ErrCorrupt is wrapped by every error Reader returns for input that is not
// a valid archive (as opposed to an error of the underlying reader).
var ErrCorrupt = errors.New("corrupt mongodump archive")

// Item is one thing Reader.Next returns: a document of a namespace, or the
// end of a namespace (EOF set, Doc nil) once its CRC has been checked.
type Item struct {
	// DB and Collection name the namespace.
	DB, Collection string
	// Doc is the raw document. It is a fresh slice the caller may keep.
	Doc bson.Raw
	// EOF reports the namespace's EOF block; its CRC matched.
	EOF bool
	// Segment numbers the namespace's segment the document came from,
	// from 1, so that a copy can keep the original segment boundaries.
	Segment int
}

// Reader reads an archive stream: NewReader reads the prelude, Next returns
// the documents and namespace ends one at a time, and io.EOF once the stream
// ended cleanly with every namespace of the prelude ended. Memory use is
// bounded by the largest document (MaxDocSize) and the prelude.
type Reader struct {
	r       *bufio.Reader
	off     int64
	header  Header
	colls   []Collection
	ns      map[nsKey]*nsState
	cur     *nsState // namespace of the open segment, nil between blocks
	curKey  nsKey
	pending bool // an EOF block's terminator must follow
	err     error
}

// NewReader reads the magic number and the prelude from r. A gzipped stream
// (mongodump --archive --gzip) is recognized by its first bytes and
// decompressed.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	if head, err := br.Peek(2); err == nil && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("archive: gzip: %w", err)
		}
		zr.Multistream(false)
		br = bufio.NewReaderSize(zr, 1<<16)
	}
	ar := &Reader{r: br, ns: map[nsKey]*nsState{}}
	var magic [4]byte
	if _, err := io.ReadFull(br, magic[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, ar.corrupt("stream ends before the magic number")
		}
		return nil, fmt.Errorf("archive: %w", err)
	}
	ar.off = 4
	if m := binary.LittleEndian.Uint32(magic[:]); m != Magic {
		return nil, ar.corruptAt(0, "bad magic number %#08x (want %#08x): not a mongodump archive", m, Magic)
	}
	doc, err := ar.item(false)
	if err != nil {
		return nil, err
	}
	if doc == nil {
		return nil, ar.corrupt("terminator where the header document is expected")
	}
	if ar.header, err = parseHeader(doc); err != nil {
		return nil, ar.corrupt("header: %v", err)
	}
	for {
		doc, err := ar.item(false)
		if err != nil {
			return nil, err
		}
		if doc == nil {
			break
		}
		c, err := parseCollection(doc)
		if err != nil {
			return nil, ar.corrupt("prelude collection document: %v", err)
		}
		k := nsKey{c.DB, c.Collection}
		if _, dup := ar.ns[k]; dup {
			return nil, ar.corrupt("namespace %s listed twice in the prelude", c.Namespace())
		}
		ar.ns[k] = &nsState{}
		ar.colls = append(ar.colls, c)
	}
	return ar, nil
}

// Header returns the archive's header document.
func (ar *Reader) Header() Header { return ar.header }

// Collections returns the namespaces of the prelude, in archive order.
func (ar *Reader) Collections() []Collection { return slices.Clone(ar.colls) }

// Offset returns the number of (decompressed) bytes read so far.
func (ar *Reader) Offset() int64 { return ar.off }

func (ar *Reader) corrupt(format string, args ...any) error {
	return ar.corruptAt(ar.off, format, args...)
}

func (ar *Reader) corruptAt(off int64, format string, args ...any) error {
	return fmt.Errorf("archive: %w at byte %d: %s", ErrCorrupt, off, fmt.Sprintf(format, args...))
}

// item reads a document or a terminator (nil, nil). atBoundary says whether
// a clean end of input is allowed here; then it returns io.EOF.
func (ar *Reader) item(atBoundary bool) ([]byte, error) {
	start := ar.off
	var lb [4]byte
	n, err := io.ReadFull(ar.r, lb[:])
	ar.off += int64(n)
	if err != nil {
		if err == io.EOF && atBoundary {
			return nil, io.EOF
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, ar.corruptAt(start, "stream truncated (%d of 4 bytes of a length)", n)
		}
		return nil, fmt.Errorf("archive: %w", err)
	}
	l := binary.LittleEndian.Uint32(lb[:])
	if l == terminator {
		return nil, nil
	}
	if l < 5 || l > MaxDocSize {
		return nil, ar.corruptAt(start, "bad document length %d (must be 5 to %d)", int32(l), MaxDocSize)
	}
	var buf []byte
	if l <= 1<<20 {
		buf = make([]byte, l)
		copy(buf, lb[:])
		n, err = io.ReadFull(ar.r, buf[4:])
		ar.off += int64(n)
	} else {
		// Grow with the input, so that a lying length in a short stream
		// costs no more memory than the stream itself.
		var bb bytes.Buffer
		bb.Write(lb[:])
		var m int64
		m, err = bb.ReadFrom(io.LimitReader(ar.r, int64(l)-4))
		ar.off += m
		n = int(m)
		if err == nil && m < int64(l)-4 {
			err = io.ErrUnexpectedEOF
		}
		buf = bb.Bytes()
	}
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, ar.corruptAt(start, "stream truncated inside a document of %d bytes (%d read)", l, n+4)
		}
		return nil, fmt.Errorf("archive: %w", err)
	}
	if buf[l-1] != 0 {
		return nil, ar.corruptAt(start, "document of %d bytes does not end with 0x00", l)
	}
	if err := bson.Raw(buf).Validate(); err != nil {
		return nil, ar.corruptAt(start, "invalid BSON document: %v", err)
	}
	return buf, nil
}

// Next returns the next document or namespace end. At the clean end of the
// stream it returns io.EOF, after checking that every namespace of the
// prelude has ended. Errors are sticky.
func (ar *Reader) Next() (Item, error) {
	if ar.err != nil {
		return Item{}, ar.err
	}
	it, err := ar.next()
	if err != nil {
		ar.err = err
	}
	return it, err
}

func (ar *Reader) next() (Item, error) {
	for {
		if ar.cur != nil {
			doc, err := ar.item(false)
			if err != nil {
				return Item{}, err
			}
			if doc == nil { // end of the segment
				ar.cur = nil
				continue
			}
			ar.cur.crc = crc64.Update(ar.cur.crc, crcTable, doc)
			return Item{DB: ar.curKey.db, Collection: ar.curKey.coll, Doc: doc, Segment: ar.cur.segments}, nil
		}
		start := ar.off
		doc, err := ar.item(true)
		if err == io.EOF {
			for _, c := range ar.colls {
				if !ar.ns[nsKey{c.DB, c.Collection}].ended {
					return Item{}, ar.corrupt("stream ends but namespace %s never ends (no EOF block)", c.Namespace())
				}
			}
			return Item{}, io.EOF
		}
		if err != nil {
			return Item{}, err
		}
		if doc == nil {
			return Item{}, ar.corruptAt(start, "terminator where a namespace header is expected (two terminators in a row)")
		}
		db, coll, eof, crc, err := parseNSHeader(doc)
		if err != nil {
			return Item{}, ar.corruptAt(start, "namespace header: %v", err)
		}
		k := nsKey{db, coll}
		st := ar.ns[k]
		if st == nil {
			return Item{}, ar.corruptAt(start, "namespace %s.%s is not in the prelude", db, coll)
		}
		if st.ended {
			return Item{}, ar.corruptAt(start, "namespace %s.%s continues after its EOF block", db, coll)
		}
		if !eof {
			ar.cur, ar.curKey = st, k
			st.segments++
			continue
		}
		if crc != st.crc {
			return Item{}, ar.corruptAt(start, "CRC mismatch for %s.%s: archive says %#016x, documents give %#016x", db, coll, crc, st.crc)
		}
		t, err := ar.item(false)
		if err != nil {
			return Item{}, err
		}
		if t != nil {
			return Item{}, ar.corrupt("document after the EOF block header of %s.%s", db, coll)
		}
		st.ended = true
		return Item{DB: db, Collection: coll, EOF: true}, nil
	}
}

func parseHeader(doc bson.Raw) (Header, error) {
	var h Header
	elems, err := doc.Elements()
	if err != nil {
		return h, err
	}
	for _, e := range elems {
		v := e.Value()
		switch e.Key() {
		case "concurrent_collections":
			i, ok := v.AsInt64OK()
			if !ok {
				return h, errors.New("concurrent_collections is not a number")
			}
			h.ConcurrentCollections = int32(i)
		case "version":
			h.Version, _ = v.StringValueOK()
		case "server_version":
			h.ServerVersion, _ = v.StringValueOK()
		case "tool_version":
			h.ToolVersion, _ = v.StringValueOK()
		}
	}
	if h.Version == "" {
		return h, errors.New("no version field: not a mongodump archive header")
	}
	return h, nil
}

func parseCollection(doc bson.Raw) (Collection, error) {
	var c Collection
	elems, err := doc.Elements()
	if err != nil {
		return c, err
	}
	for _, e := range elems {
		v := e.Value()
		var ok bool
		switch e.Key() {
		case "db":
			c.DB, ok = v.StringValueOK()
		case "collection":
			c.Collection, ok = v.StringValueOK()
		case "metadata":
			c.Metadata, ok = v.StringValueOK()
		case "size":
			c.Size, ok = v.AsInt64OK()
		case "type":
			c.Type, ok = v.StringValueOK()
		default:
			ok = true
		}
		if !ok {
			return c, fmt.Errorf("field %q has BSON type %v", e.Key(), v.Type)
		}
	}
	if c.DB == "" || c.Collection == "" {
		return c, errors.New("no db or collection name")
	}
	return c, nil
}

// parseNSHeader accepts exactly the fields db, collection, EOF and CRC, as
// mongorestore does.
func parseNSHeader(doc bson.Raw) (db, coll string, eof bool, crc uint64, err error) {
	elems, err := doc.Elements()
	if err != nil {
		return "", "", false, 0, err
	}
	var seen [4]bool
	for _, e := range elems {
		v := e.Value()
		var ok bool
		switch e.Key() {
		case "db":
			db, ok = v.StringValueOK()
			seen[0] = true
		case "collection":
			coll, ok = v.StringValueOK()
			seen[1] = true
		case "EOF":
			eof, ok = v.BooleanOK()
			seen[2] = true
		case "CRC":
			var i int64
			i, ok = v.AsInt64OK()
			crc = uint64(i)
			seen[3] = true
		default:
			return "", "", false, 0, fmt.Errorf("unknown field %q", e.Key())
		}
		if !ok {
			return "", "", false, 0, fmt.Errorf("field %q has BSON type %v", e.Key(), v.Type)
		}
	}
	if !seen[0] || !seen[1] || db == "" || coll == "" {
		return "", "", false, 0, errors.New("no db or collection name")
	}
	return db, coll, eof, crc, nil
}
