package archive

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
)

// Writer writes an archive stream. The whole namespace list is given to
// NewWriter (the prelude comes first); then segments of any namespace may be
// written in any order, and Close ends every namespace with its EOF block.
// A Writer is not safe for concurrent use; multiplex into one goroutine.
type Writer struct {
	w      *bufio.Writer
	ns     map[nsKey]*nsState
	order  []nsKey
	err    error
	closed bool
}

type nsKey struct{ db, coll string }

type nsState struct {
	crc      uint64
	segments int
	ended    bool
}

// NewWriter writes the magic number and the prelude (h and one collection
// document per namespace, in the order given) to w and returns a Writer for
// the segments. Namespaces must be unique.
func NewWriter(w io.Writer, h Header, colls []Collection) (*Writer, error) {
	if h.Version == "" {
		h.Version = FormatVersion
	}
	aw := &Writer{w: bufio.NewWriterSize(w, 1<<16), ns: make(map[nsKey]*nsState, len(colls))}
	var magic [4]byte
	binary.LittleEndian.PutUint32(magic[:], Magic)
	aw.write(magic[:])
	aw.write(headerDoc(h))
	for _, c := range colls {
		k := nsKey{c.DB, c.Collection}
		if _, dup := aw.ns[k]; dup {
			return nil, fmt.Errorf("archive: namespace %s.%s listed twice", c.DB, c.Collection)
		}
		if c.DB == "" || c.Collection == "" {
			return nil, fmt.Errorf("archive: empty database or collection name in %q", c.Namespace())
		}
		aw.ns[k] = &nsState{}
		aw.order = append(aw.order, k)
		aw.write(collectionDoc(c))
	}
	aw.terminate()
	if aw.err != nil {
		return nil, aw.err
	}
	return aw, nil
}

func (aw *Writer) write(p []byte) {
	if aw.err == nil {
		_, aw.err = aw.w.Write(p)
	}
}

func (aw *Writer) terminate() {
	aw.write([]byte{0xff, 0xff, 0xff, 0xff})
}

// WriteSegment writes one segment of the namespace db.coll holding docs, each
// a complete BSON document of at most MaxDocSize bytes, and adds them to the
// namespace's CRC. A segment with no documents is legal. The namespace must
// have been given to NewWriter and not ended yet.
func (aw *Writer) WriteSegment(db, coll string, docs ...[]byte) error {
	if aw.err != nil {
		return aw.err
	}
	st, err := aw.state(db, coll)
	if err != nil {
		return err
	}
	for i, d := range docs {
		if err := checkDoc(d); err != nil {
			return fmt.Errorf("archive: %s.%s document %d: %w", db, coll, i, err)
		}
	}
	aw.write(nsHeaderDoc(db, coll, false, 0))
	for _, d := range docs {
		aw.write(d)
		st.crc = crc64.Update(st.crc, crcTable, d)
	}
	aw.terminate()
	st.segments++
	return aw.err
}

func checkDoc(d []byte) error {
	if len(d) < 5 || len(d) > MaxDocSize {
		return fmt.Errorf("document of %d bytes (must be 5 to %d)", len(d), MaxDocSize)
	}
	if n := binary.LittleEndian.Uint32(d); int(n) != len(d) {
		return fmt.Errorf("document length field %d does not match its %d bytes", n, len(d))
	}
	if d[len(d)-1] != 0 {
		return errors.New("document does not end with 0x00")
	}
	return nil
}

func (aw *Writer) state(db, coll string) (*nsState, error) {
	if aw.closed {
		return nil, errors.New("archive: writer is closed")
	}
	st := aw.ns[nsKey{db, coll}]
	if st == nil {
		return nil, fmt.Errorf("archive: namespace %s.%s is not in the prelude", db, coll)
	}
	if st.ended {
		return nil, fmt.Errorf("archive: namespace %s.%s already ended", db, coll)
	}
	return st, nil
}

// EndNamespace writes the EOF block of db.coll, after a zero-document segment
// if no segment was written for it (as mongodump does for empty collections
// and views, which mongorestore needs to create them).
func (aw *Writer) EndNamespace(db, coll string) error {
	if aw.err != nil {
		return aw.err
	}
	st, err := aw.state(db, coll)
	if err != nil {
		return err
	}
	if st.segments == 0 {
		if err := aw.WriteSegment(db, coll); err != nil {
			return err
		}
	}
	aw.write(nsHeaderDoc(db, coll, true, st.crc))
	aw.terminate()
	st.ended = true
	return aw.err
}

// Close ends every namespace not ended yet, in prelude order, and flushes the
// stream. It does not close the underlying writer.
func (aw *Writer) Close() error {
	if aw.closed {
		return aw.err
	}
	for _, k := range aw.order {
		if !aw.ns[k].ended {
			if err := aw.EndNamespace(k.db, k.coll); err != nil {
				return err
			}
		}
	}
	aw.closed = true
	if aw.err == nil {
		aw.err = aw.w.Flush()
	}
	return aw.err
}
