package units_test

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/backupkit/backupkit/internal/units"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "5000MB": 5e9, "5GiB": 5 << 30, "1.5 KiB": 1536, "12b": 12, "8mib": 8 << 20} {
		got, err := units.ParseSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "5000", "MB", "5 parsecs", "1e999GB", "-1MB"} {
		_, err := units.ParseSize(in)
		assert.Error(t, err, in)
	}
}

func TestParsePositive(t *testing.T) {
	for in, want := range map[string]int64{"8388608": 8 << 20, "8MiB": 8 << 20, " 16KiB ": 16 << 10} {
		got, err := units.ParsePositive(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"0", "-5", "abc", "0MiB"} {
		_, err := units.ParsePositive(in)
		assert.ErrorContains(t, err, "invalid size", in)
	}
}

func FuzzParseSize(f *testing.F) {
	f.Add("5GiB")
	f.Add("1.5 kB")
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := units.ParseSize(s); err == nil && n < 0 {
			t.Fatalf("%q parsed to %d", s, n)
		}
	})
}

func TestFormatBinary(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 10 << 20: "10.0 MiB",
		5 << 30: "5.0 GiB", 1 << 62: "4.0 EiB", math.MaxInt64: "8.0 EiB", -5: "-5 B",
	} {
		assert.Equal(t, want, units.FormatBinary(n), "%d", n)
	}
}

// Every size ParseSize reads back from FormatBinary is within the rounding
// of one decimal.
func TestFormatBinaryRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.Int64Range(1024, 1<<50-1).Draw(t, "n") // ParseSize stops at TiB
		back, err := units.ParseSize(strings.ReplaceAll(units.FormatBinary(n), " ", ""))
		require.NoError(t, err)
		assert.InEpsilon(t, float64(n), float64(back), 0.05)
	})
}
