package units_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
