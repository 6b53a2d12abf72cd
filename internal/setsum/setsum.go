// Package setsum computes the order-independent digests and the scratch
// target names that source adapters use for source.Inspector and
// source.Scratcher (source/mongodb, source/s3).
package setsum

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"strings"
)

// Set is an order-independent digest of a multiset of SHA-256 sums: they
// are added as four 64-bit lanes modulo 2^64 and counted, so the order in
// which members are added does not matter, but a missing, extra, repeated
// or changed member does. The zero value is an empty set. A Set is not safe
// for concurrent use.
type Set struct {
	lanes [4]uint64
	n     int64
}

// Add adds one member, the SHA-256 sum of its canonical bytes.
func (s *Set) Add(sum [sha256.Size]byte) {
	for i := range s.lanes {
		s.lanes[i] += binary.BigEndian.Uint64(sum[8*i:])
	}
	s.n++
}

// Len returns the number of members added.
func (s *Set) Len() int64 { return s.n }

// HashInto writes the set's state (lanes and count, 40 bytes) to h, so that
// a caller can hash it together with other facts.
func (s *Set) HashInto(h hash.Hash) {
	var b [8]byte
	for _, l := range s.lanes {
		binary.BigEndian.PutUint64(b[:], l)
		h.Write(b[:])
	}
	binary.BigEndian.PutUint64(b[:], uint64(s.n))
	h.Write(b[:])
}

// Hex returns the hex SHA-256 of the set's state.
func (s *Set) Hex() string {
	h := sha256.New()
	s.HashInto(h)
	return hex.EncodeToString(h.Sum(nil))
}

// ScratchName returns prefix, then the first max ASCII letters, digits and
// '_' of hint (other characters are dropped), then sep and 16 random hex
// digits: a new name for a scratch target. The regular expression
// `^<prefix>[A-Za-z0-9_]{0,max}<sep>[0-9a-f]{16}$` (prefix and sep quoted)
// matches every name it returns.
func ScratchName(prefix, hint string, max int, sep string) string {
	var b strings.Builder
	b.WriteString(prefix)
	n := 0
	for _, r := range hint {
		if n >= max {
			break
		}
		if r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			b.WriteRune(r)
			n++
		}
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	b.WriteString(sep)
	b.WriteString(hex.EncodeToString(id[:]))
	return b.String()
}
