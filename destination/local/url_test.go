package local

import (
	"io/fs"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/destination"
)

func TestOpenURL(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the URLs below use Unix paths")
	}
	base := t.TempDir()
	t.Chdir(base)
	cases := []struct {
		url, root string
	}{
		{"file:///var/backups", "/var/backups"},
		{"file:/var/backups", "/var/backups"},
		{"file://localhost/var/backups", "/var/backups"},
		{"FILE://LocalHost/var/backups/", "/var/backups"},
		{"file:///var/my%20backups", "/var/my backups"},
		{"file:relative/path", filepath.Join(base, "relative", "path")},
		{"file:my%20dir", filepath.Join(base, "my dir")},
		{"file:./here", filepath.Join(base, "here")},
		{"file:../up", filepath.Join(filepath.Dir(base), "up")},
		{"file:///", "/"},
	}
	for _, c := range cases {
		t.Run(c.url, func(t *testing.T) {
			d, err := destination.Open(t.Context(), c.url)
			require.NoError(t, err)
			f, ok := d.(*Folder)
			require.True(t, ok, "destination.Open(%q) returned %T", c.url, d)
			require.Equal(t, c.root, f.Root())
		})
	}
}

func TestOpenURLOptions(t *testing.T) {
	dir := t.TempDir()
	d, err := destination.Open(t.Context(), "file://"+dir+"?file_mode=0600&dir_mode=0700&must_exist=true")
	require.NoError(t, err)
	f := d.(*Folder)
	require.Equal(t, fs.FileMode(0o600), f.fileMode)
	require.Equal(t, fs.FileMode(0o700), f.dirMode)
	require.True(t, f.mustExist)

	_, err = destination.Open(t.Context(), "file://"+filepath.Join(dir, "missing")+"?must_exist=1")
	require.ErrorIs(t, err, destination.ErrNotExist)
}

func TestOpenURLErrors(t *testing.T) {
	cases := map[string]string{ // URL: text the error must contain
		"file://backupserver/var/backups":         `"backupserver"`,
		"file://localhost:8080/x":                 `"localhost:8080"`,
		"file://user:hunter2@localhost/x":         "user name",
		"file://":                                 "needs a path",
		"file:":                                   "needs a path",
		"file:///x#frag":                          "fragment",
		"file:///x?bogus=1":                       `"bogus"`,
		"file:///x?must_exist=maybe":              "must_exist",
		"file:///x?file_mode=999":                 "file_mode",
		"file:///x?dir_mode=01777":                "dir_mode",
		"file:///x?file_mode=0600&file_mode=0640": "2 times",
		"file:bad%zzescape":                       "path",
	}
	for u, want := range cases {
		t.Run(u, func(t *testing.T) {
			_, err := destination.Open(t.Context(), u)
			require.Error(t, err)
			require.ErrorContains(t, err, want)
			require.NotContains(t, err.Error(), "hunter2", "secrets stay out of errors")
		})
	}
}

func TestSchemeRegistered(t *testing.T) {
	require.Contains(t, destination.Schemes(), Scheme)
}
