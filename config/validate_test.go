package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheckSchedule(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{
		"* * * * *", "0 3 * * *", "*/15 9-17 * * 1-5", "0 0 1,15 * *", "30 2 * * MON",
		"0 */5 * * * *", "0 0 0 1 1 *", "0 0 L * *",
		"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually", "@Daily",
		"  0 3 * * *  ", "daily at 02:30", "weekly on monday at 03:00", "monthly on 1 at 04:00",
	} {
		assert.NoError(t, checkSchedule(expr), "%q should be valid", expr)
	}
	for _, expr := range []string{
		"", "61 * * * *", "* 24 * * *", "* * 32 * *", "* * * 13 *", "* * * * 8",
		"5,61 * * * *", "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60 * * * *",
		"* * *", "* * * *", "0 0 0 1 1 * 2030", "a b c d e", "*/0 * * * *", "1,,2 * * * *",
		"@every 5m", "@always", "@5minutes", "@", "@ daily", "0 0 30 2 *",
	} {
		assert.Error(t, checkSchedule(expr), "%q should be invalid", expr)
	}
}

func TestValidPrefix(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"", "a", "team/db", "a-b_c.d/e", "2026", "..a", "a..b"} {
		assert.True(t, validPrefix(p), "%q", p)
	}
	for _, p := range []string{"/", "/a", "a/", "a//b", ".", "..", "./a", "a/.", "a/./b", "a/../b", "../a", `a\b`, "a\nb", "a\x00"} {
		assert.False(t, validPrefix(p), "%q", p)
	}
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	keys := []string{"name", "source", "destinations", "schedule", "timezone", "compression", "prefix", "timeout"}
	assert.Equal(t, "destinations", suggest("destinatons", keys))
	assert.Equal(t, "destinations", suggest("destination", keys))
	assert.Equal(t, "timezone", suggest("timzone", keys))
	assert.Equal(t, "timeout", suggest("timeuot", keys))
	assert.Equal(t, "name", suggest("nmae", keys))
	assert.Equal(t, "", suggest("tz", keys))
	assert.Equal(t, "", suggest("retention", keys))
	assert.Equal(t, 3, editDistance("kitten", "sitting"))
	assert.Equal(t, 0, editDistance("", ""))
}
