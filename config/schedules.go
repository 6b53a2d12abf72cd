package config

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/backupkit/backupkit/store"
)

// Schedule origins, as recorded in a stored schedule's Job document (see
// ScheduleJob).
const (
	// OriginConfig marks the schedule of a configured job's "schedule" key.
	OriginConfig = "config"
	// OriginAPI marks a schedule created through the HTTP API.
	OriginAPI = "api"
)

// ScheduleJob is the Job document of the stored schedules backupd manages:
// which configured job the schedule runs, and where the schedule came from.
type ScheduleJob struct {
	// Job is the name of the configured job the schedule runs.
	Job string `json:"job"`
	// Origin is OriginConfig or OriginAPI.
	Origin string `json:"origin"`
	// ConfigCron and ConfigTimezone are, for OriginConfig, the job's
	// schedule and time zone in the file when it was last synced: a change
	// in the file is told apart from an edit through the API by them.
	ConfigCron     string `json:"config_cron,omitempty"`
	ConfigTimezone string `json:"config_timezone,omitempty"`
}

// ParseScheduleJob reads a stored schedule's Job document; a schedule that
// backupd does not manage (no "job" key) fails.
func ParseScheduleJob(s store.Schedule) (ScheduleJob, error) {
	var j ScheduleJob
	if err := json.Unmarshal(s.Job, &j); err != nil || j.Job == "" {
		return ScheduleJob{}, fmt.Errorf("schedule %q: its job document names no job", s.Name)
	}
	return j, nil
}

// Marshal returns j as a schedule's Job document.
func (j ScheduleJob) Marshal() json.RawMessage {
	b, _ := json.Marshal(j) // a struct of strings always marshals
	return b
}

// SyncSchedules makes the store hold one schedule per configured job that
// has a schedule (tenant "", Name = the job's name), so that the CLI, the
// HTTP API and every replica see the same schedules and their paused state,
// and returns the stored schedules of the configured jobs, in file order.
//
// The rules, so that the file and edits through the API coexist:
//   - A job's schedule missing from the store is created from the file
//     (active).
//   - When the job's schedule or time zone in the file changed since the last
//     sync, the file wins: the stored expression and zone are replaced. When
//     the file did not change, the stored ones are kept, so an edit through
//     the API survives restarts and reloads.
//   - The paused state is the store's alone (backupd pause/resume, the API).
//   - A stored schedule of origin "config" whose job no longer has a schedule
//     in the file is deleted (its runs stay in the history). Schedules
//     created through the API are left alone.
//
// It is safe to call from several processes at once: a lost race to create
// a schedule is retried as an update.
func (rt *Runtime) SyncSchedules(ctx context.Context) ([]store.Schedule, error) {
	stored, err := rt.Store.ListSchedules(ctx, store.ScheduleFilter{})
	if err != nil {
		return nil, err
	}
	byName := map[string]store.Schedule{}
	for _, s := range stored {
		if s.Tenant == "" {
			byName[s.Name] = s
		}
	}
	var out []store.Schedule
	wanted := map[string]bool{}
	for _, j := range rt.Jobs {
		if j.Schedule == "" {
			continue
		}
		name, tz := j.Job.Name, j.Location.String()
		wanted[name] = true
		meta := ScheduleJob{Job: name, Origin: OriginConfig, ConfigCron: j.Schedule, ConfigTimezone: tz}
		s, ok := byName[name]
		if !ok {
			s = store.Schedule{Name: name, Cron: j.Schedule, Timezone: tz, Job: meta.Marshal()}
			err := rt.Store.CreateSchedule(ctx, &s)
			if errors.Is(err, store.ErrConflict) {
				s, err = rt.Store.GetScheduleByName(ctx, "", name)
				ok = err == nil
			}
			if err != nil {
				return nil, fmt.Errorf("schedule of job %s: %w", name, err)
			}
		}
		if ok {
			old, perr := ParseScheduleJob(s)
			fileChanged := perr != nil || old.Origin != OriginConfig || old.ConfigCron != j.Schedule || old.ConfigTimezone != tz
			if fileChanged {
				s.Cron, s.Timezone, s.Job = j.Schedule, tz, meta.Marshal()
				if err := rt.Store.UpdateSchedule(ctx, &s); err != nil {
					return nil, fmt.Errorf("schedule of job %s: %w", name, err)
				}
			}
		}
		out = append(out, s)
	}
	for _, s := range stored {
		if s.Tenant != "" || wanted[s.Name] {
			continue
		}
		if meta, err := ParseScheduleJob(s); err != nil || meta.Origin != OriginConfig {
			continue
		}
		if err := rt.Store.DeleteSchedule(ctx, s.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("schedule %s: %w", s.Name, err)
		}
	}
	return out, nil
}
