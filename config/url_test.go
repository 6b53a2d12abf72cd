package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestResolveURL(t *testing.T) {
	t.Parallel()
	base := filepath.Join(string(filepath.Separator), "etc", "backupd")
	tests := []struct{ raw, want string }{
		// Relative opaque paths are resolved.
		{"dir:data", "dir:///etc/backupd/data"},
		{"sqlite:backupd.db", "sqlite:///etc/backupd/backupd.db"},
		{"file:backups/daily/", "file:///etc/backupd/backups/daily"},
		{"file:./a/../b", "file:///etc/backupd/b"},
		{"file:../shared", "file:///etc/shared"},
		{"sqlite:state.db?_pragma=busy_timeout(5000)&mode=rwc", "sqlite:///etc/backupd/state.db?_pragma=busy_timeout(5000)&mode=rwc"},
		{"dir:data#frag", "dir:///etc/backupd/data#frag"},
		{"dir:my%20data", "dir:///etc/backupd/my%20data"},
		{"dir:my data", "dir:///etc/backupd/my%20data"},
		{"DIR:data", "dir:///etc/backupd/data"},
		// Absolute paths, hosts and empty paths are left alone.
		{"dir:/srv/data", "dir:/srv/data"},
		{"dir:///srv/data", "dir:///srv/data"},
		{"file://localhost/srv/x", "file://localhost/srv/x"},
		{"s3://bucket/prefix?region=eu-west-1", "s3://bucket/prefix?region=eu-west-1"},
		{"mysql://user:p%40ss@db:3306/shop", "mysql://user:p%40ss@db:3306/shop"},
		{"postgres://u@h/db?sslmode=disable", "postgres://u@h/db?sslmode=disable"},
		{"dir:", "dir:"},
	}
	for _, tt := range tests {
		got, err := ResolveURL(tt.raw, base)
		require.NoError(t, err, tt.raw)
		if filepath.Separator == '/' {
			assert.Equal(t, tt.want, got, tt.raw)
		}
		again, err := ResolveURL(got, base)
		require.NoError(t, err, got)
		assert.Equal(t, got, again, "resolving is idempotent")
	}
}

func TestResolveURLWorkingDirectory(t *testing.T) {
	t.Parallel()
	wd, err := os.Getwd()
	require.NoError(t, err)
	got, err := ResolveURL("dir:data", "")
	require.NoError(t, err)
	want, err := ResolveURL("dir:data", wd)
	require.NoError(t, err)
	assert.Equal(t, want, got)

	got, err = ResolveURL("dir:data", "relative/base")
	require.NoError(t, err)
	want, err = ResolveURL("dir:data", filepath.Join(wd, "relative", "base"))
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func TestResolveURLErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ raw, want string }{
		{"backups", `URL has no scheme (want scheme:path or scheme://host/path, such as "file:backups")`},
		{"", `URL has no scheme (want scheme:path or scheme://host/path, such as "file:backups")`},
		{"//user:hunter2@host/x", `URL has no scheme (want scheme:path or scheme://host/path, such as "file:backups")`},
		{"mysql://user:hunter2/db", `invalid URL "mysql://xxxxx": invalid port after host`},
		{"s3://key:hunter2@bucket/%zz?secret_key=hunter2", `invalid URL "s3://xxxxx": invalid URL escape`},
		{"dir:data%zz", `invalid URL: invalid escape in path`},
		{"://x", `invalid URL "xxxxx": missing protocol scheme`},
	}
	for _, tt := range tests {
		_, err := ResolveURL(tt.raw, "/base")
		assert.EqualError(t, err, tt.want, tt.raw)
	}
}
