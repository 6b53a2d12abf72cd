package retention_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/backupkit/backupkit/retention"
)

var (
	berlin  = mustLoad("Europe/Berlin")
	newYork = mustLoad("America/New_York")
)

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

var testNow = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// genHistory draws a random backup history before testNow (and a few after:
// clocks drift), with partial and protected backups and equal times.
func genHistory(t *rapid.T) []retention.Backup {
	n := rapid.IntRange(0, 60).Draw(t, "n")
	// Spacing from a few minutes to months, so every bucket size matters.
	maxAgo := rapid.SampledFrom([]time.Duration{6 * time.Hour, 3 * retention.Day, 60 * retention.Day, 3 * 365 * retention.Day}).Draw(t, "span")
	out := make([]retention.Backup, n)
	for i := range out {
		ago := time.Duration(rapid.Int64Range(-int64(time.Hour), int64(maxAgo)).Draw(t, "ago"))
		ago = ago.Truncate(time.Minute * time.Duration(rapid.SampledFrom([]int{1, 30, 60}).Draw(t, "trunc")))
		out[i] = retention.Backup{
			ID:        fmt.Sprintf("b%03d", i),
			CreatedAt: testNow.Add(-ago),
			Size:      rapid.Int64Range(0, 1000).Draw(t, "size"),
			Partial:   rapid.Float64Range(0, 1).Draw(t, "p") < 0.2,
			Protected: rapid.Float64Range(0, 1).Draw(t, "q") < 0.1,
		}
	}
	return out
}

func genPolicy(t *rapid.T) retention.Policy {
	count := func(name string) int {
		if rapid.Bool().Draw(t, name+"?") {
			return 0
		}
		return rapid.IntRange(0, 8).Draw(t, name)
	}
	dur := func(name string) time.Duration {
		if rapid.Bool().Draw(t, name+"?") {
			return 0
		}
		return time.Duration(rapid.Int64Range(1, int64(400*retention.Day)).Draw(t, name))
	}
	p := retention.Policy{
		KeepLast: count("last"), KeepWithin: dur("within"),
		KeepHourly: count("hourly"), KeepDaily: count("daily"), KeepWeekly: count("weekly"),
		KeepMonthly: count("monthly"), KeepYearly: count("yearly"),
		KeepWithinHourly: dur("wh"), KeepWithinDaily: dur("wd"), KeepWithinWeekly: dur("ww"),
		KeepWithinMonthly: dur("wm"), KeepWithinYearly: dur("wy"),
		MaxAge: dur("maxage"), MinKeep: count("minkeep"),
		PruneOnFailure: rapid.Bool().Draw(t, "pruneOnFailure"),
		CountPartial:   rapid.Bool().Draw(t, "countPartial"),
		Location:       rapid.SampledFrom([]*time.Location{nil, time.UTC, berlin, newYork}).Draw(t, "loc"),
	}
	if !rapid.Bool().Draw(t, "nocap") {
		p.MaxTotalSize = rapid.Int64Range(1, 20000).Draw(t, "cap")
	}
	return p
}

func genInput(t *rapid.T) retention.Input {
	return retention.Input{Backups: genHistory(t), Now: testNow, LatestRunFailed: rapid.Float64Range(0, 1).Draw(t, "failed") < 0.2}
}

func newestSuccessful(bs []retention.Backup) (retention.Backup, bool) {
	var best retention.Backup
	found := false
	for _, b := range bs {
		if b.Partial {
			continue
		}
		if !found || b.CreatedAt.After(best.CreatedAt) || b.CreatedAt.Equal(best.CreatedAt) && b.ID > best.ID {
			best, found = b, true
		}
	}
	return best, found
}

func TestPlanProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p, in := genPolicy(t), genInput(t)
		res := retention.Plan(p, in)
		require.Len(t, res.Decisions, len(in.Backups))

		var kept, guardedSize int64
		ns, hasNS := newestSuccessful(in.Backups)
		for i, d := range res.Decisions {
			if i > 0 {
				prev := res.Decisions[i-1].Backup
				require.False(t, d.Backup.CreatedAt.After(prev.CreatedAt), "decisions are newest first")
			}
			require.NotEmpty(t, d.Reasons, "every decision has a reason: %+v", d)
			if !d.Keep {
				require.Len(t, d.Reasons, 1)
			}
			// Protected never deleted; newest successful never deleted.
			if d.Backup.Protected {
				require.True(t, d.Keep, "protected backup %s deleted: %v", d.Backup.ID, d.Reasons)
			}
			if hasNS && d.Backup.ID == ns.ID {
				require.True(t, d.Keep, "newest successful %s deleted: %v", d.Backup.ID, d.Reasons)
			}
			if d.Keep {
				kept += d.Backup.Size
				if d.Backup.Protected || hasNS && d.Backup.ID == ns.ID {
					guardedSize += d.Backup.Size
				}
			}
		}
		require.Equal(t, kept, res.KeptSize)
		if in.LatestRunFailed && !p.PruneOnFailure || p.IsZero() {
			require.Empty(t, res.Delete(), "nothing is pruned")
			require.Equal(t, in.LatestRunFailed && !p.PruneOnFailure, res.Held)
		}

		// The size cap holds, unless the guarded backups alone exceed it.
		if p.MaxTotalSize > 0 && !res.Held {
			if res.OverCap {
				require.Equal(t, guardedSize, res.KeptSize, "over the cap only with guarded backups left")
				require.Greater(t, res.KeptSize, p.MaxTotalSize)
				require.NotEmpty(t, res.Warning)
			} else {
				require.LessOrEqual(t, res.KeptSize, p.MaxTotalSize)
			}
		}

		// Planning the kept set again deletes nothing more.
		again := retention.Plan(p, retention.Input{Backups: res.Keep(), Now: in.Now, LatestRunFailed: in.LatestRunFailed})
		require.Empty(t, again.Delete(), "re-planning the kept set deleted more")
	})
}

// TestPlanBucketsKeepNewestPerBucket checks each calendar rule, alone, against
// a direct model: the newest counted backup of each of the N most recent
// buckets.
func TestPlanBucketsKeepNewestPerBucket(t *testing.T) {
	rules := []struct {
		rule      retention.Rule
		set       func(*retention.Policy, int)
		setWithin func(*retention.Policy, time.Duration)
		label     func(time.Time) string
	}{
		{retention.RuleHourly, func(p *retention.Policy, n int) { p.KeepHourly = n },
			func(p *retention.Policy, d time.Duration) { p.KeepWithinHourly = d },
			func(t time.Time) string { return t.Format("2006-01-02 15") }},
		{retention.RuleDaily, func(p *retention.Policy, n int) { p.KeepDaily = n },
			func(p *retention.Policy, d time.Duration) { p.KeepWithinDaily = d },
			func(t time.Time) string { return t.Format(time.DateOnly) }},
		{retention.RuleWeekly, func(p *retention.Policy, n int) { p.KeepWeekly = n },
			func(p *retention.Policy, d time.Duration) { p.KeepWithinWeekly = d },
			func(t time.Time) string {
				y, w := t.ISOWeek()
				return fmt.Sprint(y, w)
			}},
		{retention.RuleMonthly, func(p *retention.Policy, n int) { p.KeepMonthly = n },
			func(p *retention.Policy, d time.Duration) { p.KeepWithinMonthly = d },
			func(t time.Time) string { return t.Format("2006-01") }},
		{retention.RuleYearly, func(p *retention.Policy, n int) { p.KeepYearly = n },
			func(p *retention.Policy, d time.Duration) { p.KeepWithinYearly = d },
			func(t time.Time) string { return t.Format("2006") }},
	}
	rapid.Check(t, func(t *rapid.T) {
		r := rapid.SampledFrom(rules).Draw(t, "rule")
		n := rapid.IntRange(1, 10).Draw(t, "count")
		p := retention.Policy{CountPartial: rapid.Bool().Draw(t, "countPartial"),
			Location: rapid.SampledFrom([]*time.Location{time.UTC, berlin, newYork}).Draw(t, "loc")}
		// Either a count (the n newest buckets) or a window (every bucket,
		// of the backups in the window).
		within := rapid.Bool().Draw(t, "within")
		var cutoff time.Time
		if within {
			d := time.Duration(rapid.Int64Range(1, int64(800*retention.Day)).Draw(t, "window"))
			r.setWithin(&p, d)
			cutoff = testNow.Add(-d)
			n = 1 << 30
		} else {
			r.set(&p, n)
		}
		in := retention.Input{Backups: genHistory(t), Now: testNow}

		// Model: newest counted backup per bucket, for the n newest buckets.
		newest := map[string]retention.Backup{}
		for _, b := range in.Backups {
			if b.Partial && !p.CountPartial || within && !b.CreatedAt.After(cutoff) {
				continue
			}
			l := r.label(b.CreatedAt.In(p.Location))
			if c, ok := newest[l]; !ok || b.CreatedAt.After(c.CreatedAt) || b.CreatedAt.Equal(c.CreatedAt) && b.ID > c.ID {
				newest[l] = b
			}
		}
		var want []string
		var bucketNewest []retention.Backup
		for _, b := range newest {
			bucketNewest = append(bucketNewest, b)
		}
		slices.SortFunc(bucketNewest, func(a, b retention.Backup) int { return b.CreatedAt.Compare(a.CreatedAt) })
		for i, b := range bucketNewest {
			if i < n {
				want = append(want, b.ID)
			}
		}

		res := retention.Plan(p, in)
		var got []string
		for _, d := range res.Decisions {
			if d.Has(r.rule) {
				require.True(t, d.Keep)
				got = append(got, d.Backup.ID)
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		require.Equal(t, want, got)
	})
}

func TestEmptyPolicyKeepsEverything(t *testing.T) {
	in := retention.Input{Now: testNow}
	for i := range 50 {
		in.Backups = append(in.Backups, retention.Backup{ID: fmt.Sprint(i), CreatedAt: testNow.Add(-time.Duration(i) * 1000 * time.Hour), Partial: i%3 == 0})
	}
	res := retention.Plan(retention.Policy{MinKeep: 2, CountPartial: true}, in)
	assert.Empty(t, res.Delete())
	assert.Equal(t, "no retention rules", res.Decisions[0].Reasons[0].String())
}

func TestLatestRunFailedHoldsUnlessPruneOnFailure(t *testing.T) {
	in := retention.Input{Now: testNow, LatestRunFailed: true}
	for i := range 10 {
		in.Backups = append(in.Backups, retention.Backup{ID: fmt.Sprint(i), CreatedAt: testNow.Add(-time.Duration(i) * retention.Day)})
	}
	res := retention.Plan(retention.KeepLast(2), in)
	assert.True(t, res.Held)
	assert.Empty(t, res.Delete())

	p := retention.KeepLast(2)
	p.PruneOnFailure = true
	res = retention.Plan(p, in)
	assert.False(t, res.Held)
	assert.Len(t, res.Delete(), 8)
}

func TestPartialBackups(t *testing.T) {
	day := func(i int) time.Time { return testNow.Add(-time.Duration(i) * retention.Day) }
	in := retention.Input{Now: testNow, Backups: []retention.Backup{
		{ID: "p0", CreatedAt: day(0), Partial: true}, // newer than the newest successful
		{ID: "c1", CreatedAt: day(1)},
		{ID: "p2", CreatedAt: day(2), Partial: true}, // superseded
		{ID: "c3", CreatedAt: day(3)},
		{ID: "c4", CreatedAt: day(4)},
	}}
	byID := func(res retention.Result) map[string]retention.Decision {
		m := map[string]retention.Decision{}
		for _, d := range res.Decisions {
			m[d.Backup.ID] = d
		}
		return m
	}

	// Not counted: p0 kept without taking a slot, p2 deleted; last 2 = c1, c3.
	d := byID(retention.Plan(retention.KeepLast(2), in))
	assert.True(t, d["p0"].Keep)
	assert.Equal(t, []retention.Reason{{Rule: retention.RulePartialNewer}}, d["p0"].Reasons)
	assert.False(t, d["p2"].Keep)
	assert.Equal(t, retention.RulePartialSuperseded, d["p2"].Reasons[0].Rule)
	assert.True(t, d["c1"].Has(retention.RuleNewestSuccessful))
	assert.True(t, d["c3"].Has(retention.RuleLast))
	assert.False(t, d["c4"].Keep)

	// Counted: last 2 = p0, c1.
	p := retention.KeepLast(2)
	p.CountPartial = true
	d = byID(retention.Plan(p, in))
	assert.True(t, d["p0"].Has(retention.RuleLast))
	assert.True(t, d["c1"].Keep)
	assert.False(t, d["p2"].Keep)
	assert.False(t, d["c3"].Keep)
}

func TestMaxAgeMinKeepAndReasons(t *testing.T) {
	in := retention.Input{Now: testNow}
	for i := range 10 {
		in.Backups = append(in.Backups, retention.Backup{ID: fmt.Sprintf("b%d", i), CreatedAt: testNow.Add(-time.Duration(i*10) * retention.Day), Size: 10})
	}
	in.Backups[9].Protected = true
	p := retention.Policy{KeepLast: 5, MaxAge: 25 * retention.Day, MinKeep: 4}
	res := retention.Plan(p, in)
	var got []string
	for _, d := range res.Decisions {
		rs := make([]string, len(d.Reasons))
		for i, r := range d.Reasons {
			rs[i] = r.String()
		}
		got = append(got, fmt.Sprintf("%s %v %v", d.Backup.ID, d.Keep, rs))
	}
	assert.Equal(t, []string{
		"b0 true [newest successful last 5 min keep 4]",
		"b1 true [last 5 min keep 4]",
		"b2 true [last 5 min keep 4]",
		"b3 true [last 5 min keep 4]",       // 30 days old, but min keep
		"b4 false [older than max age 25d]", // 40 days
		"b5 false [no rule keeps it]",
		"b6 false [no rule keeps it]",
		"b7 false [no rule keeps it]",
		"b8 false [no rule keeps it]",
		"b9 true [protected]",
	}, got)
	assert.Equal(t, int64(50), res.KeptSize)
	assert.Equal(t, int64(50), res.DeletedSize)
}

func TestSizeCapReportsWhenGuardedBackupsExceedIt(t *testing.T) {
	in := retention.Input{Now: testNow, Backups: []retention.Backup{
		{ID: "new", CreatedAt: testNow, Size: 600},
		{ID: "mid", CreatedAt: testNow.Add(-time.Hour), Size: 100},
		{ID: "old", CreatedAt: testNow.Add(-2 * time.Hour), Size: 600, Protected: true},
	}}
	res := retention.Plan(retention.Policy{KeepLast: 3, MaxTotalSize: 1000}, in)
	assert.True(t, res.OverCap)
	assert.Equal(t, int64(1200), res.KeptSize)
	assert.Equal(t, []retention.Backup{in.Backups[1]}, res.Delete())
	assert.Contains(t, res.Warning, "more than max total size")
}

// daily returns one backup a day at 03:00 UTC for the given number of days
// up to testNow, each of size bytes.
func daily(days int, size int64) []retention.Backup {
	var out []retention.Backup
	first := time.Date(testNow.Year(), testNow.Month(), testNow.Day(), 3, 0, 0, 0, time.UTC).AddDate(0, 0, -days+1)
	for i := range days {
		out = append(out, retention.Backup{ID: fmt.Sprintf("b%04d", i), CreatedAt: first.AddDate(0, 0, i), Size: size})
	}
	return out
}

func countRules(res retention.Result) map[retention.Rule]int {
	m := map[retention.Rule]int{}
	for _, d := range res.Decisions {
		for _, r := range d.Reasons {
			m[r.Rule]++
		}
	}
	return m
}

func keptDates(res retention.Result) []string {
	var out []string
	for _, b := range res.Keep() {
		out = append(out, b.CreatedAt.Format(time.DateOnly))
	}
	return out
}

func TestSpatieDefaultsOverThreeYearsOfDailyBackups(t *testing.T) {
	// testNow is Sunday 2026-11-29 12:00 UTC; backups run daily at 03:00.
	in := retention.Input{Backups: daily(3*365, MiB), Now: testNow}
	res := retention.Plan(retention.Spatie(), in)
	assert.Equal(t, map[retention.Rule]int{
		retention.RuleNewestSuccessful: 1,
		retention.RuleWithin:           7,  // all of Nov 23..29
		retention.RuleDaily:            23, // Nov 7..29: 7 + 16 days
		retention.RuleWeekly:           12, // the ISO weeks from W37 (Sep 13) to W48
		retention.RuleMonthly:          7,  // May..Nov 2026
		retention.RuleYearly:           3,  // 2024, 2025, 2026
		retention.RuleNoKeepRule:       3*365 - 39,
	}, countRules(res))
	var want []string
	for d := 29; d >= 7; d-- {
		want = append(want, fmt.Sprintf("2026-11-%02d", d))
	}
	want = append(want,
		// weekly beyond the daily ones (8 weeks), and the monthly Oct 31 and Sep 30
		"2026-11-01", "2026-10-31", "2026-10-25", "2026-10-18", "2026-10-11", "2026-10-04",
		"2026-09-30", "2026-09-27", "2026-09-20", "2026-09-13",
		// monthly beyond those
		"2026-08-31", "2026-07-31", "2026-06-30", "2026-05-31",
		// yearly
		"2025-12-31", "2024-12-31")
	assert.Equal(t, want, keptDates(res))
	assert.False(t, res.OverCap)

	// At 300 MiB a backup the 5000 MiB cap keeps the newest 16.
	in = retention.Input{Backups: daily(3*365, 300*MiB), Now: testNow}
	res = retention.Plan(retention.Spatie(), in)
	assert.Len(t, res.Keep(), 16)
	assert.Equal(t, 39-16, countRules(res)[retention.RuleMaxTotalSize])
	assert.LessOrEqual(t, res.KeptSize, int64(5000*MiB))
	assert.Equal(t, "2026-11-14", res.Keep()[15].CreatedAt.Format(time.DateOnly))
}

func TestCountBucketsOverThreeYearsOfDailyBackups(t *testing.T) {
	// restic's "forget --keep-daily 16 --keep-weekly 8 --keep-monthly 4
	// --keep-yearly 2 --keep-within 7d": the counts overlap.
	p := retention.Policy{KeepWithin: 7 * retention.Day, KeepDaily: 16, KeepWeekly: 8, KeepMonthly: 4, KeepYearly: 2}
	res := retention.Plan(p, retention.Input{Backups: daily(3*365, MiB), Now: testNow})
	assert.Equal(t, map[retention.Rule]int{
		retention.RuleNewestSuccessful: 1,
		retention.RuleWithin:           7,  // Nov 23..29
		retention.RuleDaily:            16, // Nov 14..29
		retention.RuleWeekly:           8,  // the Sundays Oct 11..Nov 29
		retention.RuleMonthly:          4,  // Nov 29, Oct 31, Sep 30, Aug 31
		retention.RuleYearly:           2,  // 2026-11-29, 2025-12-31
		retention.RuleNoKeepRule:       3*365 - 25,
	}, countRules(res))
	assert.Equal(t, []string{
		"2026-11-29", "2026-11-28", "2026-11-27", "2026-11-26", "2026-11-25", "2026-11-24", "2026-11-23",
		"2026-11-22", "2026-11-21", "2026-11-20", "2026-11-19", "2026-11-18", "2026-11-17", "2026-11-16",
		"2026-11-15", "2026-11-14",
		"2026-11-08", "2026-11-01", "2026-10-31", "2026-10-25", "2026-10-18", "2026-10-11",
		"2026-09-30", "2026-08-31",
		"2025-12-31",
	}, keptDates(res))
}

const MiB = retention.MiB

func TestKeepLastAndKeepDaysPresets(t *testing.T) {
	in := retention.Input{Backups: daily(30, 1), Now: testNow}
	assert.Len(t, retention.Plan(retention.KeepLast(5), in).Keep(), 5)
	// 7 × 24 h before 2026-11-29 12:00 is 11-22 12:00: the 03:00 backups of
	// 11-23 to 11-29 are within.
	assert.Len(t, retention.Plan(retention.KeepDays(7), in).Keep(), 7)
}

// keptBy returns the IDs of the backups kept by rule, newest first, with
// their bucket labels.
func keptBy(res retention.Result, rule retention.Rule) []string {
	var out []string
	for _, d := range res.Decisions {
		for _, r := range d.Reasons {
			if r.Rule == rule {
				out = append(out, d.Backup.ID+"@"+r.Detail)
			}
		}
	}
	return out
}

func TestBucketEdgesAcrossDST(t *testing.T) {
	at := func(loc *time.Location, y int, m time.Month, d, h, min int) time.Time {
		return time.Date(y, m, d, h, min, 0, 0, loc)
	}
	berlinFallBack := func(id string, off time.Duration) retention.Backup {
		// 2026-10-25 00:30 UTC is 02:30 CEST; an hour later it is 02:30 CET.
		return retention.Backup{ID: id, CreatedAt: time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC).Add(off)}
	}
	cases := []struct {
		name    string
		policy  retention.Policy
		backups []retention.Backup
		rule    retention.Rule
		want    []string // ID@bucket, newest first
	}{{
		name:   "Berlin: the 25-hour day of 2026-10-25 is one daily bucket",
		policy: retention.Policy{KeepDaily: 3, Location: berlin},
		backups: []retention.Backup{
			{ID: "a", CreatedAt: at(berlin, 2026, 10, 24, 23, 59)},
			{ID: "b", CreatedAt: at(berlin, 2026, 10, 25, 0, 0)},   // 22:00 UTC on the 24th
			{ID: "c", CreatedAt: at(berlin, 2026, 10, 25, 23, 59)}, // 24h59m after b, same date
			{ID: "d", CreatedAt: at(berlin, 2026, 10, 26, 0, 0)},
		},
		rule: retention.RuleDaily,
		want: []string{"d@2026-10-26", "c@2026-10-25", "a@2026-10-24"},
	}, {
		name:   "Berlin: the 23-hour day of 2026-03-29 is one daily bucket",
		policy: retention.Policy{KeepDaily: 3, Location: berlin},
		backups: []retention.Backup{
			{ID: "a", CreatedAt: at(berlin, 2026, 3, 28, 23, 30)},
			{ID: "b", CreatedAt: at(berlin, 2026, 3, 29, 0, 30)},
			{ID: "c", CreatedAt: at(berlin, 2026, 3, 29, 23, 30)}, // 22 hours after b
			{ID: "d", CreatedAt: at(berlin, 2026, 3, 30, 0, 30)},
		},
		rule: retention.RuleDaily,
		want: []string{"d@2026-03-30", "c@2026-03-29", "a@2026-03-28"},
	}, {
		name:   "Berlin: local midnight, not UTC midnight, separates days",
		policy: retention.Policy{KeepDaily: 2, Location: berlin},
		backups: []retention.Backup{
			{ID: "a", CreatedAt: time.Date(2026, 10, 25, 21, 0, 0, 0, time.UTC)},  // 22:00 CET on the 25th
			{ID: "b", CreatedAt: time.Date(2026, 10, 25, 23, 30, 0, 0, time.UTC)}, // 00:30 CET on the 26th
		},
		rule: retention.RuleDaily,
		want: []string{"b@2026-10-26", "a@2026-10-25"},
	}, {
		name:   "UTC: the same two backups share a day",
		policy: retention.Policy{KeepDaily: 2},
		backups: []retention.Backup{
			{ID: "a", CreatedAt: time.Date(2026, 10, 25, 21, 0, 0, 0, time.UTC)},
			{ID: "b", CreatedAt: time.Date(2026, 10, 25, 23, 30, 0, 0, time.UTC)},
		},
		rule: retention.RuleDaily,
		want: []string{"b@2026-10-25"},
	}, {
		name:   "Berlin: the repeated hour 02:00-03:00 of the fall-back is one wall-clock hourly bucket",
		policy: retention.Policy{KeepHourly: 3, Location: berlin},
		backups: []retention.Backup{
			berlinFallBack("a", -time.Hour), // 01:30 CEST
			berlinFallBack("b", 0),          // 02:30 CEST
			berlinFallBack("c", time.Hour),  // 02:30 CET
			berlinFallBack("d", 2*time.Hour),
		},
		rule: retention.RuleHourly,
		want: []string{"d@2026-10-25 03h", "c@2026-10-25 02h", "a@2026-10-25 01h"},
	}, {
		name:   "New York: Sunday 2026-11-01 23:30 EST is in ISO week 44 although it is Monday in UTC",
		policy: retention.Policy{KeepWeekly: 3, Location: newYork},
		backups: []retention.Backup{
			{ID: "a", CreatedAt: at(newYork, 2026, 11, 1, 1, 30)}, // the first 01:30 (EDT)
			{ID: "b", CreatedAt: at(newYork, 2026, 11, 1, 23, 30)},
			{ID: "c", CreatedAt: at(newYork, 2026, 11, 2, 0, 30)},
			{ID: "d", CreatedAt: at(newYork, 2026, 10, 25, 23, 59)},
		},
		rule: retention.RuleWeekly,
		want: []string{"c@2026-W45", "b@2026-W44", "d@2026-W43"},
	}, {
		name:   "New York: 2026-10-31 22:00 EDT is October although UTC says November",
		policy: retention.Policy{KeepMonthly: 2, Location: newYork},
		backups: []retention.Backup{
			{ID: "a", CreatedAt: at(newYork, 2026, 10, 31, 22, 0)}, // 02:00 UTC on Nov 1
			{ID: "b", CreatedAt: at(newYork, 2026, 11, 1, 0, 30)},
		},
		rule: retention.RuleMonthly,
		want: []string{"b@2026-11", "a@2026-10"},
	}, {
		name:   "New York: yearly buckets end at local New Year",
		policy: retention.Policy{KeepYearly: 2, Location: newYork},
		backups: []retention.Backup{
			{ID: "a", CreatedAt: at(newYork, 2025, 12, 31, 20, 0)}, // 2026 in UTC
			{ID: "b", CreatedAt: at(newYork, 2026, 1, 1, 0, 5)},
		},
		rule: retention.RuleYearly,
		want: []string{"b@2026", "a@2025"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := retention.Plan(c.policy, retention.Input{Backups: c.backups, Now: testNow})
			assert.Equal(t, c.want, keptBy(res, c.rule))
		})
	}
}

func TestValidate(t *testing.T) {
	assert.NoError(t, retention.Spatie().Validate())
	assert.NoError(t, retention.Policy{}.Validate())
	err := retention.Policy{KeepDaily: -1, KeepWithin: 30 * retention.Day, MaxAge: 7 * retention.Day, MaxTotalSize: -5}.Validate()
	require.Error(t, err)
	assert.Equal(t, "retention.keep_daily: must not be negative, got -1\n"+
		"retention.max_age: 7d is shorter than keep_within (30d): backups would be kept and deleted at once\n"+
		"retention.max_total_size: must not be negative, got -5", err.Error())
	var fe *retention.FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "keep_daily", fe.Field)
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"5000MB": 5e9, "5GiB": 5 << 30, "1.5 GiB": 3 << 29, "0": 0, "10kB": 10e3, "7 B": 7, "2tib": 2 << 40, "3MiB": 3 << 20,
	} {
		got, err := retention.ParseSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "5000", "MB", "5 parsecs", "1e3MB", "-1MB", "99999999999TiB"} {
		_, err := retention.ParseSize(in)
		assert.Error(t, err, in)
	}
	_, err := retention.ParseSize("5000")
	assert.EqualError(t, err, `invalid size "5000" (want a number with a unit, such as "5000MB" or "5GiB")`)
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * retention.Day, "8w": 56 * retention.Day, "36h": 36 * time.Hour, "0": 0} {
		got, err := retention.ParseDuration(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "7 days", "d", "-3d", "1.5d"} {
		_, err := retention.ParseDuration(in)
		assert.Error(t, err, in)
	}
	assert.Equal(t, "7d", retention.FormatDuration(7*retention.Day))
	assert.Equal(t, "36h0m0s", retention.FormatDuration(36*time.Hour))
}

func BenchmarkPlan100k(b *testing.B) {
	// 100,000 hourly backups (11 years), the spatie defaults plus hourly
	// buckets, in a zone with daylight saving time.
	in := retention.Input{Now: testNow}
	for i := range 100_000 {
		in.Backups = append(in.Backups, retention.Backup{ID: fmt.Sprintf("b%06d", i), CreatedAt: testNow.Add(-time.Duration(i) * time.Hour), Size: 1 << 20, Protected: i%1000 == 0})
	}
	p := retention.Spatie()
	p.KeepHourly, p.KeepLast, p.MaxAge, p.Location = 48, 10, 10*365*retention.Day, berlin
	b.ReportAllocs()
	for b.Loop() {
		res := retention.Plan(p, in)
		if len(res.Decisions) != 100_000 {
			b.Fatal(len(res.Decisions))
		}
	}
}
