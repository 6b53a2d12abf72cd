package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/config"
	"github.com/backupkit/backupkit/internal/s3util/s3test"
	"github.com/backupkit/backupkit/notify"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/store"
)

// TestSecretsDoNotLeak runs backups (encrypted to a recipient and with a
// passphrase), a failing run, restores (right, missing and wrong identities),
// a broken configuration and the list and runs commands, with known secrets in
// every destination URL, in the passphrase and in the identity; it collects
// the logs, run logs, events, manifests, catalog records and command output,
// and looks for the secrets in all of them.
func TestSecretsDoNotLeak(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	other, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	secrets := []string{
		"pw-Alpha1137", "tok-Bravo2242", "sig-Charlie3354", "key-Delta4461", "pw-Echo5578",
		"pass-Foxtrot6689", id.String(), other.String(),
		"sak-Hotel8892", "st-India9903", "sak-Juliet1024",
	}
	const accessKeyID = "AKID-Golf7781" // an identifier, shown like a user name
	srv := s3test.Fake(t)
	bucket := s3test.NewBucket(t, srv)
	client := srv.Client(t)
	gone := bucket + "-gone" // deleted after the runtime opened it
	_, err = client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(gone)})
	require.NoError(t, err)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	require.NoError(t, os.MkdirAll(data, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello secret world\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pass.txt"), []byte(secrets[5]+"\n"), 0o600))
	name := strings.ToLower(t.Name())
	cfgText := fmt.Sprintf(`store: sqlite:backupd.db
log_level: debug
destinations:
  one:
    url: mem://backup:%s@%s-one/x?token=%s&region=eu
  two:
    url: mem://:%s@%s-two?X-Amz-Signature=%s&api_key=%s
  s3:
    url: s3://%s/pre?endpoint=%s&path_style=true&region=us-east-1&access_key_id=%s&secret_access_key=%s&session_token=%s
  gone:
    url: s3://%s/pre?endpoint=%s&path_style=true&region=us-east-1&max_attempts=1&access_key_id=%s&secret_access_key=%s
jobs:
  - name: pub
    source: dir:data
    destinations: [one, two, s3]
    encryption:
      recipients: [%s]
  - name: pass
    source: dir:data
    destinations: [two]
    encryption:
      passphrase: ${LEAK_PASS}
      work_factor: 10
  - name: filepass
    source: dir:data
    destinations: [one]
    encryption:
      passphrase_file: pass.txt
      work_factor: 10
  - name: broken
    source: dir:missing
    destinations: [one]
  - name: partial
    source: dir:data
    destinations: [s3, gone]
`, secrets[0], name, secrets[1], secrets[4], name, secrets[2], secrets[3],
		bucket, srv.Endpoint, accessKeyID, secrets[8], secrets[9], gone, srv.Endpoint, accessKeyID, secrets[10], id.Recipient())
	cfgPath := filepath.Join(dir, "backupd.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfgText), 0o600))
	t.Setenv("LEAK_PASS", secrets[5])
	t.Setenv("BACKUPD_AGE_IDENTITY", "")
	t.Setenv("BACKUPD_AGE_IDENTITY_FILE", "")

	var seen []string // everything that must not hold a secret
	add := func(what string, v any) {
		switch v := v.(type) {
		case string:
			seen = append(seen, what+": "+v)
		default:
			j, err := json.Marshal(v)
			require.NoError(t, err)
			seen = append(seen, what+": "+string(j)+" "+fmt.Sprintf("%+v", v))
		}
	}

	// In process: the engine's logs, events, run logs and manifests.
	ctx := context.Background()
	cfg, err := config.Load(cfgPath)
	require.NoError(t, err)
	// The Config itself holds the URLs as written (it is the input); what is
	// made of it must not.
	var logs syncBuf
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rt, err := config.Open(ctx, cfg, &config.OpenOptions{Logger: logger})
	require.NoError(t, err)
	s3test.EmptyAndDelete(t.Context(), client, gone)
	var evMu sync.Mutex
	var events []notify.Event
	cancel := rt.Engine.Subscribe(func(e notify.Event) { evMu.Lock(); events = append(events, e); evMu.Unlock() })
	backups := map[string]string{}
	for _, j := range rt.Jobs {
		add("job", j.Job)
		res, err := rt.Engine.Run(ctx, j.Job, backup.RunOptions{TriggeredBy: "leak-test"})
		if j.Job.Name == "broken" || j.Job.Name == "partial" {
			require.Error(t, err)
			add("run error", err.Error())
			if j.Job.Name == "partial" {
				require.Equal(t, store.RunPartial, res.Run.Status, "%v", err)
			}
		} else {
			require.NoError(t, err, j.Job.Name)
			backups[j.Job.Name] = res.Backup.ID
		}
		if res != nil {
			add("result", res)
		}
	}
	pub, _ := rt.Job("pub")
	target := func() string { return filepath.Join(t.TempDir(), "restore") }
	require.NoError(t, rt.Engine.Restore(ctx, pub.Job, backups["pub"], backup.RestoreOptions{
		RestoreOptions: source.RestoreOptions{Target: target()}, Identities: []age.Identity{id}}))
	for _, ids := range [][]age.Identity{nil, {other}} {
		err := rt.Engine.Restore(ctx, pub.Job, backups["pub"], backup.RestoreOptions{
			RestoreOptions: source.RestoreOptions{Target: target()}, Identities: ids})
		require.ErrorIs(t, err, backup.ErrIdentity)
		assert.Contains(t, err.Error(), id.Recipient().String())
		add("restore error", err.Error())
	}
	for _, name := range []string{"pass", "filepass"} {
		j, _ := rt.Job(name)
		require.NoError(t, rt.Engine.Restore(ctx, j.Job, backups[name], backup.RestoreOptions{
			RestoreOptions: source.RestoreOptions{Target: target()}}))
	}
	cancel()
	add("events", events)
	runs, err := rt.Store.ListRuns(ctx, store.RunFilter{Limit: 100})
	require.NoError(t, err)
	add("runs", runs)
	for _, r := range runs {
		lines, err := rt.Store.RunLogs(ctx, r.ID)
		require.NoError(t, err)
		require.NotEmpty(t, lines)
		add("run log "+r.ID, lines)
	}
	cat, err := rt.Store.ListBackups(ctx, store.BackupFilter{})
	require.NoError(t, err)
	add("catalog", cat)
	manifests := 0
	for name, d := range rt.Destinations {
		if name == "gone" {
			continue
		}
		for o, err := range d.List(ctx, "") {
			require.NoError(t, err)
			if strings.HasSuffix(o.Key, backup.ManifestSuffix) {
				r, err := d.Open(ctx, o.Key)
				require.NoError(t, err)
				m, err := io.ReadAll(r)
				r.Close()
				require.NoError(t, err)
				add("manifest "+name+" "+o.Key, string(m))
				manifests++
			}
		}
	}
	assert.Equal(t, 6, manifests)
	add("runtime", fmt.Sprintf("%+v %v", rt, rt.StoreURL))
	require.NoError(t, rt.Close())
	add("engine log", logs.String())

	// Through the command line, with the bucket back so that it opens.
	_, err = client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(gone)})
	require.NoError(t, err)
	t.Cleanup(func() { s3test.EmptyAndDelete(context.Background(), client, gone) })
	cli := func(env map[string]string, args ...string) {
		for k, v := range env {
			t.Setenv(k, v)
		}
		var stdout, stderr bytes.Buffer
		err := run(ctx, append(args, "--config", cfgPath), &stdout, &stderr)
		exitCode(err, &stderr)
		add("backupd "+strings.Join(args, " "), stdout.String()+stderr.String())
	}
	cli(nil, "backup", "pub")
	cli(nil, "backup", "pass")
	cli(nil, "backup", "broken")
	cli(nil, "backup", "partial")
	cli(nil, "list")
	cli(nil, "runs", "--limit", "100")
	cli(map[string]string{"BACKUPD_AGE_IDENTITY": id.String()}, "restore", "--target", target(), backups["pub"])
	cli(map[string]string{"BACKUPD_AGE_IDENTITY": other.String()}, "restore", "--target", target(), backups["pub"])
	cli(map[string]string{"BACKUPD_AGE_IDENTITY": "AGE-SECRET-KEY-1" + secrets[0]}, "restore", "--target", target(), backups["pub"])
	cli(map[string]string{"BACKUPD_AGE_IDENTITY": ""}, "restore", "--target", target(), backups["pub"])
	cli(nil, "restore", "--target", target(), backups["pass"])
	idFile := filepath.Join(dir, "backup.key")
	require.NoError(t, os.WriteFile(idFile, []byte("# created: today\n# public key: "+id.Recipient().String()+"\n"+id.String()+"\n"), 0o600))
	cli(nil, "restore", "--identity", idFile, "--target", target(), backups["pub"])
	cli(map[string]string{"BACKUPD_AGE_IDENTITY_FILE": idFile}, "restore", "--target", target(), backups["pub"])

	// A configuration the registry refuses, and one that does not parse.
	for i, bad := range []string{
		strings.Replace(cfgText, "mem://backup:", "bogus://backup:", 1),
		strings.Replace(cfgText, "mem://:", "mem://:%zz", 1),
		strings.Replace(cfgText, "endpoint="+srv.Endpoint, "endpoint=http://127.0.0.1:1&max_attempts=1", 1),
	} {
		p := filepath.Join(dir, fmt.Sprintf("bad%d.yaml", i))
		require.NoError(t, os.WriteFile(p, []byte(bad), 0o600))
		var stdout, stderr bytes.Buffer
		err := run(ctx, []string{"list", "--config", p}, &stdout, &stderr)
		require.Error(t, err)
		exitCode(err, &stderr)
		add("bad config", stdout.String()+stderr.String())
	}

	all := strings.Join(seen, "\n")
	for _, s := range secrets {
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s)} {
			for _, text := range seen {
				if strings.Contains(text, form) {
					t.Errorf("secret %q shows in %s", form, text)
				}
			}
		}
	}
	// The checks above looked at something real.
	assert.Contains(t, all, "run succeeded")
	assert.Contains(t, all, "run failed")
	assert.Contains(t, all, "run partial")
	assert.Contains(t, all, "127.0.0.1:1", "the unreachable destination's error is in the output")
	assert.Contains(t, all, gone, "the deleted bucket's error is in the output")
	assert.Contains(t, all, id.Recipient().String())
	assert.Equal(t, 4, strings.Count(all, "restored into"), "CLI restores with the identity from the environment, from --identity, from $BACKUPD_AGE_IDENTITY_FILE, and with the passphrase")
	assert.Contains(t, all, "--identity FILE")
	if t.Failed() {
		t.Logf("collected:\n%s", all)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) { b.mu.Lock(); defer b.mu.Unlock(); return b.b.Write(p) }
func (b *syncBuf) String() string              { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }
