package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustParse(t testing.TB, expr, zone string) *Cron {
	t.Helper()
	c, err := ParseInZone(expr, zone)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// slots returns the slots in [from, to).
func slots(c *Cron, from, to time.Time) []time.Time {
	var out []time.Time
	for t := c.Next(from.Add(-time.Nanosecond)); !t.IsZero() && t.Before(to); t = c.Next(t) {
		out = append(out, t)
	}
	return out
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func utcs(ts []time.Time) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.UTC().Format(time.RFC3339)
	}
	return out
}

// TestCronCases covers SCHEDULING.md cases 1-8 and 14: the slots a schedule
// fires in a window, computed on an injected "now" (the window's start).
func TestCronCases(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	for _, tc := range []struct {
		name, expr, zone string
		from, to         time.Time
		want             []string // the exact UTC slots, or nil with count
		count            int
		check            func(t *testing.T, got []time.Time)
	}{
		{name: "1 spring forward fixed hour", expr: "30 2 * * *", zone: "America/New_York",
			from: utc("2026-03-07T00:00:00Z"), to: utc("2026-03-10T00:00:00Z"),
			want: []string{"2026-03-07T07:30:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}},
		{name: "2 fall back fixed hour", expr: "30 1 * * *", zone: "America/New_York",
			from: utc("2026-11-01T00:00:00Z"), to: utc("2026-11-02T00:00:00Z"),
			want: []string{"2026-11-01T05:30:00Z"}},
		{name: "3 fall back every 15 minutes", expr: "*/15 * * * *", zone: "America/New_York",
			from: time.Date(2026, 11, 1, 0, 0, 0, 0, ny), to: time.Date(2026, 11, 1, 3, 0, 0, 0, ny), count: 16,
			check: func(t *testing.T, got []time.Time) {
				for i := 1; i < len(got); i++ {
					if d := got[i].Sub(got[i-1]); d != 15*time.Minute {
						t.Errorf("slot %d is %s after the previous", i, d)
					}
				}
			}},
		{name: "4 spring forward every 15 minutes", expr: "*/15 * * * *", zone: "America/New_York",
			from: time.Date(2026, 3, 8, 0, 0, 0, 0, ny), to: time.Date(2026, 3, 8, 4, 0, 0, 0, ny), count: 12,
			check: func(t *testing.T, got []time.Time) {
				for _, s := range got {
					if h := s.In(ny).Hour(); h == 2 {
						t.Errorf("slot in the missing hour: %s", s)
					}
				}
				n3 := 0
				for _, s := range got {
					if s.In(ny).Hour() == 3 && s.In(ny).Minute() == 0 {
						n3++
					}
				}
				if n3 != 1 {
					t.Errorf("%d slots at 03:00, want 1 (no burst)", n3)
				}
			}},
		{name: "5 Saturdays across DST", expr: "0 2 * * 6", zone: "America/Chicago",
			from: utc("2026-01-01T00:00:00Z"), to: utc("2027-01-01T00:00:00Z"), count: 52,
			check: func(t *testing.T, got []time.Time) {
				chi := mustZone(t, "America/Chicago")
				for _, s := range got {
					l := s.In(chi)
					if l.Weekday() != time.Saturday || l.Hour() != 2 || l.Minute() != 0 {
						t.Errorf("slot %s is %s %s local", s, l.Weekday(), l.Format("15:04"))
					}
				}
			}},
		{name: "6 day 31", expr: "0 0 31 * *", zone: "UTC",
			from: utc("2026-01-01T00:00:00Z"), to: utc("2027-01-01T00:00:00Z"), count: 7},
		{name: "6 last day", expr: "0 0 L * *", zone: "UTC",
			from: utc("2026-01-01T00:00:00Z"), to: utc("2027-01-01T00:00:00Z"), count: 12,
			check: func(t *testing.T, got []time.Time) {
				for _, s := range got {
					if s.AddDate(0, 0, 1).Day() != 1 {
						t.Errorf("%s is not the last day of its month", s)
					}
				}
			}},
		{name: "7 Feb 29", expr: "0 0 29 2 *", zone: "UTC",
			from: utc("2026-03-01T00:00:00Z"), to: utc("2028-03-01T00:00:00Z"),
			want: []string{"2028-02-29T00:00:00Z"}},
		{name: "14 Vixie OR", expr: "0 0 13 * 5", zone: "UTC",
			from: utc("2026-02-01T00:00:00Z"), to: utc("2026-03-01T00:00:00Z"),
			// February 2026: Fridays 6, 13, 20, 27 and the 13th (a Friday).
			want: []string{"2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-20T00:00:00Z", "2026-02-27T00:00:00Z"}},
		{name: "14 Vixie OR, 13th not a Friday", expr: "0 0 13 * 5", zone: "UTC",
			from: utc("2026-03-01T00:00:00Z"), to: utc("2026-04-01T00:00:00Z"),
			want: []string{"2026-03-06T00:00:00Z", "2026-03-13T00:00:00Z", "2026-03-20T00:00:00Z", "2026-03-27T00:00:00Z"}},
		{name: "14 Vixie OR, April", expr: "0 0 13 * 5", zone: "UTC",
			from: utc("2026-04-01T00:00:00Z"), to: utc("2026-05-01T00:00:00Z"),
			want: []string{"2026-04-03T00:00:00Z", "2026-04-10T00:00:00Z", "2026-04-13T00:00:00Z", "2026-04-17T00:00:00Z", "2026-04-24T00:00:00Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, tc.expr, tc.zone)
			got := slots(c, tc.from, tc.to)
			if tc.want != nil {
				if g := strings.Join(utcs(got), " "); g != strings.Join(tc.want, " ") {
					t.Fatalf("slots:\n got %s\nwant %s", g, strings.Join(tc.want, " "))
				}
			} else if len(got) != tc.count {
				t.Fatalf("%d slots, want %d: %v", len(got), tc.count, utcs(got))
			}
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

// TestCase7Next: from 2026-03-01 the next Feb 29 is in 2028.
func TestCase7Next(t *testing.T) {
	c := mustParse(t, "0 0 29 2 *", "UTC")
	if got := c.Next(utc("2026-03-01T00:00:00Z")); !got.Equal(utc("2028-02-29T00:00:00Z")) {
		t.Fatalf("next = %s", got)
	}
}

// TestParseErrors covers cases 8 and 19: invalid input is rejected naming
// the field or the zone.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ expr, zone, want string }{
		{"0 0 30 2 *", "UTC", "schedule never fires"},
		{"0 0 31 4,6 *", "UTC", "schedule never fires"},
		{"61 * * * *", "UTC", "minute field"},
		{"* * *", "UTC", "want 5 fields"},
		{"* * * * *", "Mars/Base", `unknown time zone "Mars/Base"`},
		{"0 24 * * *", "UTC", "hour field"},
		{"0 0 32 * *", "UTC", "day-of-month field"},
		{"0 0 * 13 *", "UTC", "month field"},
		{"0 0 * * 8", "UTC", "day-of-week field"},
		{"0 0 * * MON-", "UTC", "day-of-week field"},
		{"*/0 * * * *", "UTC", "minute field"},
		{"60 * * * * *", "UTC", "second field"},
		{"0 0 L * L", "UTC", "day-of-week field"},
		{"@fortnightly", "UTC", "unknown macro"},
		{"daily at 25:00", "UTC", "HH:MM"},
		{"weekly on Funday at 10:00", "UTC", "unknown weekday"},
		{"", "UTC", "empty"},
	} {
		_, err := ParseInZone(tc.expr, tc.zone)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q in %s: err = %v, want it to mention %q", tc.expr, tc.zone, err, tc.want)
		}
	}
	_, err := ParseInZone("0 0 30 2 *", "UTC")
	if !errors.Is(err, ErrNeverFires) {
		t.Errorf("err = %v, want ErrNeverFires", err)
	}
}

func TestPresetsAndDescribe(t *testing.T) {
	for _, tc := range []struct{ expr, zone, desc string }{
		{"@hourly", "UTC", "hourly at :00 UTC"},
		{"hourly", "UTC", "hourly at :00 UTC"},
		{"@daily", "UTC", "daily at 00:00 UTC"},
		{"@midnight", "UTC", "daily at 00:00 UTC"},
		{"daily at 02:30", "Europe/Berlin", "daily at 02:30 Europe/Berlin"},
		{"30 2 * * *", "Europe/Berlin", "daily at 02:30 Europe/Berlin"},
		{"weekly on Sunday at 04:00", "UTC", "weekly on Sunday at 04:00 UTC"},
		{"weekly on mon at 04:00", "UTC", "weekly on Monday at 04:00 UTC"},
		{"@weekly", "UTC", "weekly on Sunday at 00:00 UTC"},
		{"monthly on 15 at 01:00", "UTC", "monthly on day 15 at 01:00 UTC"},
		{"monthly on last at 23:30", "UTC", "monthly on the last day at 23:30 UTC"},
		{"@monthly", "UTC", "monthly on day 1 at 00:00 UTC"},
		{"@yearly", "UTC", `cron "@yearly" UTC`},
		{"@annually", "UTC", `cron "@annually" UTC`},
		{"*/15 * * * *", "UTC", "every 15 minutes UTC"},
		{"* * * * *", "UTC", "every minute UTC"},
		{"0 0 13 * 5", "UTC", `cron "0 0 13 * 5" UTC`},
		{"*/10 * * * * *", "UTC", `cron "*/10 * * * * *" UTC`},
		{"0 0 * JAN,jul SUN", "UTC", `cron "0 0 * JAN,jul SUN" UTC`},
	} {
		c, err := ParseInZone(tc.expr, tc.zone)
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		if got := c.Describe(); got != tc.desc {
			t.Errorf("%q: Describe() = %q, want %q", tc.expr, got, tc.desc)
		}
	}
}

func TestNextN(t *testing.T) {
	c := mustParse(t, "0 9 * * MON-FRI", "Europe/Berlin")
	got := c.NextN(utc("2026-11-27T12:00:00Z"), 3) // a Friday
	want := []string{"2026-11-30T08:00:00Z", "2026-12-01T08:00:00Z", "2026-12-02T08:00:00Z"}
	if strings.Join(utcs(got), " ") != strings.Join(want, " ") {
		t.Fatalf("NextN = %v, want %v", utcs(got), want)
	}
	sec := mustParse(t, "*/20 * * * * *", "UTC")
	if got := utcs(sec.NextN(utc("2026-01-01T00:00:00Z"), 3)); strings.Join(got, " ") != "2026-01-01T00:00:20Z 2026-01-01T00:00:40Z 2026-01-01T00:01:00Z" {
		t.Fatalf("seconds: %v", got)
	}
}
