// Package id generates the identifiers backupkit gives runs, backups and audit
// entries: 26-character, case-insensitive, URL-safe strings that sort (as plain
// strings) by the time they were made.
//
// The layout is that of a ULID: a 48-bit count of milliseconds since the Unix
// epoch followed by 80 random bits from crypto/rand, in Crockford's base 32
// (digits and upper-case letters without I, L, O and U). Within one Generator
// IDs are strictly increasing: an ID made in the same millisecond as the
// previous one (or while the clock stands still or steps back) is the previous
// one plus one, so creation order is kept even inside a millisecond. Across
// processes, IDs sort by their millisecond and are unique with overwhelming
// probability.
package id

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"time"
)

// Len is the length of every ID.
const Len = 26

// alphabet is Crockford's base 32, in ascending ASCII order so that IDs sort
// as strings in the order of the numbers they encode.
const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// maxMillis is the largest timestamp 48 bits can hold (year 10889).
const maxMillis = 1<<48 - 1

// Generator makes strictly increasing IDs. The zero value is not usable; use
// NewGenerator. It is safe for concurrent use.
type Generator struct {
	now func() time.Time

	mu     sync.Mutex
	lastMS uint64 // timestamp of the previous ID
	hi     uint16 // top 16 of its 80 random bits
	lo     uint64 // bottom 64 of its 80 random bits
}

// NewGenerator returns a Generator reading the time from now (time.Now when
// nil); tests pass a fixed or stepping clock.
func NewGenerator(now func() time.Time) *Generator {
	if now == nil {
		now = time.Now
	}
	return &Generator{now: now}
}

var std = NewGenerator(time.Now)

// New returns a new ID from the process-wide Generator.
func New() string { return std.New() }

// New returns an ID greater than every ID g returned before.
func (g *Generator) New() string {
	ms := millis(g.now())
	g.mu.Lock()
	defer g.mu.Unlock()
	if ms <= g.lastMS {
		// Same millisecond, or the clock went back: count on from the
		// previous ID so that the order of creation is kept.
		ms = g.lastMS
		g.lo++
		if g.lo == 0 {
			g.hi++
			if g.hi == 0 {
				// 2^80 IDs in one millisecond: borrow the next one.
				ms++
				g.fill()
			}
		}
	} else {
		g.fill()
	}
	g.lastMS = ms
	var b [16]byte
	binary.BigEndian.PutUint64(b[0:8], ms<<16|uint64(g.hi))
	binary.BigEndian.PutUint64(b[8:16], g.lo)
	return encode(b)
}

// fill draws fresh random bits.
func (g *Generator) fill() {
	var r [10]byte
	_, _ = rand.Read(r[:]) // never fails (crypto/rand crashes the program instead)
	g.hi = binary.BigEndian.Uint16(r[0:2])
	g.lo = binary.BigEndian.Uint64(r[2:10])
}

func millis(t time.Time) uint64 {
	ms := t.UnixMilli()
	switch {
	case ms < 0:
		return 0
	case ms > maxMillis:
		return maxMillis
	}
	return uint64(ms)
}

// encode writes the 128 bits of b, most significant first, as 26 base-32
// digits (the first digit holds only 3 bits).
func encode(b [16]byte) string {
	hi := binary.BigEndian.Uint64(b[0:8])
	lo := binary.BigEndian.Uint64(b[8:16])
	var out [Len]byte
	for i := Len - 1; i >= 0; i-- {
		out[i] = alphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// decodeDigit returns the value of one base-32 digit, accepting lower case
// and Crockford's aliases (I and L for 1, O for 0).
func decodeDigit(c byte) (uint64, bool) {
	if 'a' <= c && c <= 'z' {
		c -= 'a' - 'A'
	}
	switch c {
	case 'I', 'L':
		return 1, true
	case 'O':
		return 0, true
	}
	for i := range len(alphabet) {
		if alphabet[i] == c {
			return uint64(i), true
		}
	}
	return 0, false
}

// Time returns the millisecond at which id was made (UTC), or an error when
// id is not an ID.
func Time(id string) (time.Time, error) {
	if len(id) != Len {
		return time.Time{}, fmt.Errorf("id %q: want %d characters, got %d", id, Len, len(id))
	}
	var ms uint64
	for i := range 10 { // 10 digits = 50 bits: 2 zero bits, then 48 of time
		v, ok := decodeDigit(id[i])
		if !ok {
			return time.Time{}, fmt.Errorf("id %q: invalid character %q", id, id[i])
		}
		ms = ms<<5 | v
	}
	if ms > maxMillis {
		return time.Time{}, fmt.Errorf("id %q: timestamp out of range", id)
	}
	for i := 10; i < Len; i++ {
		if _, ok := decodeDigit(id[i]); !ok {
			return time.Time{}, fmt.Errorf("id %q: invalid character %q", id, id[i])
		}
	}
	return time.UnixMilli(int64(ms)).UTC(), nil
}
