package config

import "context"

// Verify is a job's "verify" block: when and how thoroughly its backups are
// verified. Its fields are filled in by the restore-and-verify issue.
type Verify struct {
	// Schedule is when to verify, in the syntax of Job.Schedule.
	Schedule string `yaml:"schedule"`
	// Level is "exists", "checksum" or "restore".
	Level string `yaml:"level"`
}

// RunVerifySchedules verifies the jobs' latest backups on their "verify"
// schedules until ctx is canceled. Placeholder until its issue lands.
func (rt *Runtime) RunVerifySchedules(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
