package config

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/backupkit/backupkit/destination/memory"
	"github.com/backupkit/backupkit/retention"
	_ "github.com/backupkit/backupkit/source/dir"
	_ "github.com/backupkit/backupkit/store/sqlstore"
)

func TestRetentionParse(t *testing.T) {
	t.Parallel()
	src := valid + `    timezone: Europe/Berlin
    retention:
      preset: spatie
      keep_last: 3
      keep_daily: 30
      keep_within: 2w
      keep_within_weekly: 12w
      max_age: 400d
      max_total_size: 20GiB
      min_keep: 2
      count_partial: true
`
	cfg, err := Parse([]byte(src), "/cfg", "backupd.yaml")
	require.NoError(t, err)
	r := cfg.Jobs[0].Retention
	require.NotNil(t, r)
	p, err := r.Policy(time.UTC)
	require.NoError(t, err)
	want := retention.Spatie()
	want.KeepLast, want.KeepDaily, want.KeepWithin, want.MaxAge = 3, 30, 14*retention.Day, 400*retention.Day
	want.KeepWithinWeekly = 84 * retention.Day
	want.MaxTotalSize, want.MinKeep, want.CountPartial, want.Location = 20<<30, 2, true, time.UTC
	assert.Equal(t, want, p)

	// No retention key: nil, everything kept.
	cfg, err = Parse([]byte(valid), "/cfg", "backupd.yaml")
	require.NoError(t, err)
	assert.Nil(t, cfg.Jobs[0].Retention)
}

func TestRetentionErrors(t *testing.T) {
	t.Parallel()
	// The retention block starts on line 8.
	tests := []struct{ name, src, want string }{
		{"size without unit", "      max_total_size: 5000\n",
			`backupd.yaml:9: jobs[0].retention.max_total_size: invalid size "5000" (want a number with a unit, such as "5000MB" or "5GiB")`},
		{"size with unknown unit", "      max_total_size: 5 parsecs\n",
			`backupd.yaml:9: jobs[0].retention.max_total_size: invalid size "5 parsecs": unknown unit "parsecs" (want B, kB, MB, GB, TB, KiB, MiB, GiB or TiB)`},
		{"bad period", "      keep_within: a week\n",
			`backupd.yaml:9: jobs[0].retention.keep_within: invalid duration "a week" (want days such as "7d", weeks such as "8w" or a Go duration such as "36h")`},
		{"unknown preset", "      preset: restic\n",
			`backupd.yaml:9: jobs[0].retention.preset: unknown preset "restic" (want spatie or none)`},
		{"negative count", "      keep_daily: -1\n",
			`backupd.yaml:9: jobs[0].retention.keep_daily: must not be negative, got -1`},
		{"negative period", "      keep_within_daily: -3h\n",
			`backupd.yaml:9: jobs[0].retention.keep_within_daily: must not be negative, got -3h0m0s`},
		{"max age shorter than keep within", "      keep_within: 30d\n      max_age: 7d\n",
			`backupd.yaml:10: jobs[0].retention.max_age: 7d is shorter than keep_within (30d): backups would be kept and deleted at once`},
		{"typo", "      keep_dayly: 3\n",
			`backupd.yaml:9: jobs[0].retention.keep_dayly: unknown key (did you mean "keep_daily"?)`},
		{"wrong type", "      keep_last: many\n",
			`backupd.yaml:9: jobs[0].retention.keep_last: expected an integer, got "many"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, parseErr(t, valid+"    retention:\n"+tt.src, nil))
		})
	}
}

func TestRetentionValidateInCode(t *testing.T) {
	t.Parallel()
	c := &Config{Destinations: map[string]Destination{"local": {URL: "mem://x"}},
		Jobs: []Job{{Name: "a", Source: "dir:/x", Destinations: []string{"local"}, Retention: &Retention{KeepLast: -2}}}}
	assert.EqualError(t, c.Validate(), "jobs[0].retention.keep_last: must not be negative, got -2")
}

func TestRetentionWired(t *testing.T) {
	t.Parallel()
	src := `store: sqlite:` + t.TempDir() + `/b.db
destinations:
  mem:
    url: mem://retention-wired
jobs:
  - name: app
    source: dir:` + t.TempDir() + `
    destinations: [mem]
    timezone: America/New_York
    retention:
      keep_last: 4
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
	require.NotNil(t, j.Job.Retention)
	assert.Equal(t, 4, j.Job.Retention.KeepLast)
	assert.Equal(t, "America/New_York", j.Job.Retention.Location.String())
	o, err := rt.Job("other")
	require.NoError(t, err)
	assert.Nil(t, o.Job.Retention)
}
