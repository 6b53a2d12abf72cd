package mysql_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/source"
)

// colType is a column type and a generator of values for it (Go values
// passed as query arguments).
type colType struct {
	sql string
	gen *rapid.Generator[any]
}

func anyOf[T any](g *rapid.Generator[T]) *rapid.Generator[any] {
	return rapid.Map(g, func(v T) any { return v })
}

func dateGen(minYear, maxYear int) *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		return fmt.Sprintf("%04d-%02d-%02d", rapid.IntRange(minYear, maxYear).Draw(t, "y"), rapid.IntRange(1, 12).Draw(t, "m"), rapid.IntRange(1, 28).Draw(t, "d"))
	})
}

func clockGen(frac int) *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		s := fmt.Sprintf("%02d:%02d:%02d", rapid.IntRange(0, 23).Draw(t, "h"), rapid.IntRange(0, 59).Draw(t, "mi"), rapid.IntRange(0, 59).Draw(t, "s"))
		if frac > 0 {
			s += "." + fmt.Sprintf("%0*d", frac, rapid.IntRange(0, int(math.Pow10(frac))-1).Draw(t, "f"))
		}
		return s
	})
}

func colTypes() []colType {
	finite32 := rapid.Float32().Filter(func(f float32) bool { return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) })
	finite64 := rapid.Float64().Filter(func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) })
	utf8 := rapid.StringOf(rapid.OneOf(rapid.Rune(), rapid.RuneFrom([]rune{'\'', '"', '\\', '\n', 0, 0x1a, ';', '😀', '-', '#', '/', '*', '`'})))
	latin1 := rapid.StringOf(rapid.OneOf(rapid.RuneFrom(latin1Table), rapid.RuneFrom([]rune{'\'', '"', '\\', '\n', 0, 0x1a, ';'})))
	return []colType{
		{"TINYINT", anyOf(rapid.Int8())},
		{"TINYINT UNSIGNED", anyOf(rapid.Uint8())},
		{"SMALLINT", anyOf(rapid.Int16())},
		{"MEDIUMINT UNSIGNED", anyOf(rapid.IntRange(0, 1<<24-1))},
		{"INT", anyOf(rapid.Int32())},
		{"BIGINT", anyOf(rapid.Int64())},
		{"BIGINT UNSIGNED", anyOf(rapid.Uint64())},
		{"DECIMAL(30,6)", anyOf(rapid.Custom(func(t *rapid.T) string {
			return fmt.Sprintf("%d.%06d", rapid.Int64().Draw(t, "i"), rapid.IntRange(0, 999999).Draw(t, "f"))
		}))},
		{"FLOAT", anyOf(finite32)},
		{"DOUBLE", anyOf(finite64)},
		{"BIT(13)", anyOf(rapid.IntRange(0, 1<<13-1))},
		{"BIT(64)", anyOf(rapid.Uint64())},
		{"CHAR(20)", anyOf(rapid.StringOfN(rapid.Rune(), 0, 20, -1))},
		{"VARCHAR(40)", anyOf(rapid.Map(utf8, func(s string) string { return truncRunes(s, 40) }))},
		{"TEXT", anyOf(utf8)},
		{"VARCHAR(40) CHARACTER SET latin1", anyOf(rapid.Map(latin1, func(s string) string { return truncRunes(s, 40) }))},
		{"BINARY(8)", anyOf(rapid.SliceOfN(rapid.Byte(), 8, 8))},
		{"VARBINARY(40)", anyOf(rapid.SliceOfN(rapid.Byte(), 0, 40))},
		{"BLOB", anyOf(rapid.SliceOf(rapid.Byte()))},
		{"DATE", anyOf(dateGen(1000, 9999))},
		{"TIME(3)", anyOf(rapid.Custom(func(t *rapid.T) string {
			sign := rapid.SampledFrom([]string{"", "-"}).Draw(t, "sign")
			return fmt.Sprintf("%s%d:%02d:%02d.%03d", sign, rapid.IntRange(0, 838).Draw(t, "h"), rapid.IntRange(0, 59).Draw(t, "m"), rapid.IntRange(0, 59).Draw(t, "s"), rapid.IntRange(0, 999).Draw(t, "f"))
		}))},
		{"DATETIME(6)", anyOf(rapid.Custom(func(t *rapid.T) string {
			return dateGen(1000, 9999).Draw(t, "d") + " " + clockGen(6).Draw(t, "c")
		}))},
		{"TIMESTAMP(6) NULL DEFAULT NULL", anyOf(rapid.Custom(func(t *rapid.T) string {
			return dateGen(1971, 2037).Draw(t, "d") + " " + clockGen(6).Draw(t, "c")
		}))},
		{"YEAR", anyOf(rapid.OneOf(rapid.IntRange(1901, 2155), rapid.Just(0)))},
		{"ENUM('a','b c','ü')", anyOf(rapid.SampledFrom([]string{"a", "b c", "ü"}))},
		{"SET('x','y','z')", anyOf(rapid.SampledFrom([]string{"", "x", "y,z", "x,y,z"}))},
		{"JSON", anyOf(rapid.Custom(func(t *rapid.T) string {
			v := map[string]any{"s": utf8.Draw(t, "s"), "n": rapid.Int32().Draw(t, "n"), "l": []any{true, nil, 1.5}}
			b, _ := json.Marshal(v)
			return string(b)
		}))},
		{"POINT", nil}, // filled in with SQL below
	}
}

var latin1Table = func() []rune {
	var rs []rune
	for r := rune(0x20); r <= 0x7e; r++ {
		rs = append(rs, r)
	}
	for r := rune(0xa0); r <= 0xff; r++ {
		rs = append(rs, r)
	}
	return rs
}()

func truncRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		r = r[:n]
	}
	return string(r)
}

// TestRapidRoundTrip generates random tables and rows over every column type,
// dumps them, restores under another name and compares CHECKSUM TABLE and
// the row sets.
func TestRapidRoundTrip(t *testing.T) {
	s := newServer(t)
	types := colTypes()
	rapid.Check(t, func(rt *rapid.T) {
		db := testenv.UniqueName(t)
		defer s.admin.Exec("DROP DATABASE IF EXISTS " + db)
		target := db + "r"
		defer s.admin.Exec("DROP DATABASE IF EXISTS " + target)
		_, err := s.admin.Exec("CREATE DATABASE " + db + " CHARACTER SET utf8mb4")
		require.NoError(rt, err)

		picked := rapid.SliceOfNDistinct(rapid.IntRange(0, len(types)-1), 1, 6, rapid.ID[int]).Draw(rt, "cols")
		var defs, names []string
		for i, k := range picked {
			names = append(names, fmt.Sprintf("c%d", i))
			defs = append(defs, fmt.Sprintf("c%d %s", i, types[k].sql))
		}
		if rapid.Bool().Draw(rt, "generated") {
			defs = append(defs, "g INT AS (id * 3) VIRTUAL")
		}
		_, err = s.admin.Exec(fmt.Sprintf("CREATE TABLE %s.t (id INT PRIMARY KEY, %s) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4", db, strings.Join(defs, ", ")))
		require.NoError(rt, err)
		nrows := rapid.IntRange(0, 12).Draw(rt, "rows")
		for r := range nrows {
			args := []any{r}
			ph := []string{"?"}
			for i, k := range picked {
				if rapid.IntRange(0, 5).Draw(rt, "null") == 0 {
					args = append(args, nil)
					ph = append(ph, "?")
					continue
				}
				if types[k].gen == nil { // POINT
					ph = append(ph, fmt.Sprintf("POINT(%d, %d)", rapid.Int16().Draw(rt, "x"), rapid.Int16().Draw(rt, "y")))
					continue
				}
				args = append(args, types[k].gen.Draw(rt, names[i]))
				ph = append(ph, "?")
			}
			q := fmt.Sprintf("INSERT INTO %s.t (id, %s) VALUES (%s)", db, strings.Join(names, ", "), strings.Join(ph, ", "))
			_, err := s.admin.Exec(q, args...)
			require.NoError(rt, err, "%s %v", q, args)
		}
		o := s.opts(db)
		o.Parallel = rapid.IntRange(1, 3).Draw(rt, "parallel")
		o.RowsPerInsert = rapid.IntRange(1, 5).Draw(rt, "rowsPerInsert")
		src := s.open(t, o)
		var dump bytes.Buffer
		info, err := src.Snapshot(t.Context(), &dump)
		require.NoError(rt, err)
		require.NoError(rt, src.Restore(t.Context(), bytes.NewReader(dump.Bytes()), source.RestoreOptions{Target: target}))
		require.Equal(rt, s.checksums(t, db), s.checksums(t, target), "dump:\n%s", dump.String())
		// Inspect of the restore, under the source's names, equals the
		// snapshot's items (counts, sizes and row checksums).
		got, err := src.Inspect(t.Context(), target)
		require.NoError(rt, err)
		require.Equal(rt, info.Items, got.Items)
		require.Len(rt, info.Items, 1)
		require.Equal(rt, db+".t", info.Items[0].Name)
		require.Equal(rt, int64(nrows), info.Items[0].Count)
	})
}
