package id

import (
	"encoding/binary"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFormat(t *testing.T) {
	s := New()
	require.Len(t, s, Len)
	for _, c := range s {
		assert.Contains(t, alphabet, string(c))
	}
	ts, err := Time(s)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), ts, time.Hour) // a sanity check of units, not of speed
	lower, err := Time(strings.ToLower(s))
	require.NoError(t, err)
	assert.True(t, ts.Equal(lower))
}

func TestTimeRoundTrip(t *testing.T) {
	at := time.Date(2031, 7, 14, 2, 30, 15, 123_000_000, time.UTC)
	g := NewGenerator(func() time.Time { return at })
	got, err := Time(g.New())
	require.NoError(t, err)
	assert.True(t, at.Equal(got), "want %v, got %v", at, got)
}

func TestTimeInvalid(t *testing.T) {
	for _, s := range []string{"", "short", strings.Repeat("U", Len), strings.Repeat("Z", Len), New() + "0"} {
		_, err := Time(s)
		assert.Error(t, err, s)
	}
}

func TestEncodeOrderMatchesNumbers(t *testing.T) {
	var prev string
	for _, n := range []uint64{0, 1, 31, 32, 1 << 40, 1<<63 - 1, 1 << 63, 1<<64 - 1} {
		var b [16]byte
		binary.BigEndian.PutUint64(b[0:8], n)
		s := encode(b)
		assert.Greater(t, s, prev)
		prev = s
	}
	var max [16]byte
	for i := range max {
		max[i] = 0xff
	}
	assert.Equal(t, "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", encode(max))
}

// TestSameMillisecond is the property callers rely on: within one generator,
// IDs sort in the order they were made, also when the clock does not move or
// steps back.
func TestSameMillisecond(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := at
	g := NewGenerator(func() time.Time { return clock })
	var prev string
	seen := map[string]bool{}
	for i := range 10_000 {
		switch i {
		case 5000:
			clock = at.Add(-time.Hour) // clock steps back
		case 7000:
			clock = at.Add(time.Millisecond)
		}
		s := g.New()
		require.Greater(t, s, prev, "id %d", i)
		require.False(t, seen[s])
		seen[s] = true
		prev = s
	}
}

func TestCarryIntoNextMillisecond(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_000)
	g := NewGenerator(func() time.Time { return at })
	first := g.New()
	g.hi, g.lo = 0xffff, 1<<64-1 // the next increment overflows the 80 random bits
	next := g.New()
	assert.Greater(t, next, first)
	ts, err := Time(next)
	require.NoError(t, err)
	assert.True(t, at.Add(time.Millisecond).Equal(ts))
}

func TestUniqueConcurrent(t *testing.T) {
	const goroutines, each = 8, 2000
	out := make([][]string, goroutines)
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Go(func() {
			for range each {
				out[i] = append(out[i], New())
			}
		})
	}
	wg.Wait()
	seen := make(map[string]bool, goroutines*each)
	for _, ids := range out {
		for j, s := range ids {
			require.False(t, seen[s], "duplicate id %s", s)
			seen[s] = true
			if j > 0 {
				require.Greater(t, s, ids[j-1], "ids of one goroutine must increase")
			}
		}
	}
}

func TestDistinctGeneratorsDiffer(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_000)
	clock := func() time.Time { return at }
	a, b := NewGenerator(clock).New(), NewGenerator(clock).New()
	assert.NotEqual(t, a, b, "random bits must differ")
	assert.Equal(t, a[:10], b[:10], "same millisecond, same time prefix")
}
