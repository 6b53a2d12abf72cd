package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/backupkit/backupkit/config"
	"github.com/backupkit/backupkit/schedule"
	"github.com/backupkit/backupkit/store"
)

// nextRunsShown is how many upcoming slots `schedules` shows per job.
const nextRunsShown = 3

// scheduleJSON is one entry of `schedules --json`.
type scheduleJSON struct {
	// Job is the configured job the schedule runs; Name the schedule's name
	// (the job's name for the schedule of the file, another for schedules
	// created through the API).
	Job  string `json:"job"`
	Name string `json:"name"`
	// Origin is "config" (the file's schedule key), "api", or "" for a job
	// without a stored schedule.
	Origin string `json:"origin"`
	// Schedule is the expression in effect: the stored one (the file's,
	// unless changed through the API since), or "" for jobs run only when
	// triggered; Description its reading in words.
	Schedule    string `json:"schedule"`
	Description string `json:"description"`
	Timezone    string `json:"timezone"`
	// ScheduleID is the stored schedule's ID ("" when the store holds none
	// for the job yet); Paused its paused state.
	ScheduleID string `json:"schedule_id"`
	Paused     bool   `json:"paused"`
	// NextRuns are the next slots after now, in the job's time zone.
	NextRuns []time.Time `json:"next_runs"`
	// LastRun is the job's newest run; null when it never ran.
	LastRun *runJSON `json:"last_run"`
}

// cmdSchedules lists every configured job with its schedule, time zone,
// paused state, next slots and last run.
func cmdSchedules(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("schedules", stderr)
	asJSON := jsonFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	var only string
	if err := jobArg("schedules", pos, &only); err != nil {
		return err
	}
	rt, err := open(ctx, *path, stderr, slog.LevelWarn)
	if err != nil {
		return err
	}
	defer rt.Close()
	if only != "" {
		if _, err := rt.Job(only); err != nil {
			return usageError{err}
		}
	}
	rows, err := rt.SyncSchedules(ctx)
	if err != nil {
		return fmt.Errorf("schedules: %w", err)
	}
	now := time.Now()
	var out []scheduleJSON
	add := func(s scheduleJSON) error {
		if s.Schedule != "" {
			c, err := schedule.ParseInZone(s.Schedule, s.Timezone)
			if err != nil {
				return fmt.Errorf("schedule %s: %q: %w", s.Name, s.Schedule, err)
			}
			s.Description = c.Describe()
			s.NextRuns = c.NextN(now, nextRunsShown)
		}
		runs, err := rt.Store.ListRuns(ctx, store.RunFilter{Job: s.Job, Kind: store.RunKindBackup, Limit: 1})
		if err != nil {
			return fmt.Errorf("schedules: %w", err)
		}
		if len(runs) > 0 {
			r := toRunJSON(runs[0])
			s.LastRun = &r
		}
		out = append(out, s)
		return nil
	}
	for _, j := range rt.Jobs {
		if only != "" && j.Job.Name != only {
			continue
		}
		s := scheduleJSON{Job: j.Job.Name, Name: j.Job.Name, NextRuns: []time.Time{}}
		if row, ok := storedSchedule(rows, j.Job.Name); ok {
			s.Origin, s.ScheduleID, s.Paused, s.Schedule, s.Timezone = config.OriginConfig, row.ID, row.Paused, row.Cron, row.Timezone
		} else {
			s.Schedule, s.Timezone = j.Schedule, j.Location.String()
		}
		if err := add(s); err != nil {
			return err
		}
	}
	// Schedules created through the API for configured jobs.
	all, err := rt.Store.ListSchedules(ctx, store.ScheduleFilter{Tenant: ""})
	if err != nil {
		return fmt.Errorf("schedules: %w", err)
	}
	for _, row := range all {
		meta, err := config.ParseScheduleJob(row)
		if err != nil || meta.Origin != config.OriginAPI || (only != "" && meta.Job != only) {
			continue
		}
		s := scheduleJSON{Job: meta.Job, Name: row.Name, Origin: config.OriginAPI, ScheduleID: row.ID, Paused: row.Paused,
			Schedule: row.Cron, Timezone: row.Timezone, NextRuns: []time.Time{}}
		if err := add(s); err != nil {
			return err
		}
	}
	if *asJSON {
		if out == nil {
			out = []scheduleJSON{}
		}
		return writeJSON(stdout, out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tJOB\tSCHEDULE\tTIME ZONE\tSTATE\tNEXT RUNS\tLAST RUN")
	for _, s := range out {
		state := "active"
		switch {
		case s.Schedule == "":
			state = "manual"
		case s.Paused:
			state = "paused"
		}
		expr := s.Schedule
		if expr == "" {
			expr = "-"
		}
		next := make([]string, len(s.NextRuns))
		for i, t := range s.NextRuns {
			next[i] = t.Format("2006-01-02 15:04:05 MST")
		}
		if len(next) == 0 {
			next = []string{"-"}
		}
		last := "never"
		if s.LastRun != nil {
			last = s.LastRun.Status
			if s.LastRun.StartedAt != nil {
				last += " " + s.LastRun.StartedAt.Local().Format(time.DateTime)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Job, expr, s.Timezone, state, strings.Join(next, ", "), last)
	}
	return tw.Flush()
}

// storedSchedule returns the stored schedule of a configured job (tenant "",
// named after the job).
func storedSchedule(rows []store.Schedule, job string) (store.Schedule, bool) {
	for _, r := range rows {
		if r.Tenant == "" && r.Name == job {
			return r, true
		}
	}
	return store.Schedule{}, false
}

// cmdPauseJob pauses a job's schedule: its slots are not run until resumed.
func cmdPauseJob(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return setJobPaused(ctx, "pause", true, args, stdout, stderr)
}

// cmdResumeJob resumes a job's paused schedule.
func cmdResumeJob(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return setJobPaused(ctx, "resume", false, args, stdout, stderr)
}

// setJobPaused sets the paused state of the stored schedule named after the
// job (see config.Runtime.SyncSchedules) and records it in the audit trail.
// Every backupd serve sharing the store picks the change up. Setting the
// state the schedule already has changes nothing and is not audited.
func setJobPaused(ctx context.Context, name string, paused bool, args []string, stdout, stderr io.Writer) error {
	fs, path := flags(name, stderr)
	reason := fs.String("reason", "", "why, recorded in the audit trail")
	asJSON := jsonFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{fmt.Errorf("%s: give exactly one JOB", name)}
	}
	rt, err := open(ctx, *path, stderr, slog.LevelWarn)
	if err != nil {
		return err
	}
	defer rt.Close()
	j, err := rt.Job(pos[0])
	if err != nil {
		return usageError{err}
	}
	if j.Schedule == "" {
		return usageError{fmt.Errorf("%s: job %s has no schedule: it only runs when triggered", name, j.Job.Name)}
	}
	row, err := jobSchedule(ctx, rt, j.Job.Name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	changed := row.Paused != paused
	if changed {
		if err := rt.Store.SetSchedulePaused(ctx, row.ID, paused); err != nil {
			return fmt.Errorf("%s: job %s: %w", name, j.Job.Name, err)
		}
		details, _ := json.Marshal(map[string]string{"schedule_id": row.ID, "reason": *reason, "via": "cli"})
		entry := &store.AuditEntry{Actor: "cli:" + currentUser(), Action: "schedule." + name, Target: j.Job.Name, Details: details}
		if err := rt.Store.AppendAudit(context.WithoutCancel(ctx), entry); err != nil {
			return fmt.Errorf("%s: job %s is %sd, but the audit entry failed: %w", name, j.Job.Name, name, err)
		}
	}
	if *asJSON {
		return writeJSON(stdout, map[string]any{"job": j.Job.Name, "schedule_id": row.ID, "paused": paused, "changed": changed})
	}
	switch {
	case !changed && paused:
		fmt.Fprintf(stdout, "job %s was already paused\n", j.Job.Name)
	case !changed:
		fmt.Fprintf(stdout, "job %s was not paused\n", j.Job.Name)
	case paused:
		fmt.Fprintf(stdout, "job %s paused: its scheduled slots are not run until `backupd resume %s` (a running backup is not stopped)\n", j.Job.Name, j.Job.Name)
	default:
		fmt.Fprintf(stdout, "job %s resumed: its next slots run again\n", j.Job.Name)
	}
	return nil
}

// jobSchedule returns the stored schedule of a configured job, after
// SyncSchedules made the store hold one per scheduled job.
func jobSchedule(ctx context.Context, rt *config.Runtime, job string) (store.Schedule, error) {
	rows, err := rt.SyncSchedules(ctx)
	if err != nil {
		return store.Schedule{}, err
	}
	row, ok := storedSchedule(rows, job)
	if !ok {
		return store.Schedule{}, errors.New("job " + job + " has no stored schedule in " + rt.StoreURL)
	}
	return row, nil
}
