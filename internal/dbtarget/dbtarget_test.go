package dbtarget_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/internal/dbtarget"
)

func noDots(s string) error {
	if s == "" || strings.Contains(s, ".") {
		return errors.New("bad name")
	}
	return nil
}

func TestParse(t *testing.T) {
	for s, want := range map[string]dbtarget.Spec{
		"":          {},
		"shop":      {Raw: "shop", Name: "shop"},
		"a=a2,b=b2": {Raw: "a=a2,b=b2", Renames: map[string]string{"a": "a2", "b": "b2"}},
		"b=a,a=b":   {Raw: "b=a,a=b", Renames: map[string]string{"a": "b", "b": "a"}},
		"*_copy":    {Raw: "*_copy", Pattern: "*_copy"},
	} {
		got, err := dbtarget.Parse(s, noDots, noDots)
		require.NoError(t, err, s)
		assert.Equal(t, want, got, s)
	}
	for s, msg := range map[string]string{
		"a=x,a=y": `"a" is mapped twice`,
		"a=x,b=x": "ambiguous",
		"*_*":     "exactly one '*'",
		"a=b.c":   `database "b.c": bad name`,
		"=b":      `database "": bad name`,
		"x.*":     `target pattern "x.*": bad name`,
		"x.y":     `target database "x.y": bad name`,
	} {
		_, err := dbtarget.Parse(s, noDots, noDots)
		assert.ErrorContains(t, err, msg, s)
	}
}

// FuzzParse: any string parses or fails without panicking, and what parses
// names only good databases.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "a", "a=b,c=d", "*_x", "a=", "=", "**", ",", "a=b,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := dbtarget.Parse(s, noDots, noDots)
		if err != nil {
			return
		}
		for from, to := range ts.Renames {
			assert.NoError(t, noDots(from))
			assert.NoError(t, noDots(to))
		}
		if ts.Name != "" {
			assert.NoError(t, noDots(ts.Name))
		}
	})
}
