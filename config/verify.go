package config

import (
	"context"
	"fmt"
	"time"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/schedule"
	"github.com/backupkit/backupkit/store"
)

// Verify is a job's "verify" block: when and how thoroughly its latest
// backup is verified (see docs/restore.md). For example
//
//	verify:
//	  schedule: "weekly on sunday at 04:00"
//	  level: restore
type Verify struct {
	// Schedule is when to verify, in the syntax of Job.Schedule; required.
	Schedule string `yaml:"schedule"`
	// Timezone is the IANA zone Schedule is read in; default the job's
	// timezone.
	Timezone string `yaml:"timezone"`
	// Level is "exists", "checksum" or "restore"; default "checksum".
	Level string `yaml:"level"`
}

// VerifyScheduleID is the run ScheduleID of the scheduled verification of
// job: its slots are claimed in the store under it, so that of several
// replicas one verifies each slot.
func VerifyScheduleID(job string) string { return "verify:" + job }

// verify checks a job's verify block at path; jobZone is the job's timezone.
func (v *validator) verify(b *Verify, path string) {
	at := func(key string) string { return path + "." + key }
	switch {
	case v.bad(at("schedule")):
	case b.Schedule == "":
		v.add(at("schedule"), path, `required (a cron expression or a preset such as "weekly on sunday at 04:00")`)
	default:
		if err := checkSchedule(b.Schedule); err != nil {
			v.add(at("schedule"), path, "invalid cron expression %q: %s", b.Schedule, err)
		}
	}
	if b.Timezone != "" && !v.bad(at("timezone")) {
		if _, err := time.LoadLocation(b.Timezone); err != nil || b.Timezone == "Local" {
			v.add(at("timezone"), path, `unknown time zone %q (want an IANA name such as "Europe/Berlin" or "UTC")`, b.Timezone)
		}
	}
	switch backup.VerifyLevel(b.Level) {
	case "", backup.VerifyExists, backup.VerifyChecksum, backup.VerifyRestore:
	default:
		if !v.bad(at("level")) {
			v.add(at("level"), path, "invalid level %q (want exists, checksum or restore)", b.Level)
		}
	}
}

// verifyEntry is one job's verify schedule.
type verifyEntry struct {
	job   *backup.Job
	cron  *schedule.Cron
	level backup.VerifyLevel
	next  time.Time
}

// verifyEntries returns the verify schedules of the configured jobs.
func (rt *Runtime) verifyEntries() ([]*verifyEntry, error) {
	var out []*verifyEntry
	for _, j := range rt.Config.Jobs {
		if j.Verify == nil {
			continue
		}
		sj, err := rt.Job(j.Name)
		if err != nil {
			return nil, err
		}
		loc := sj.Location
		if j.Verify.Timezone != "" {
			if loc, err = time.LoadLocation(j.Verify.Timezone); err != nil {
				return nil, fmt.Errorf("job %s: verify.timezone: %w", j.Name, err)
			}
		}
		c, err := schedule.Parse(j.Verify.Schedule, loc)
		if err != nil {
			return nil, fmt.Errorf("job %s: verify.schedule: %w", j.Name, err)
		}
		level := backup.VerifyLevel(j.Verify.Level)
		if level == "" {
			level = backup.VerifyChecksum
		}
		out = append(out, &verifyEntry{job: sj.Job, cron: c, level: level})
	}
	return out, nil
}

// RunVerifySchedules verifies the latest backup of every job that has a
// "verify" block, at its level, on its schedule, until ctx is canceled; it
// returns ctx's error then, or nil at once when no job has such a block.
// Each slot is claimed in the store (store.Runs.ClaimRun, schedule ID
// VerifyScheduleID(job)) so that of several replicas exactly one verifies
// it; a slot with no backup to verify is recorded as skipped.
//
// Slots that passed while no replica ran are made up for once, at the
// start: for a job whose verification has run before, the latest slot
// since its last recorded one, if it is at most MissedVerifyGrace old, is
// verified (and claimed like any slot, so that of several replicas starting
// at once one does it). The slots before it are not.
func (rt *Runtime) RunVerifySchedules(ctx context.Context) error {
	entries, err := rt.verifyEntries()
	if err != nil {
		rt.Logger.Error("verify schedules", "err", err)
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	now := time.Now()
	for _, en := range entries {
		en.next = en.cron.Next(now)
		if slot, ok := rt.missedVerifySlot(ctx, en, now); ok {
			rt.Logger.Warn("verifying a slot missed while no replica ran", "job", en.job.Name, "slot", slot)
			go func() {
				if err := rt.VerifySlot(ctx, en.job, en.level, slot); err != nil {
					rt.Logger.Error("scheduled verify", "job", en.job.Name, "slot", slot, "err", err)
				}
			}()
		}
	}
	for {
		first := entries[0]
		for _, en := range entries[1:] {
			if en.next.Before(first.next) {
				first = en
			}
		}
		if first.next.IsZero() {
			<-ctx.Done()
			return ctx.Err()
		}
		t := time.NewTimer(time.Until(first.next))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		now := time.Now()
		for _, en := range entries {
			if en.next.After(now) {
				continue
			}
			slot := en.next
			en.next = en.cron.Next(now)
			go func() {
				if err := rt.VerifySlot(ctx, en.job, en.level, slot); err != nil {
					rt.Logger.Error("scheduled verify", "job", en.job.Name, "slot", slot, "err", err)
				}
			}()
		}
	}
}

// MissedVerifyGrace is how old a verify slot missed while no replica ran
// may be and still be made up for (see RunVerifySchedules): a week, as the
// scheduler's default missed-run grace.
const MissedVerifyGrace = 7 * 24 * time.Hour

// missedVerifySlot returns the latest slot of en at or before now that
// comes after the last verify slot recorded for its job and is at most
// MissedVerifyGrace old; false when there is none, or when the job has no
// recorded verification (a new verify block makes nothing up).
func (rt *Runtime) missedVerifySlot(ctx context.Context, en *verifyEntry, now time.Time) (time.Time, bool) {
	runs, err := rt.Store.ListRuns(ctx, store.RunFilter{ScheduleID: VerifyScheduleID(en.job.Name), Limit: 1})
	if err != nil {
		rt.Logger.Error("verify schedules: cannot look for missed slots", "job", en.job.Name, "err", err)
		return time.Time{}, false
	}
	if len(runs) == 0 || runs[0].Slot.IsZero() {
		return time.Time{}, false
	}
	from := runs[0].Slot
	if cutoff := now.Add(-MissedVerifyGrace); from.Before(cutoff) {
		from = cutoff
	}
	var latest time.Time
	for s, n := en.cron.Next(from), 0; !s.IsZero() && !s.After(now) && n < 1_000_000; s, n = en.cron.Next(s), n+1 {
		latest = s
	}
	return latest, !latest.IsZero()
}

// VerifySlot claims the verify slot of job at slot and, if this process
// won it, verifies the job's latest backup (not counting safety backups
// taken before restores) at level. A slot another process claimed returns
// nil at once; a job without backups records the slot as skipped.
func (rt *Runtime) VerifySlot(ctx context.Context, job *backup.Job, level backup.VerifyLevel, slot time.Time) error {
	owner := rt.Engine.Owner()
	run := &store.Run{Job: job.Name, Kind: store.RunKindVerify, ScheduleID: VerifyScheduleID(job.Name), Slot: slot.UTC(),
		Trigger: store.TriggerSchedule, TriggeredBy: "scheduler", Status: store.RunRunning, Owner: owner, Attempt: 1}
	latest, err := rt.LatestBackup(ctx, job.Name)
	if err != nil {
		return err
	}
	if latest == "" {
		run.Status, run.Reason, run.FinishedAt = store.RunSkipped, "no backup to verify", time.Now().UTC()
	}
	claimed, err := rt.Store.ClaimRun(ctx, run)
	if err != nil || !claimed || latest == "" {
		return err
	}
	_, err = rt.Engine.Verify(ctx, job, latest, backup.VerifyOptions{Level: level, TriggeredBy: "scheduler", Claimed: run})
	return err
}

// LatestBackup returns the ID of the newest backup of job that is not a
// safety backup, or "".
func (rt *Runtime) LatestBackup(ctx context.Context, job string) (string, error) {
	page, err := rt.Store.ListBackupsPage(ctx, store.BackupFilter{Job: job, Limit: 20})
	for err == nil {
		for _, b := range page.Backups {
			if b.Status != store.BackupPreRestore {
				return b.ID, nil
			}
		}
		if page.Next == "" {
			return "", nil
		}
		page, err = rt.Store.ListBackupsPage(ctx, store.BackupFilter{Job: job, Limit: 20, Cursor: page.Next})
	}
	return "", fmt.Errorf("job %s: latest backup: %w", job, err)
}
