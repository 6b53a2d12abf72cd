package slack_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/notify"
	"github.com/backupkit/backupkit/notify/slack"
)

func TestSlackPostsABlockMessage(t *testing.T) {
	var bodies [][]byte
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, b)
		paths = append(paths, r.URL.Path)
		if strings.Contains(string(b), "fail-me") {
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	n, err := notify.Open(context.Background(), "slack+"+srv.URL+"/services/T0/B0/hook-SECRET?timeout=5s")
	require.NoError(t, err)
	e := notify.Event{Type: notify.RunFailed, Time: time.Unix(1_700_000_000, 0), Job: "shop", RunID: "r1",
		Elapsed: 3 * time.Second, Error: "source: <bad> & worse", Link: "https://backupd.example/runs/r1"}
	require.NoError(t, n.Notify(context.Background(), e))
	require.Len(t, bodies, 1)
	assert.Equal(t, "/services/T0/B0/hook-SECRET", paths[0])
	var m slack.Message
	require.NoError(t, json.Unmarshal(bodies[0], &m))
	assert.Equal(t, "backupkit: shop: run failed", m.Text)
	require.GreaterOrEqual(t, len(m.Blocks), 4)
	assert.Equal(t, "header", m.Blocks[0].Type)
	assert.Equal(t, "shop: run failed", m.Blocks[0].Text.Text)
	assert.Contains(t, m.Blocks[2].Text.Text, "source: &lt;bad&gt; &amp; worse")
	assert.Equal(t, "<https://backupd.example/runs/r1|Open the run>", m.Blocks[3].Elements[0].Text)

	err = n.Notify(context.Background(), notify.Event{Type: notify.RunFailed, Job: "fail-me"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "400")
	assert.NotContains(t, err.Error(), "SECRET")
}

func TestSlackErrorsHideTheWebhookURL(t *testing.T) {
	n, err := slack.New("http://127.0.0.1:1/services/T0/B0/hook-SECRET", nil)
	require.NoError(t, err)
	err = n.Notify(context.Background(), notify.Event{Type: notify.RunFailed, Job: "x"})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "SECRET")
}
