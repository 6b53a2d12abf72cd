package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parseErr parses src as "backupd.yaml" with the given environment and
// returns the error message, failing the test if there is none.
func parseErr(t *testing.T, src string, env map[string]string) string {
	t.Helper()
	cfg, err := Options{LookupEnv: envMap(env)}.Parse([]byte(src), "/cfg", "backupd.yaml")
	require.Error(t, err, "config: %+v", cfg)
	assert.Nil(t, cfg)
	return err.Error()
}

// valid is a correct config the error cases below change. Line numbers:
//
//	1 destinations:
//	2   local:
//	3     url: file:backups
//	4 jobs:
//	5   - name: quickstart
//	6     source: dir:data
//	7     destinations: [local]
const valid = `destinations:
  local:
    url: file:backups
jobs:
  - name: quickstart
    source: dir:data
    destinations: [local]
`

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want string
	}{
		// Unknown keys.
		{"unknown key with suggestion", valid + "    destinatons: [local]\n",
			`backupd.yaml:8: jobs[0].destinatons: unknown key (did you mean "destinations"?)`},
		{"unknown top-level key", "stor: sqlite:x.db\n" + valid,
			`backupd.yaml:1: stor: unknown key (did you mean "store"?)`},
		{"unknown key without suggestion", valid + "colour: red\n",
			`backupd.yaml:8: colour: unknown key`},
		{"unknown destination key", "destinations:\n  local:\n    uri: file:x\n    url: file:y\n",
			`backupd.yaml:3: destinations.local.uri: unknown key (did you mean "url"?)`},
		{"case matters in keys", valid + "    Schedule: '@daily'\n",
			`backupd.yaml:8: jobs[0].Schedule: unknown key (did you mean "schedule"?)`},
		{"duplicate key", valid + "    source: dir:other\n",
			`backupd.yaml:8: jobs[0].source: duplicate key (first at line 6)`},
		{"non-string key", "? [a, b]\n: 1\n",
			`backupd.yaml:1: keys must be strings, got a sequence`},

		// Wrong types.
		{"timeout sequence", valid + "    timeout: [1]\n",
			`backupd.yaml:8: jobs[0].timeout: expected a duration such as "2h", got a sequence`},
		{"timeout block sequence reports the key line", valid + "    timeout:\n      - 1\n",
			`backupd.yaml:8: jobs[0].timeout: expected a duration such as "2h", got a sequence`},
		{"name mapping", "jobs:\n  - name: {a: 1}\n    source: dir:x\n    destinations: [x]\n",
			`backupd.yaml:2: jobs[0].name: expected a string, got a mapping` + "\n" +
				`backupd.yaml:4: jobs[0].destinations[0]: unknown destination "x" (no destinations are configured)`},
		{"jobs mapping", "jobs:\n  quickstart:\n    source: dir:x\n",
			`backupd.yaml:1: jobs: expected a sequence, got a mapping`},
		{"jobs number", "jobs: 3\n",
			`backupd.yaml:1: jobs: expected a sequence, got a number`},
		{"job not a mapping", "jobs:\n  - quickstart\n",
			`backupd.yaml:2: jobs[0]: expected a mapping, got a string`},
		{"destinations sequence", "destinations:\n  - local\n",
			`backupd.yaml:1: destinations: expected a mapping, got a sequence`},
		{"job destinations scalar", strings.Replace(valid, "[local]", "local", 1),
			`backupd.yaml:7: jobs[0].destinations: expected a sequence, got a string`},
		{"destination entry not a mapping", "destinations:\n  local: file:x\n",
			`backupd.yaml:2: destinations.local: expected a mapping, got a string`},
		{"top level sequence", "- a\n- b\n",
			`backupd.yaml:1: expected a mapping, got a sequence`},
		{"top level scalar", "hello\n",
			`backupd.yaml:1: expected a mapping, got a string`},

		// Values.
		{"cron", valid + "    schedule: 61 * * * *\n",
			`backupd.yaml:8: jobs[0].schedule: invalid cron expression "61 * * * *": minute field "61": 61 is out of range 0-59`},
		{"cron list item out of range", valid + "    schedule: 5,61 * * * *\n",
			`backupd.yaml:8: jobs[0].schedule: invalid cron expression "5,61 * * * *": minute field "5,61": 61 is out of range 0-59`},
		{"cron too few fields", valid + "    schedule: '* * *'\n",
			`backupd.yaml:8: jobs[0].schedule: invalid cron expression "* * *": want 5 fields (minute hour day-of-month month day-of-week) or 6 (with a leading second), got 3`},
		{"cron seven fields", valid + "    schedule: '0 0 0 1 1 * 2030'\n",
			`backupd.yaml:8: jobs[0].schedule: invalid cron expression "0 0 0 1 1 * 2030": want 5 fields (minute hour day-of-month month day-of-week) or 6 (with a leading second), got 7`},
		{"cron unknown preset", valid + "    schedule: '@every 5m'\n",
			`backupd.yaml:8: jobs[0].schedule: invalid cron expression "@every 5m": unknown macro "@every 5m" (want @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)`},
		{"timezone", valid + "    timezone: Europe/Berln\n",
			`backupd.yaml:8: jobs[0].timezone: unknown time zone "Europe/Berln" (want an IANA name such as "Europe/Berlin" or "UTC")`},
		{"timezone Local", valid + "    timezone: Local\n",
			`backupd.yaml:8: jobs[0].timezone: time zone "Local" is not allowed (want an IANA name such as "Europe/Berlin" or "UTC")`},
		{"compression", valid + "    compression: lz4\n",
			`backupd.yaml:8: jobs[0].compression: invalid compression "lz4" (want zstd, gzip or none)`},
		{"log level", "log_level: verbose\n" + valid,
			`backupd.yaml:1: log_level: invalid log level "verbose" (want debug, info, warn or error)`},
		{"timeout zero", valid + "    timeout: 0s\n",
			`backupd.yaml:8: jobs[0].timeout: must be greater than 0, got 0s (leave it out for no timeout)`},
		{"timeout negative", valid + "    timeout: -1h\n",
			`backupd.yaml:8: jobs[0].timeout: must be greater than 0, got -1h0m0s (leave it out for no timeout)`},
		{"timeout without unit", valid + "    timeout: 30\n",
			`backupd.yaml:8: jobs[0].timeout: invalid duration "30" (want a number with a unit, such as "90s" or "2h30m")`},
		{"timeout garbage", valid + "    timeout: 2x\n",
			`backupd.yaml:8: jobs[0].timeout: invalid duration "2x" (want a number with a unit, such as "90s" or "2h30m")`},

		// Names and references.
		{"job name missing", "destinations:\n  local: {url: 'file:x'}\njobs:\n  - source: dir:x\n    destinations: [local]\n",
			`backupd.yaml:4: jobs[0].name: required`},
		{"job name pattern", strings.Replace(valid, "quickstart", "Quick Start", 1),
			`backupd.yaml:5: jobs[0].name: invalid job name "Quick Start" (want lower-case letters, digits, '_' and '-', starting with a letter or digit, at most 63 characters)`},
		{"job name too long", strings.Replace(valid, "quickstart", strings.Repeat("a", 64), 1),
			`backupd.yaml:5: jobs[0].name: invalid job name "` + strings.Repeat("a", 64) + `" (want lower-case letters, digits, '_' and '-', starting with a letter or digit, at most 63 characters)`},
		{"job name duplicate", valid + "  - name: quickstart\n    source: dir:y\n    destinations: [local]\n",
			`backupd.yaml:8: jobs[1].name: duplicate job name "quickstart" (first used at line 5)`},
		{"source missing", "destinations:\n  local: {url: 'file:x'}\njobs:\n  - name: a\n    destinations: [local]\n",
			`backupd.yaml:4: jobs[0].source: required`},
		{"source null", "destinations:\n  local: {url: 'file:x'}\njobs:\n  - name: a\n    destinations: [local]\n    source:\n",
			`backupd.yaml:6: jobs[0].source: required`},
		{"destination url missing", "destinations:\n  local: {}\n",
			`backupd.yaml:2: destinations.local.url: required`},
		{"destination name pattern", "destinations:\n  Off Site: {url: 's3://b'}\n",
			`backupd.yaml:2: destinations["Off Site"]: invalid destination name "Off Site" (want lower-case letters, digits, '_' and '-', starting with a letter or digit, at most 63 characters)`},
		{"job destinations missing", "destinations:\n  local: {url: 'file:x'}\njobs:\n  - name: a\n    source: dir:x\n",
			`backupd.yaml:4: jobs[0].destinations: at least one destination is required`},
		{"duplicate key in a list item", valid + "    destinations: []\n",
			`backupd.yaml:8: jobs[0].destinations: duplicate key (first at line 7)`},
		{"job destinations empty list", strings.Replace(valid, "[local]", "[]", 1),
			`backupd.yaml:7: jobs[0].destinations: at least one destination is required`},
		{"unknown destination", strings.Replace(valid, "[local]", "[local, lcoal, remote]", 1),
			`backupd.yaml:7: jobs[0].destinations[1]: unknown destination "lcoal" (did you mean "local"? known destinations: local)` + "\n" +
				`backupd.yaml:7: jobs[0].destinations[2]: unknown destination "remote" (known destinations: local)`},
		{"duplicate destination", strings.Replace(valid, "[local]", "\n      - local\n      - local", 1),
			`backupd.yaml:9: jobs[0].destinations[1]: duplicate destination "local"`},

		// Prefix.
		{"prefix absolute", valid + "    prefix: /a\n", prefixErr("/a")},
		{"prefix trailing slash", valid + "    prefix: a/\n", prefixErr("a/")},
		{"prefix double slash", valid + "    prefix: a//b\n", prefixErr("a//b")},
		{"prefix dotdot", valid + "    prefix: a/../b\n", prefixErr("a/../b")},
		{"prefix only dotdot", valid + "    prefix: ..\n", prefixErr("..")},
		{"prefix dot", valid + "    prefix: .\n", prefixErr(".")},
		{"prefix backslash", valid + "    prefix: 'a\\b'\n", prefixErr(`a\b`)},

		// URLs.
		{"url without scheme", strings.Replace(valid, "file:backups", "backups", 1),
			`backupd.yaml:3: destinations.local.url: URL has no scheme (want scheme:path or scheme://host/path, such as "file:backups")`},
		{"store url invalid", "store: 'postgres://u:p@h:port/db'\n" + valid,
			`backupd.yaml:1: store: invalid URL "postgres://xxxxx": invalid port after host`},

		// Environment.
		{"unset variable", strings.Replace(valid, "dir:data", "dir:${DATA_DIR}", 1),
			`backupd.yaml:6: jobs[0].source: environment variable DATA_DIR is not set (use ${DATA_DIR:-default} to give a default)`},
		{"unterminated reference", strings.Replace(valid, "dir:data", "dir:${DATA_DIR", 1),
			`backupd.yaml:6: jobs[0].source: unterminated "${" (use "$$" for a literal "$")`},
		{"invalid reference", strings.Replace(valid, "dir:data", "dir:${DATA DIR}", 1),
			`backupd.yaml:6: jobs[0].source: invalid variable reference: want ${NAME} or ${NAME:-default}, NAME made of letters, digits and "_" (use "$$" for a literal "$")`},
		{"unset variable in list item", strings.Replace(valid, "[local]", "[local, '${DEST}']", 1),
			`backupd.yaml:7: jobs[0].destinations[1]: environment variable DEST is not set (use ${DEST:-default} to give a default)`},

		// YAML itself.
		{"syntax", "log_level: info\njobs: x\n  name: a\n",
			`backupd.yaml:3: invalid YAML: mapping values are not allowed in this context`},
		{"syntax without line", "\t a: 1",
			`backupd.yaml: invalid YAML: found character that cannot start any token`},
		{"two documents", valid + "---\nlog_level: debug\n",
			`backupd.yaml:8: a second YAML document is not allowed (remove the "---")`},
		{"merge of a scalar", "jobs:\n  - name: a\n    <<: 3\n",
			`backupd.yaml:3: jobs[0].<<: expected a mapping to merge, got a number`},
		{"merge of itself", "destinations:\n  d: &d\n    <<: *d\n",
			`backupd.yaml:2: destinations.d.<<: mapping merges itself`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, parseErr(t, tt.src, nil))
		})
	}
}

func prefixErr(p string) string {
	return `backupd.yaml:8: jobs[0].prefix: invalid prefix "` + strings.ReplaceAll(p, `\`, `\\`) +
		`" (want a clean relative path such as "team/db": no leading or trailing "/", no empty, "." or ".." elements, no "\")`
}

func TestParseEmpty(t *testing.T) {
	t.Parallel()
	for _, src := range []string{"", "\n  \n", "# just a comment\n", "---\n", "~\n", "null\n"} {
		assert.Equal(t, `backupd.yaml: config is empty (want a mapping with "destinations" and "jobs")`, parseErr(t, src, nil), "%q", src)
	}
}

// TestParseAllErrors checks that every problem is reported, sorted by line,
// and that type errors are not reported a second time by validation.
func TestParseAllErrors(t *testing.T) {
	t.Parallel()
	src := `store: x
log_level: verbose
destinations:
  Local:
    uri: x
  a: {url: 'mysql://u:secret/db'}
jobs:
  - name: Foo
    destinatons: [a]
    schedule: 61 * * * *
    timeout: [1]
    source: ${NOPE}
  - name: ok
    source: dir:x
    destinations: [a, a, b]
    timezone: Europe/Berln
    prefix: a//b
    timeout: 0s
    compression: lz4
    name: dup
`
	want := `backupd.yaml:1: store: URL has no scheme (want scheme:path or scheme://host/path, such as "file:backups")
backupd.yaml:2: log_level: invalid log level "verbose" (want debug, info, warn or error)
backupd.yaml:4: destinations.Local: invalid destination name "Local" (want lower-case letters, digits, '_' and '-', starting with a letter or digit, at most 63 characters)
backupd.yaml:4: destinations.Local.url: required
backupd.yaml:5: destinations.Local.uri: unknown key (did you mean "url"?)
backupd.yaml:6: destinations.a.url: invalid URL "mysql://xxxxx": invalid port after host
backupd.yaml:8: jobs[0].name: invalid job name "Foo" (want lower-case letters, digits, '_' and '-', starting with a letter or digit, at most 63 characters)
backupd.yaml:8: jobs[0].destinations: at least one destination is required
backupd.yaml:9: jobs[0].destinatons: unknown key (did you mean "destinations"?)
backupd.yaml:10: jobs[0].schedule: invalid cron expression "61 * * * *": minute field "61": 61 is out of range 0-59
backupd.yaml:11: jobs[0].timeout: expected a duration such as "2h", got a sequence
backupd.yaml:12: jobs[0].source: environment variable NOPE is not set (use ${NOPE:-default} to give a default)
backupd.yaml:15: jobs[1].destinations[1]: duplicate destination "a"
backupd.yaml:15: jobs[1].destinations[2]: unknown destination "b" (did you mean "a"? known destinations: Local, a)
backupd.yaml:16: jobs[1].timezone: unknown time zone "Europe/Berln" (want an IANA name such as "Europe/Berlin" or "UTC")
backupd.yaml:17: jobs[1].prefix: invalid prefix "a//b" (want a clean relative path such as "team/db": no leading or trailing "/", no empty, "." or ".." elements, no "\")
backupd.yaml:18: jobs[1].timeout: must be greater than 0, got 0s (leave it out for no timeout)
backupd.yaml:19: jobs[1].compression: invalid compression "lz4" (want zstd, gzip or none)
backupd.yaml:20: jobs[1].name: duplicate key (first at line 13)`
	_, err := Parse([]byte(src), "/cfg", "backupd.yaml")
	require.Error(t, err)
	assert.Equal(t, want, err.Error())

	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, Error{File: "backupd.yaml", Line: 1, Path: "store", Msg: `URL has no scheme (want scheme:path or scheme://host/path, such as "file:backups")`}, *e)
}

// TestErrorsHideSecrets checks that no message quotes a password, even when
// it comes from the environment or the URL does not parse.
func TestErrorsHideSecrets(t *testing.T) {
	t.Parallel()
	const secret = "s3cr#t: pa$$"
	env := map[string]string{"PW": secret}
	for _, src := range []string{
		"store: 'postgres://user:${PW}@db/x'\n",               // '#' makes the rest a fragment; port invalid
		"store: 'mysql://user:${PW}/db'\n",                    // forgot the host: password parsed as port
		"store: 'mysql://user:hunter2/db'\n",                  // same, literal
		"store: 'mysql://user:hunter2@h/%zz'\n",               // bad escape in path
		"store: \"mysql://user:hunter2@h/db\\x01\"\n",         // control character
		"store: 'mysql://user:hunter2@[::1/db'\n",             // bad host
		"store: '//user:hunter2@host/db'\n",                   // no scheme
		"store: 'postgres://user:${PW}@db/x'\nlog_level: x\n", // several errors
	} {
		msg := parseErr(t, src, env)
		assert.NotContains(t, msg, "s3cr", src)
		assert.NotContains(t, msg, "hunter2", src)
		assert.Contains(t, msg, "backupd.yaml:1: store: ", src)
	}
}

func TestEnvInValues(t *testing.T) {
	t.Parallel()
	env := envMap(map[string]string{
		"JOB":    "shop",
		"PW":     "p#ss: w{o}rd - [x]: 'y'", // would break the YAML if it were parsed again
		"EMPTY":  "",
		"DEST":   "local",
		"BUCKET": "b",
	})
	src := `destinations:
  local:
    url: s3://${BUCKET}/${JOB}?region=${REGION:-eu-west-1}
jobs:
  - name: ${JOB}-db
    source: mysql://root@h/${JOB}
    destinations: ["${DEST}"]
    prefix: ${EMPTY:-team}/$${JOB}
    schedule: ${SCHEDULE:-@daily}
  - name: ${NAME:-${JOB}-files}
    source: dir:///x
    destinations: [local]
    prefix: '${PW}'
    ${KEY}: 1
`
	_, err := Options{LookupEnv: env}.Parse([]byte(src), "/cfg", "backupd.yaml")
	require.Error(t, err)
	assert.Equal(t, `backupd.yaml:14: jobs[1]["${KEY}"]: unknown key`, err.Error(), "keys are not expanded")

	cfg, err := Options{LookupEnv: env}.Parse([]byte(strings.Replace(src, "    ${KEY}: 1\n", "", 1)), "/cfg", "backupd.yaml")
	require.NoError(t, err)
	assert.Equal(t, "s3://b/shop?region=eu-west-1", cfg.Destinations["local"].URL)
	assert.Equal(t, "shop-db", cfg.Jobs[0].Name)
	assert.Equal(t, "mysql://root@h/shop", cfg.Jobs[0].Source)
	assert.Equal(t, []string{"local"}, cfg.Jobs[0].Destinations)
	assert.Equal(t, "team/${JOB}", cfg.Jobs[0].Prefix)
	assert.Equal(t, "@daily", cfg.Jobs[0].Schedule)
	assert.Equal(t, "shop-files", cfg.Jobs[1].Name)
	assert.Equal(t, "p#ss: w{o}rd - [x]: 'y'", cfg.Jobs[1].Prefix)
}

func TestEnvAliasReportedOnce(t *testing.T) {
	t.Parallel()
	src := `destinations:
  a: {url: &u "file:${NOPE}"}
  b: {url: *u}
`
	assert.Equal(t, `backupd.yaml:2: destinations.a.url: environment variable NOPE is not set (use ${NOPE:-default} to give a default)`, parseErr(t, src, nil))
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "backupd.yaml")
	require.NoError(t, os.WriteFile(path, []byte(valid), 0o600))

	cfg, err := Load(path)
	require.NoError(t, err)
	want, err := ResolveURL("dir:data", dir)
	require.NoError(t, err)
	assert.Equal(t, want, cfg.Jobs[0].Source, "resolved against the file's folder")
	assert.True(t, strings.HasPrefix(cfg.Store, "sqlite:///"), cfg.Store)

	require.NoError(t, os.WriteFile(path, []byte(valid+"  - name: x\n"), 0o600))
	_, err = Load(path)
	assert.EqualError(t, err, path+`:8: jobs[1].source: required`+"\n"+path+`:8: jobs[1].destinations: at least one destination is required`)
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(path)
	assert.EqualError(t, err, "config file "+path+": no such file")
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

func TestLoadEmptyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "backupd.yaml")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	_, err := Load(path)
	assert.EqualError(t, err, path+`: config is empty (want a mapping with "destinations" and "jobs")`)
}

func TestLoadDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := Load(dir)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "config file "+dir+": "), err.Error())
	assert.False(t, errors.Is(err, fs.ErrNotExist))
}

func TestParseDefaultName(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte("x: 1\n"), "", "")
	assert.EqualError(t, err, "config:1: x: unknown key")
}
