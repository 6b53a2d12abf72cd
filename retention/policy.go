// Package retention decides which backups of a job to keep and which to delete.
//
// It is a pure package: [Plan] maps a list of backups, a [Policy] and the
// current time to a [Result] that says, for every backup, whether it is kept
// or deleted and which rules made it so ("newest daily of 2026-11-03",
// "within 7 days", "protected"). Nothing here touches storage; the engine
// (backup.Engine.Prune) applies a plan to the catalog and the destinations.
//
// The package has its own small input type, [Backup], rather than taking
// store.Backup: it imports only the standard library (and internal/units), so the rules can be
// tested and benchmarked over millions of synthetic backups without building
// catalog records, and it cannot come to depend on anything the store adds.
// The engine converts catalog entries in one loop.
//
// The rules, in the order they apply, are documented on [Plan] and in
// docs/retention.md.
package retention

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/backupkit/backupkit/internal/units"
)

// Policy says which backups of a job to keep. The zero value has no rules and
// keeps everything.
//
// Keep rules (KeepLast, KeepWithin and the calendar buckets) select backups to
// keep; when a policy has at least one keep rule, a backup that no rule keeps
// is deleted. MaxAge and MaxTotalSize delete backups that keep rules kept.
// Protected backups and the newest successful backup are never deleted.
type Policy struct {
	// KeepLast keeps the newest KeepLast counted backups.
	KeepLast int
	// KeepWithin keeps every counted backup created less than KeepWithin
	// before now.
	KeepWithin time.Duration
	// KeepHourly, KeepDaily, KeepWeekly, KeepMonthly and KeepYearly keep the
	// newest counted backup of each of the most recent N hours, days, ISO
	// weeks, months and years that have a counted backup (restic's
	// "forget --keep-*" semantics). Buckets are wall-clock periods in the
	// Location, so a day is a calendar date even when it has 23 or 25 hours.
	KeepHourly  int
	KeepDaily   int
	KeepWeekly  int
	KeepMonthly int
	KeepYearly  int
	// KeepWithinHourly ... KeepWithinYearly keep the newest counted backup of
	// each hour, day, ISO week, month and year, among the backups created
	// less than that long before now (restic's "forget --keep-within-*").
	// For a bucket that straddles the limit, the newest backup inside it is
	// kept.
	KeepWithinHourly  time.Duration
	KeepWithinDaily   time.Duration
	KeepWithinWeekly  time.Duration
	KeepWithinMonthly time.Duration
	KeepWithinYearly  time.Duration
	// MaxAge deletes backups created more than MaxAge before now, even when a
	// keep rule keeps them (but not protected, newest successful or MinKeep
	// backups). Zero means no limit.
	MaxAge time.Duration
	// MaxTotalSize, in bytes, deletes the oldest backups until the kept
	// backups' sizes add up to at most MaxTotalSize. It overrides every keep
	// rule and MinKeep, but never deletes protected backups or the newest
	// successful one; when those alone exceed it, the plan says so
	// (Result.OverCap). Zero means no limit.
	MaxTotalSize int64
	// MinKeep keeps the newest MinKeep counted backups whatever MaxAge says
	// (only MaxTotalSize may still delete them). It never makes a policy
	// delete anything.
	MinKeep int
	// PruneOnFailure lets a plan delete backups when the job's latest run
	// failed. By default nothing is deleted then: the old backups may be the
	// only good ones for a while.
	PruneOnFailure bool
	// CountPartial makes partial backups (some destinations failed) count
	// for the keep rules like complete ones. Otherwise a partial backup is
	// kept, without taking a slot of any rule, while it is newer than the
	// newest complete backup, and deleted once a complete backup is newer.
	CountPartial bool
	// Location is the time zone of the calendar buckets: the job's schedule
	// time zone. Nil means UTC.
	Location *time.Location
}

// IsZero reports whether p has no rule that could delete a backup (no keep
// rule, no MaxAge and no MaxTotalSize). Such a policy keeps everything.
func (p Policy) IsZero() bool {
	return !p.hasKeepRules() && p.MaxAge == 0 && p.MaxTotalSize == 0
}

func (p Policy) hasKeepRules() bool {
	return p.KeepLast > 0 || p.KeepWithin > 0 || p.KeepHourly > 0 || p.KeepDaily > 0 ||
		p.KeepWeekly > 0 || p.KeepMonthly > 0 || p.KeepYearly > 0 ||
		p.KeepWithinHourly > 0 || p.KeepWithinDaily > 0 || p.KeepWithinWeekly > 0 ||
		p.KeepWithinMonthly > 0 || p.KeepWithinYearly > 0
}

// FieldError is a problem with one field of a Policy. Field is the field's
// configuration name ("keep_daily", "max_total_size").
type FieldError struct {
	Field string
	Msg   string
}

// Error formats e as "retention.FIELD: MSG".
func (e *FieldError) Error() string { return "retention." + e.Field + ": " + e.Msg }

// Validate returns every problem with p, each a *FieldError, joined with
// errors.Join, or nil. Counts, durations and sizes must not be negative, and
// MaxAge, when set, must not be shorter than KeepWithin.
func (p Policy) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	for _, c := range []struct {
		field string
		n     int
	}{
		{"keep_last", p.KeepLast}, {"keep_hourly", p.KeepHourly}, {"keep_daily", p.KeepDaily},
		{"keep_weekly", p.KeepWeekly}, {"keep_monthly", p.KeepMonthly}, {"keep_yearly", p.KeepYearly},
		{"min_keep", p.MinKeep},
	} {
		if c.n < 0 {
			bad(c.field, "must not be negative, got %d", c.n)
		}
	}
	for _, d := range []struct {
		field string
		d     time.Duration
	}{
		{"keep_within", p.KeepWithin}, {"keep_within_hourly", p.KeepWithinHourly}, {"keep_within_daily", p.KeepWithinDaily},
		{"keep_within_weekly", p.KeepWithinWeekly}, {"keep_within_monthly", p.KeepWithinMonthly},
		{"keep_within_yearly", p.KeepWithinYearly}, {"max_age", p.MaxAge},
	} {
		if d.d < 0 {
			bad(d.field, "must not be negative, got %s", FormatDuration(d.d))
		}
	}
	if p.MaxAge > 0 && p.KeepWithin > p.MaxAge {
		bad("max_age", "%s is shorter than keep_within (%s): backups would be kept and deleted at once",
			FormatDuration(p.MaxAge), FormatDuration(p.KeepWithin))
	}
	if p.MaxTotalSize < 0 {
		bad("max_total_size", "must not be negative, got %d", p.MaxTotalSize)
	}
	return errors.Join(errs...)
}

// Day is 24 hours, the unit of KeepDays and of "d" in ParseDuration.
const Day = 24 * time.Hour

// MiB is 2^20 bytes.
const MiB = 1 << 20

// Spatie returns the defaults of spatie/laravel-backup's cleanup strategy:
// keep all backups for 7 days; then daily backups for 16 days; then weekly
// backups for 8 weeks; then monthly backups for 4 months; then yearly
// backups for 2 years; delete the oldest when they use more than 5,000 MB
// (laravel-backup counts 1 MB as 2^20 bytes, so 5000 MiB).
//
// Each period is a within-bucket rule reaching as far back as laravel-backup's
// period ends: KeepWithin 7d, KeepWithinDaily 23d, KeepWithinWeekly 79d,
// KeepWithinMonthly 201d (a month counted as 30.5 days) and KeepWithinYearly
// 931d. Where laravel-backup keeps the newest backup of a bucket within one
// period only, these rules overlap, which can keep one backup more or fewer
// at the edge of a period; on a daily schedule the totals are the same (see
// docs/retention.md).
func Spatie() Policy {
	const month = Day * 61 / 2
	all := 7 * Day
	daily := all + 16*Day
	weekly := daily + 8*7*Day
	monthly := weekly + 4*month
	yearly := monthly + 2*365*Day
	return Policy{
		KeepWithin:        all,
		KeepWithinDaily:   daily,
		KeepWithinWeekly:  weekly,
		KeepWithinMonthly: monthly,
		KeepWithinYearly:  yearly,
		MaxTotalSize:      5000 * MiB,
	}
}

// KeepLast returns a policy that keeps the newest n backups.
func KeepLast(n int) Policy { return Policy{KeepLast: n} }

// KeepDays returns a policy that keeps the backups of the last n days
// (n × 24 hours before now).
func KeepDays(n int) Policy { return Policy{KeepWithin: time.Duration(n) * Day} }

// Preset returns the policy of a preset name: "spatie" ([Spatie]) or "none"
// and "" (the zero Policy, which keeps everything). Other names fail with
// an error listing the known ones.
func Preset(name string) (Policy, error) {
	switch name {
	case "spatie":
		return Spatie(), nil
	case "", "none":
		return Policy{}, nil
	}
	return Policy{}, fmt.Errorf("unknown preset %q (want spatie or none)", name)
}

// ParseSize parses a size with a unit: B, kB/KB, MB, GB, TB (powers of 1000)
// or KiB, MiB, GiB, TiB (powers of 1024), case-insensitively for the letters
// after the first, optionally with a space and a decimal fraction ("1.5GiB").
// "0" alone is allowed. A number without a unit is refused, because MB and
// MiB differ by 5%.
func ParseSize(s string) (int64, error) { return units.ParseSize(s) }

// ParseDuration parses a Go duration ("36h", "90m") or a whole number of days
// or weeks ("7d", "8w"), as retention periods are usually written.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for suffix, unit := range map[string]time.Duration{"d": Day, "w": 7 * Day} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.Atoi(n)
			if err != nil || v < 0 {
				break
			}
			return time.Duration(v) * unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want days such as \"7d\", weeks such as \"8w\" or a Go duration such as \"36h\")", s)
	}
	return d, nil
}

// FormatDuration writes d in days ("7d") when it is a whole number of days,
// and as time.Duration does otherwise.
func FormatDuration(d time.Duration) string {
	if d != 0 && d%Day == 0 {
		return strconv.FormatInt(int64(d/Day), 10) + "d"
	}
	return d.String()
}

// FormatSize writes n bytes in the largest binary unit that keeps it short
// ("5000 MiB" is written "4.9 GiB").
func FormatSize(n int64) string {
	const unit = 1024
	if n < unit && n > -unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	f, exp := float64(n), 0
	for f >= unit*unit || f <= -unit*unit {
		f /= unit
		exp++
	}
	return strconv.FormatFloat(f/unit, 'f', 1, 64) + " " + string("KMGTPE"[exp]) + "iB"
}
