package setsum

import (
	"crypto/sha256"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSetIsOrderIndependent(t *testing.T) {
	a, b, c := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b")), sha256.Sum256([]byte("c"))
	var x, y, z, dup Set
	x.Add(a)
	x.Add(b)
	x.Add(c)
	y.Add(c)
	y.Add(a)
	y.Add(b)
	z.Add(a)
	z.Add(b)
	dup.Add(a)
	dup.Add(b)
	dup.Add(b)
	assert.Equal(t, x.Hex(), y.Hex())
	assert.NotEqual(t, x.Hex(), z.Hex(), "a missing member")
	assert.NotEqual(t, x.Hex(), dup.Hex(), "a repeated member instead of another")
	assert.Equal(t, int64(3), x.Len())
	var empty Set
	assert.Len(t, empty.Hex(), 64)
}

func TestScratchName(t *testing.T) {
	re := regexp.MustCompile(`^pre-[A-Za-z0-9_]{0,5}_[0-9a-f]{16}$`)
	for _, hint := range []string{"", "01J/../..x", "a b-c_d.e.f.g.h", "日本語abc"} {
		n := ScratchName("pre-", hint, 5, "_")
		assert.Regexp(t, re, n, "hint %q", hint)
	}
	assert.Equal(t, "pre-01Jx_", ScratchName("pre-", "01J/../..x", 5, "_")[:9])
	assert.NotEqual(t, ScratchName("p", "h", 5, "-"), ScratchName("p", "h", 5, "-"))
}
