package retention

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Backup is what Plan needs to know about one backup.
type Backup struct {
	// ID identifies the backup; ties of CreatedAt are broken by ID.
	ID string
	// CreatedAt is when the backup was taken.
	CreatedAt time.Time
	// Size is the artifact's size in bytes, for MaxTotalSize.
	Size int64
	// Partial is set for a backup that some destinations failed to store
	// (store.BackupPartial). Other backups count as successful.
	Partial bool
	// Protected backups are never deleted.
	Protected bool
}

// Input is the state Plan decides on.
type Input struct {
	// Backups are the job's backups, in any order.
	Backups []Backup
	// Now is the current time; KeepWithin and MaxAge count back from it.
	Now time.Time
	// LatestRunFailed says that the job's most recent finished run failed.
	// Then nothing is deleted unless the policy has PruneOnFailure.
	LatestRunFailed bool
}

// Rule names why a backup is kept or deleted.
type Rule string

// The rules of a Reason.
const (
	// Kept by a guard, whatever the policy says.
	RuleProtected        Rule = "protected"
	RuleNewestSuccessful Rule = "newest successful"
	RuleLatestRunFailed  Rule = "latest run failed"
	RuleNoPolicy         Rule = "no retention rules"
	// RuleNoKeepRules keeps what MaxAge and MaxTotalSize spare in a policy
	// without keep rules.
	RuleNoKeepRules Rule = "no keep rules"
	// Kept by a keep rule.
	RuleLast    Rule = "last"
	RuleWithin  Rule = "within"
	RuleHourly  Rule = "hourly"
	RuleDaily   Rule = "daily"
	RuleWeekly  Rule = "weekly"
	RuleMonthly Rule = "monthly"
	RuleYearly  Rule = "yearly"
	RuleMinKeep Rule = "min keep"
	// RulePartialNewer keeps an uncounted partial backup newer than the
	// newest successful one.
	RulePartialNewer Rule = "partial, newer than the newest successful"
	// Deleted.
	RuleNoKeepRule        Rule = "no rule keeps it"
	RulePartialSuperseded Rule = "partial, superseded"
	RuleMaxAge            Rule = "max age"
	RuleMaxTotalSize      Rule = "max total size"
)

// Reason is one rule that applied to a backup, with its detail: the bucket
// of a calendar rule ("2026-11-03"), the count of last and min keep, the
// duration of within and max age, the cap of max total size.
type Reason struct {
	Rule   Rule
	Detail string
}

// String formats r for people: "newest daily of 2026-11-03", "last 5",
// "within 7d", "older than max age 90d", "protected".
func (r Reason) String() string {
	switch r.Rule {
	case RuleHourly, RuleDaily, RuleWeekly, RuleMonthly, RuleYearly:
		return "newest " + string(r.Rule) + " of " + r.Detail
	case RuleMaxAge:
		return "older than max age " + r.Detail
	case RuleMaxTotalSize:
		return "over max total size " + r.Detail + " (oldest first)"
	case RulePartialSuperseded:
		return "partial (not counted), a newer backup succeeded"
	case RuleLatestRunFailed:
		return "latest run failed: nothing is pruned (prune_on_failure is off)"
	}
	if r.Detail == "" {
		return string(r.Rule)
	}
	return string(r.Rule) + " " + r.Detail
}

// Decision is the plan for one backup.
type Decision struct {
	Backup Backup
	// Keep says whether the backup stays.
	Keep bool
	// Reasons lists every rule that keeps a kept backup, in rule order; for a
	// deleted backup it holds the one reason it is deleted.
	Reasons []Reason
}

// Has reports whether rule is among d's reasons.
func (d Decision) Has(rule Rule) bool {
	return slices.ContainsFunc(d.Reasons, func(r Reason) bool { return r.Rule == rule })
}

// Result is a plan: a decision for every backup, newest first.
type Result struct {
	Decisions []Decision
	// Held is set when the latest run failed and the policy does not prune
	// on failure: every backup is kept.
	Held bool
	// KeptSize and DeletedSize add up the sizes of the kept and deleted
	// backups.
	KeptSize, DeletedSize int64
	// OverCap is set when KeptSize is still above MaxTotalSize because the
	// backups that may never be deleted (protected, newest successful) alone
	// exceed it. Warning then says so in a sentence.
	OverCap bool
	Warning string
}

// Delete returns the backups to delete, oldest first.
func (r Result) Delete() []Backup {
	var out []Backup
	for i := len(r.Decisions) - 1; i >= 0; i-- {
		if !r.Decisions[i].Keep {
			out = append(out, r.Decisions[i].Backup)
		}
	}
	return out
}

// Keep returns the backups kept, newest first.
func (r Result) Keep() []Backup {
	var out []Backup
	for _, d := range r.Decisions {
		if d.Keep {
			out = append(out, d.Backup)
		}
	}
	return out
}

// Plan decides, for every backup in in.Backups, whether p keeps or deletes
// it, and why. It does not change in.Backups. The rules apply in this order:
//
//  1. If in.LatestRunFailed and not p.PruneOnFailure, everything is kept
//     (Result.Held). If p has no rule that could delete (Policy.IsZero),
//     everything is kept.
//  2. Guards: protected backups and the newest successful (non-partial)
//     backup are kept and can never be deleted by a later step.
//  3. Keep rules, over the counted backups (all successful ones, and partial
//     ones when p.CountPartial), newest first: KeepLast, KeepWithin, the
//     calendar counts (the newest backup of each of the most recent N
//     buckets that have one) and the calendar windows (the newest backup of
//     each bucket among those younger than the window). A backup kept by
//     several rules has every reason. Uncounted partial backups are kept
//     while newer than the newest successful backup, and deleted otherwise.
//     When p has keep rules, a backup that none keeps is deleted.
//  4. MinKeep keeps the newest MinKeep counted backups.
//  5. MaxAge deletes kept backups older than now - MaxAge, except guarded and
//     MinKeep ones.
//  6. MaxTotalSize deletes kept backups, oldest first, except guarded ones,
//     until the kept sizes add up to at most the cap (or reports OverCap).
//
// Calendar buckets are wall-clock periods in p.Location (UTC when nil), so
// they follow the zone's daylight saving time: a day is a calendar date and
// an hour is an hour of the clock on the wall. Weeks are ISO weeks (Monday
// to Sunday). Backups with equal CreatedAt are ordered by ID.
//
// Planning the kept set again, at the same now, keeps all of it.
func Plan(p Policy, in Input) Result {
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	n := len(in.Backups)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	// Newest first; ties by ID, descending, so the order is total.
	slices.SortFunc(order, func(a, b int) int {
		x, y := &in.Backups[a], &in.Backups[b]
		if c := y.CreatedAt.Compare(x.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(y.ID, x.ID)
	})
	res := Result{Decisions: make([]Decision, n)}
	for k, i := range order {
		res.Decisions[k].Backup = in.Backups[i]
	}
	ds := res.Decisions

	keepAll := func(r Reason) Result {
		for k := range ds {
			ds[k].Keep = true
			ds[k].Reasons = []Reason{r}
			res.KeptSize += ds[k].Backup.Size
		}
		return res
	}
	if in.LatestRunFailed && !p.PruneOnFailure {
		res.Held = true
		return keepAll(Reason{Rule: RuleLatestRunFailed})
	}
	if p.IsZero() {
		return keepAll(Reason{Rule: RuleNoPolicy})
	}

	keep := func(k int, r Reason) {
		ds[k].Keep = true
		ds[k].Reasons = append(ds[k].Reasons, r)
	}
	// 2. Guards.
	guarded := make([]bool, n)
	newestSuccessful := -1
	for k := range ds {
		b := &ds[k].Backup
		if b.Protected {
			keep(k, Reason{Rule: RuleProtected})
			guarded[k] = true
		}
		if newestSuccessful < 0 && !b.Partial {
			newestSuccessful = k
			keep(k, Reason{Rule: RuleNewestSuccessful})
			guarded[k] = true
		}
	}

	// 3. Keep rules over counted backups.
	counted := func(k int) bool { return !ds[k].Backup.Partial || p.CountPartial }
	type bucketRule struct {
		rule  Rule
		label func(t time.Time) string
		// Count rule: the newest of the first left buckets.
		countLast string
		count     int
		// Within rule: the newest of each bucket after cutoff.
		within     bool
		cutoff     time.Time
		withinLast string
	}
	buckets := []*bucketRule{
		{rule: RuleHourly, count: p.KeepHourly, within: p.KeepWithinHourly > 0, cutoff: in.Now.Add(-p.KeepWithinHourly),
			label: func(t time.Time) string { return t.Format("2006-01-02 15h") }},
		{rule: RuleDaily, count: p.KeepDaily, within: p.KeepWithinDaily > 0, cutoff: in.Now.Add(-p.KeepWithinDaily),
			label: func(t time.Time) string { return t.Format(time.DateOnly) }},
		{rule: RuleWeekly, count: p.KeepWeekly, within: p.KeepWithinWeekly > 0, cutoff: in.Now.Add(-p.KeepWithinWeekly),
			label: func(t time.Time) string {
				y, w := t.ISOWeek()
				return fmt.Sprintf("%04d-W%02d", y, w)
			}},
		{rule: RuleMonthly, count: p.KeepMonthly, within: p.KeepWithinMonthly > 0, cutoff: in.Now.Add(-p.KeepWithinMonthly),
			label: func(t time.Time) string { return t.Format("2006-01") }},
		{rule: RuleYearly, count: p.KeepYearly, within: p.KeepWithinYearly > 0, cutoff: in.Now.Add(-p.KeepWithinYearly),
			label: func(t time.Time) string { return t.Format("2006") }},
	}
	active := buckets[:0:0]
	for _, b := range buckets {
		if b.count > 0 || b.within {
			active = append(active, b)
		}
	}
	withinCutoff := in.Now.Add(-p.KeepWithin)
	lastLeft, minLeft := p.KeepLast, p.MinKeep
	minKept := make([]bool, n)
	lastDetail := strconv.Itoa(p.KeepLast)
	withinDetail := FormatDuration(p.KeepWithin)
	minDetail := strconv.Itoa(p.MinKeep)
	for k := range ds {
		b := &ds[k].Backup
		if !counted(k) {
			if newestSuccessful < 0 || k < newestSuccessful {
				keep(k, Reason{Rule: RulePartialNewer})
			}
			continue
		}
		if lastLeft > 0 {
			lastLeft--
			keep(k, Reason{Rule: RuleLast, Detail: lastDetail})
		}
		if p.KeepWithin > 0 && b.CreatedAt.After(withinCutoff) {
			keep(k, Reason{Rule: RuleWithin, Detail: withinDetail})
		}
		if len(active) > 0 {
			t := b.CreatedAt.In(loc)
			for _, r := range active {
				inWindow := r.within && b.CreatedAt.After(r.cutoff)
				if r.count == 0 && !inWindow {
					continue
				}
				l := r.label(t)
				kept := false
				if r.count > 0 && l != r.countLast {
					r.countLast = l
					r.count--
					kept = true
				}
				if inWindow && l != r.withinLast {
					r.withinLast = l
					kept = true
				}
				if kept {
					keep(k, Reason{Rule: r.rule, Detail: l})
				}
			}
		}
		// 4. MinKeep.
		if minLeft > 0 {
			minLeft--
			minKept[k] = true
			keep(k, Reason{Rule: RuleMinKeep, Detail: minDetail})
		}
	}
	hasKeepRules := p.hasKeepRules()
	for k := range ds {
		if ds[k].Keep {
			continue
		}
		switch {
		case !counted(k):
			ds[k].Reasons = []Reason{{Rule: RulePartialSuperseded}}
		case hasKeepRules:
			ds[k].Reasons = []Reason{{Rule: RuleNoKeepRule}}
		default:
			// Only MaxAge or MaxTotalSize: everything else stays.
			keep(k, Reason{Rule: RuleNoKeepRules})
		}
	}

	// 5. MaxAge.
	if p.MaxAge > 0 {
		cutoff := in.Now.Add(-p.MaxAge)
		detail := FormatDuration(p.MaxAge)
		for k := range ds {
			if ds[k].Keep && !guarded[k] && !minKept[k] && ds[k].Backup.CreatedAt.Before(cutoff) {
				ds[k].Keep = false
				ds[k].Reasons = []Reason{{Rule: RuleMaxAge, Detail: detail}}
			}
		}
	}

	for k := range ds {
		if ds[k].Keep {
			res.KeptSize += ds[k].Backup.Size
		}
	}
	// 6. MaxTotalSize, oldest first.
	if p.MaxTotalSize > 0 && res.KeptSize > p.MaxTotalSize {
		detail := FormatSize(p.MaxTotalSize)
		for k := n - 1; k >= 0 && res.KeptSize > p.MaxTotalSize; k-- {
			if ds[k].Keep && !guarded[k] {
				ds[k].Keep = false
				ds[k].Reasons = []Reason{{Rule: RuleMaxTotalSize, Detail: detail}}
				res.KeptSize -= ds[k].Backup.Size
			}
		}
		if res.KeptSize > p.MaxTotalSize {
			res.OverCap = true
			res.Warning = fmt.Sprintf("the protected and newest successful backups alone use %s, more than max total size %s",
				FormatSize(res.KeptSize), FormatSize(p.MaxTotalSize))
		}
	}
	for k := range ds {
		if !ds[k].Keep {
			res.DeletedSize += ds[k].Backup.Size
		}
	}
	return res
}
