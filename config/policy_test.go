package config

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/retention"
	"github.com/backupkit/backupkit/schedule"
)

func TestPolicyParse(t *testing.T) {
	t.Parallel()
	src := valid + `    policy:
      overlap: queue
      queue_limit: 2
      missed: all
      missed_grace: 3d
      missed_cap: 5
      retries: 3
      backoff: 90s
      max_backoff: 2h
      jitter: 5m
`
	cfg, err := Parse([]byte(src), "/cfg", "backupd.yaml")
	require.NoError(t, err)
	require.NotNil(t, cfg.Jobs[0].Policy)
	assert.Equal(t, schedule.Policy{Overlap: schedule.OverlapQueue, QueueLimit: 2, Missed: schedule.MissedAll,
		MissedGrace: 3 * retention.Day, MissedCap: 5, Retries: 3, Backoff: 90 * time.Second,
		MaxBackoff: 2 * time.Hour, Jitter: 5 * time.Minute}, cfg.Jobs[0].Policy.Schedule())

	// No policy key: nil, the scheduler's defaults.
	cfg, err = Parse([]byte(valid), "/cfg", "backupd.yaml")
	require.NoError(t, err)
	assert.Nil(t, cfg.Jobs[0].Policy)
	assert.Equal(t, schedule.Policy{}, cfg.Jobs[0].Policy.Schedule())
}

func TestPolicyErrors(t *testing.T) {
	t.Parallel()
	// The policy block starts on line 8.
	tests := []struct{ name, src, want string }{
		{"unknown overlap", "      overlap: wait\n",
			`backupd.yaml:9: jobs[0].policy.overlap: invalid overlap policy "wait" (want skip, queue or replace)`},
		{"unknown missed", "      missed: once\n",
			`backupd.yaml:9: jobs[0].policy.missed: invalid missed-run policy "once" (want skip, run_once or all)`},
		{"negative retries", "      retries: -1\n",
			`backupd.yaml:9: jobs[0].policy.retries: must not be negative, got -1`},
		{"negative jitter", "      jitter: -5m\n",
			`backupd.yaml:9: jobs[0].policy.jitter: must not be negative, got -5m0s`},
		{"bad grace", "      missed_grace: a week\n",
			`backupd.yaml:9: jobs[0].policy.missed_grace: invalid duration "a week" (want days such as "7d", weeks such as "8w" or a Go duration such as "36h")`},
		{"queue limit without queue", "      queue_limit: 3\n",
			`backupd.yaml:9: jobs[0].policy.queue_limit: only applies with overlap: queue (overlap is skip)`},
		{"missed cap without all", "      missed: skip\n      missed_cap: 3\n",
			`backupd.yaml:10: jobs[0].policy.missed_cap: only applies with missed: all (missed is skip)`},
		{"max backoff below backoff", "      backoff: 10m\n      max_backoff: 5m\n",
			`backupd.yaml:10: jobs[0].policy.max_backoff: 5m0s is shorter than backoff (10m0s)`},
		{"max backoff below default backoff", "      max_backoff: 30s\n",
			`backupd.yaml:9: jobs[0].policy.max_backoff: 30s is shorter than backoff (1m0s)`},
		{"typo", "      retires: 3\n",
			`backupd.yaml:9: jobs[0].policy.retires: unknown key (did you mean "retries"?)`},
		{"wrong type", "      retries: many\n",
			`backupd.yaml:9: jobs[0].policy.retries: expected an integer, got "many"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, parseErr(t, valid+"    policy:\n"+tt.src, nil))
		})
	}
}

func TestPolicyValidateInCode(t *testing.T) {
	t.Parallel()
	c := &Config{Destinations: map[string]Destination{"local": {URL: "mem://x"}},
		Jobs: []Job{{Name: "a", Source: "dir:/x", Destinations: []string{"local"}, Policy: &Policy{Overlap: "sometimes"}}}}
	assert.EqualError(t, c.Validate(), `jobs[0].policy.overlap: invalid overlap policy "sometimes" (want skip, queue or replace)`)
}

func TestPolicyWired(t *testing.T) {
	t.Parallel()
	src := `store: sqlite:` + t.TempDir() + `/b.db
destinations:
  mem:
    url: mem://policy-wired
jobs:
  - name: app
    source: dir:` + t.TempDir() + `
    destinations: [mem]
    schedule: "@hourly"
    policy:
      overlap: replace
      retries: 2
      missed_grace: 2d
  - name: other
    source: dir:` + t.TempDir() + `
    destinations: [mem]
`
	cfg, err := Parse([]byte(src), t.TempDir(), "backupd.yaml")
	require.NoError(t, err)
	rt, err := Open(context.Background(), cfg, nil)
	require.NoError(t, err)
	defer rt.Close()
	j, err := rt.Job("app")
	require.NoError(t, err)
	assert.Equal(t, schedule.Policy{Overlap: schedule.OverlapReplace, Retries: 2, MissedGrace: 2 * retention.Day}, j.Policy)
	o, err := rt.Job("other")
	require.NoError(t, err)
	assert.Equal(t, schedule.Policy{}, o.Policy)
}
