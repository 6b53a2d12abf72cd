package config

import (
	"context"

	"github.com/backupkit/backupkit/store"
)

// SyncSchedules makes the store hold one schedule per configured job that
// has a schedule (tenant "", Name = the job's name), so that the CLI, the
// HTTP API and every replica see the same schedules and their paused state,
// and returns the stored schedules of the configured jobs. Placeholder until
// the HTTP API issue lands: it returns what the store holds.
func (rt *Runtime) SyncSchedules(ctx context.Context) ([]store.Schedule, error) {
	return rt.Store.ListSchedules(ctx, store.ScheduleFilter{})
}
