package schedule_test

import (
	"strings"
	"testing"
	"time"

	"github.com/backupkit/backupkit/schedule"
)

// fuzzZones are the zones FuzzParseCron reads expressions in, picked by the
// input: UTC and zones with DST gaps, half-hour offsets and a southern
// hemisphere summer.
var fuzzZones = []string{"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/Sao_Paulo"}

// FuzzParseCron feeds Parse arbitrary expressions. Invariants: no panic and
// no hang; an expression that parses keeps its text (String is the trimmed
// input); Next is strictly after its argument, on a whole second, and
// matches NextN's first value; NextN is strictly increasing.
func FuzzParseCron(f *testing.F) {
	for _, s := range []string{
		"* * * * *", "*/5 * * * *", "0 0 * * *", "30 2 * * *", "0 0 1 1 *", "0 0 29 2 *", "0 0 30 2 *",
		"0 0 L * *", "0 0 L 2 *", "59 23 31 12 *", "0 9 * * MON-FRI", "0 0 * * 7", "*/7 */5 * * *",
		"* * * * * *", "*/10 * * * * *", "0 30 2 * * *", "@daily", "@hourly", "@yearly", "@weekly",
		"daily", "hourly", "daily at 02:30", "weekly on sun at 03:00", "monthly on last at 23:59",
		"monthly on 31 at 00:00", "61 * * * *", "* 24 * * *", "1-5/0 * * * *", "5-1 * * * *",
		"0 0 31 4 *", "JAN", "", "     ", "@reboot", "* * * * * * *", "1,2,3,,4 * * * *", "0 0 ? * ?",
	} {
		f.Add(s, uint8(0), int64(0))
	}
	f.Add("30 2 * * *", uint8(1), int64(1774746000)) // Berlin, the day DST starts
	f.Add("30 1 * * *", uint8(2), int64(1793512800)) // New York, the day DST ends
	f.Fuzz(func(t *testing.T, expr string, zone uint8, at int64) {
		loc, err := time.LoadLocation(fuzzZones[int(zone)%len(fuzzZones)])
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		timer := time.AfterFunc(10*time.Second, func() {
			select {
			case <-done:
			default:
				panic("cron: Parse/Next took more than 10 s on " + expr)
			}
		})
		defer func() { close(done); timer.Stop() }()

		c, err := schedule.Parse(expr, loc)
		if err != nil {
			if c != nil {
				t.Fatalf("Parse(%q) returned both a schedule and an error: %v", expr, err)
			}
			return
		}
		if c.String() != strings.TrimSpace(expr) {
			t.Fatalf("String() = %q, want %q", c.String(), strings.TrimSpace(expr))
		}
		// Any instant between 1970 and 2100.
		from := time.Unix(at%(130*365*86400), 0).In(loc)
		if at < 0 {
			from = time.Unix(-at%(130*365*86400), 0).In(loc)
		}
		next := c.Next(from)
		if next.IsZero() {
			t.Fatalf("Next(%s) of %q (which parsed, so it fires) is zero", from, expr)
		}
		if !next.After(from) {
			t.Fatalf("Next(%s) of %q = %s, not after", from, expr, next)
		}
		if next.Nanosecond() != 0 {
			t.Fatalf("Next(%s) of %q = %s, not on a whole second", from, expr, next)
		}
		ns := c.NextN(from, 5)
		if len(ns) == 0 || !ns[0].Equal(next) {
			t.Fatalf("NextN(%s, 5)[0] of %q = %v, want %s", from, expr, ns, next)
		}
		for i := 1; i < len(ns); i++ {
			if !ns[i].After(ns[i-1]) {
				t.Fatalf("NextN of %q not increasing: %v", expr, ns)
			}
		}
	})
}
