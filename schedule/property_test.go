package schedule

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

var propertyZones = []string{"UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe",
	"Asia/Kathmandu", "America/Santiago", "Pacific/Chatham", "Europe/London", "America/St_Johns", "Asia/Tehran"}

func genField(t *rapid.T, name string, lo, hi int, wildOK bool) string {
	switch rapid.IntRange(0, 4).Draw(t, name+"-kind") {
	case 0:
		if wildOK {
			return "*"
		}
		fallthrough
	case 1:
		return fmt.Sprint(rapid.IntRange(lo, hi).Draw(t, name))
	case 2:
		a := rapid.IntRange(lo, hi).Draw(t, name+"-a")
		b := rapid.IntRange(a, hi).Draw(t, name+"-b")
		return fmt.Sprintf("%d-%d", a, b)
	case 3:
		return fmt.Sprintf("%d,%d", rapid.IntRange(lo, hi).Draw(t, name+"-x"), rapid.IntRange(lo, hi).Draw(t, name+"-y"))
	default:
		return fmt.Sprintf("*/%d", rapid.IntRange(2, (hi-lo+1)/2+1).Draw(t, name+"-step"))
	}
}

// oracle fires, minute by minute over [from, to), by the rules of the
// package documentation, independently of Cron.Next: a wild hour fires
// whenever the wall clock matches; a fixed hour fires at the first
// occurrence of a matching wall time, and once at the end of a gap that
// swallowed matching wall times.
func oracle(c *Cron, from, to time.Time) []time.Time {
	matches := func(w time.Time) bool {
		return c.min&(1<<uint(w.Minute())) != 0 && c.hour&(1<<uint(w.Hour())) != 0 && c.dayMatches(w.Year(), w.Month(), w.Day())
	}
	wallKey := func(w time.Time) int64 {
		return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), 0, 0, time.UTC).Unix()
	}
	maxSeen := int64(-1 << 62) // wall time only goes back at a fall-back, to walls already seen
	var out []time.Time
	prev := from.Add(-48 * time.Hour)
	for u := prev; u.Before(to); u = u.Add(time.Minute) {
		w := u.In(c.loc)
		k := wallKey(w)
		fire := false
		if matches(w) {
			if c.hourWild || k > maxSeen {
				fire = true
			}
		}
		if !c.hourWild && u.After(prev) {
			// Wall minutes skipped between the previous minute and this one.
			pw := wallKey(u.Add(-time.Minute).In(c.loc))
			for s := pw + 60; s < k; s += 60 {
				if matches(time.Unix(s, 0).UTC()) {
					fire = true
				}
			}
		}
		maxSeen = max(maxSeen, k)
		if fire && !u.Before(from) {
			out = append(out, u)
		}
	}
	return out
}

// TestNextMatchesOracle: for random expressions and zones over a year, the
// slots Next produces equal those of a brute-force minute-by-minute oracle.
func TestNextMatchesOracle(t *testing.T) {
	if testing.Short() {
		t.Skip("a year minute by minute per expression")
	}
	rapid.Check(t, func(t *rapid.T) {
		expr := strings.Join([]string{
			genField(t, "minute", 0, 59, false),
			genField(t, "hour", 0, 23, true),
			genField(t, "dom", 1, 28, true),
			genField(t, "month", 1, 12, true),
			genField(t, "dow", 0, 6, true),
		}, " ")
		if rapid.IntRange(0, 5).Draw(t, "last") == 0 {
			f := strings.Fields(expr)
			f[2] = "L"
			expr = strings.Join(f, " ")
		}
		zone := rapid.SampledFrom(propertyZones).Draw(t, "zone")
		year := rapid.IntRange(2024, 2027).Draw(t, "year")
		c, err := ParseInZone(expr, zone)
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		from := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
		to := from.AddDate(1, 0, 0)
		want := oracle(c, from, to)
		got := slots(c, from, to)
		if len(got) != len(want) {
			t.Fatalf("%q in %s: %d slots, oracle %d\nfirst diff: %s", expr, zone, len(got), len(want), firstDiff(got, want))
		}
		for i := range got {
			if !got[i].Equal(want[i]) {
				t.Fatalf("%q in %s: slot %d = %s, oracle %s", expr, zone, i, got[i].UTC(), want[i].UTC())
			}
		}
	})
}

func firstDiff(a, b []time.Time) string {
	for i := range min(len(a), len(b)) {
		if !a[i].Equal(b[i]) {
			return fmt.Sprintf("index %d: got %s, oracle %s", i, a[i].UTC(), b[i].UTC())
		}
	}
	return "one is a prefix of the other"
}
