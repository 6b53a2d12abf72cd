package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunsBriefly starts the app as main does, with the uploads job due
// every second, waits until the home page shows its successful runs, runs
// the settings job with the button, and stops the app.
func TestRunsBriefly(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-dir", t.TempDir(), "-uploads", "* * * * * *"}, pw)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err)
	base := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	go func() { _, _ = io.Copy(io.Discard, pr) }()

	get := func() string {
		resp, err := http.Get(base + "/")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(body)
	}
	uploads := func(page string) string { s, _, _ := strings.Cut(page, "<h2>settings</h2>"); return s }
	settings := func(page string) string { _, s, _ := strings.Cut(page, "<h2>settings</h2>"); return s }
	require.Eventually(t, func() bool { return strings.Count(uploads(get()), ">succeeded<") >= 2 }, time.Minute, 50*time.Millisecond,
		"two scheduled uploads backups")
	page := get()
	assert.Contains(t, settings(page), "no runs yet")
	assert.Contains(t, settings(page), "(Europe/Berlin)")

	// Run the settings job with the button (the client follows the redirect).
	resp, err := http.PostForm(base+"/run/settings", url.Values{})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	require.Eventually(t, func() bool { return strings.Contains(settings(get()), ">succeeded<") }, time.Minute, 50*time.Millisecond)
	resp, err = http.PostForm(base+"/run/nope", url.Values{})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("the app did not stop")
	}
}
