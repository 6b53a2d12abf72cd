package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// envMap returns a LookupEnv function over m.
func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestGoldenConfig(t *testing.T) {
	t.Parallel()
	dir, err := filepath.Abs("testdata")
	require.NoError(t, err)
	abs := func(p string) string {
		s := filepath.ToSlash(filepath.Join(dir, p))
		if !strings.HasPrefix(s, "/") {
			s = "/" + s // Windows
		}
		return s
	}

	opts := Options{LookupEnv: envMap(map[string]string{
		"S3_SECRET":   "wJalrXUtnFEMI",
		"DB_PASSWORD": "hunter2",
	})}
	cfg, err := opts.Load(filepath.Join("testdata", "backupd.yaml"))
	require.NoError(t, err)

	want := &Config{
		Store:    "sqlite://" + abs("state/backupd.db") + "?_pragma=busy_timeout(5000)",
		LogLevel: "debug",
		Destinations: map[string]Destination{
			"local":   {URL: "file://" + abs("backups")},
			"offsite": {URL: "s3://AKIAEXAMPLE:wJalrXUtnFEMI@bucket/prefix?region=eu-west-1"},
			"archive": {URL: "file:///srv/archive"},
		},
		Jobs: []Job{
			{
				Name:         "quickstart",
				Source:       "dir://" + abs("data"),
				Destinations: []string{"local"},
				Schedule:     "* * * * *",
				Timezone:     "UTC",
				Compression:  CompressionZstd,
			},
			{
				Name:         "shop-db",
				Source:       "mysql://backup:hunter2@db.internal:3306/shop",
				Destinations: []string{"local", "offsite"},
				Schedule:     "30 2 * * 1-5",
				Timezone:     "America/New_York", // explicit keys win over merged ones
				Compression:  CompressionNone,
				Prefix:       "team/shop",
				Timeout:      Duration(2*time.Hour + 30*time.Minute),
			},
			{
				Name:         "nightly_archive",
				Source:       "dir:/srv/data",
				Destinations: []string{"archive", "offsite"},
				Schedule:     "@daily",
				Timezone:     "Europe/Berlin",
				Compression:  CompressionGzip,
				Timeout:      Duration(45 * time.Minute),
			},
		},
	}
	assert.Equal(t, want, cfg)
	assert.NoError(t, cfg.Validate(), "a parsed config passes Validate")
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte("destinations:\n  d: {url: 'file:///b'}\njobs:\n  - {name: j, source: 'dir:///s', destinations: [d]}\n"), "/cfg", "backupd.yaml")
	require.NoError(t, err)
	store, err := ResolveURL(DefaultStore, "/cfg")
	require.NoError(t, err)
	assert.Equal(t, store, cfg.Store)
	assert.Equal(t, "info", cfg.LogLevel)
	assert.Equal(t, "UTC", cfg.Jobs[0].Timezone)
	assert.Equal(t, CompressionZstd, cfg.Jobs[0].Compression)
	assert.Zero(t, cfg.Jobs[0].Timeout)
	assert.Empty(t, cfg.Jobs[0].Schedule)
}

func TestNoJobs(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte("log_level: warn\n"), "/cfg", "backupd.yaml")
	require.NoError(t, err)
	assert.Empty(t, cfg.Jobs)
	assert.Equal(t, "warn", cfg.LogLevel)
}

func TestConfigJob(t *testing.T) {
	t.Parallel()
	cfg := &Config{Jobs: []Job{{Name: "shop"}, {Name: "files"}}}

	j, err := cfg.Job("files")
	require.NoError(t, err)
	assert.Same(t, &cfg.Jobs[1], j)

	_, err = cfg.Job("shpo")
	require.ErrorIs(t, err, ErrUnknownJob)
	assert.EqualError(t, err, `unknown job "shpo" (did you mean "shop"? known jobs: shop, files)`)

	_, err = cfg.Job("nightly")
	assert.EqualError(t, err, `unknown job "nightly" (known jobs: shop, files)`)

	_, err = (&Config{}).Job("x")
	require.ErrorIs(t, err, ErrUnknownJob)
	assert.EqualError(t, err, `unknown job "x": no jobs are configured`)
}

func TestDuration(t *testing.T) {
	t.Parallel()
	var d Duration
	require.NoError(t, yaml.Unmarshal([]byte(`"1h30m"`), &d))
	assert.Equal(t, Duration(90*time.Minute), d)
	assert.Equal(t, "1h30m0s", d.String())

	out, err := yaml.Marshal(struct{ T Duration }{d})
	require.NoError(t, err)
	assert.Equal(t, "t: 1h30m0s\n", string(out))

	assert.EqualError(t, yaml.Unmarshal([]byte(`90`), &d), `invalid duration "90" (want a number with a unit, such as "90s" or "2h30m")`)
	assert.EqualError(t, yaml.Unmarshal([]byte(`[1]`), &d), `expected a duration such as "2h", got a sequence`)
}

func TestValidateBuiltInCode(t *testing.T) {
	t.Parallel()
	ok := &Config{
		Destinations: map[string]Destination{"d": {URL: "file:backups"}},
		Jobs:         []Job{{Name: "j", Source: "dir:data", Destinations: []string{"d"}}},
	}
	require.NoError(t, ok.Validate())
	assert.Equal(t, "file:backups", ok.Destinations["d"].URL, "Validate does not resolve")

	bad := &Config{
		LogLevel:     "loud",
		Destinations: map[string]Destination{"d": {URL: "file:backups"}},
		Jobs: []Job{
			{Name: "j", Source: "dir:data", Destinations: []string{"d"}, Timeout: Duration(-time.Second), StallTimeout: Duration(-time.Second)},
			{Name: "j", Source: "data", Destinations: []string{"e"}},
		},
	}
	err := bad.Validate()
	var first *Error
	require.ErrorAs(t, err, &first)
	assert.Equal(t, 0, first.Line)
	assert.Equal(t, `log_level: invalid log level "loud" (want debug, info, warn or error)
jobs[0].timeout: must be greater than 0, got -1s (leave it out for no timeout)
jobs[0].stall_timeout: must be greater than 0, got -1s (leave it out for the default, 5m)
jobs[1].name: duplicate job name "j" (first used at jobs[0])
jobs[1].source: URL has no scheme (want scheme:path or scheme://host/path, such as "file:backups")
jobs[1].destinations[0]: unknown destination "e" (did you mean "d"? known destinations: d)`, err.Error())

	var joined interface{ Unwrap() []error }
	require.True(t, errors.As(err, &joined))
	assert.Len(t, joined.Unwrap(), 6)
}
