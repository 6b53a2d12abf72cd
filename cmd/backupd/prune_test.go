package main_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/store"
	"github.com/backupkit/backupkit/store/sqlstore"
)

func TestPruneProtectThroughTheBinary(t *testing.T) {
	dir := quickstart(t, "")
	var ids []string
	for range 3 {
		r := backupd(t, dir, "backup", "--config", "backupd.yaml", "quickstart")
		require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
		ids = append(ids, backupIDRE.FindStringSubmatch(r.stdout)[1])
	}

	// Without a policy everything is kept.
	r := backupd(t, dir, "prune", "--config", "backupd.yaml", "quickstart", "--dry-run")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "no retention policy")
	assert.Equal(t, 3, strings.Count(r.stdout, "KEEP"))

	cfg := filepath.Join(dir, "backupd.yaml")
	data, err := os.ReadFile(cfg)
	require.NoError(t, err)
	data = append(data, "    retention:\n      keep_last: 1\n"...)
	require.NoError(t, os.WriteFile(cfg, data, 0o644))

	r = backupd(t, dir, "protect", "--config", "backupd.yaml", ids[0], "--reason", "audit")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "backup "+ids[0]+" protected")
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dir, "backupd.db"))
	require.NoError(t, err)
	audit, err := st.ListAudit(context.Background(), store.AuditFilter{Action: "backup.protect"})
	require.NoError(t, err)
	require.NoError(t, st.Close())
	require.Len(t, audit, 1)
	assert.Equal(t, ids[0], audit[0].Target)
	assert.Contains(t, audit[0].Actor, "cli:")
	assert.JSONEq(t, `{"reason":"audit","via":"cli"}`, string(audit[0].Details))

	r = backupd(t, dir, "prune", "--config", "backupd.yaml", "--dry-run", "quickstart")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `(?m)^ID\s+CREATED\s+SIZE\s+ACTION\s+REASONS$`, r.stdout)
	assert.Regexp(t, regexp.MustCompile(`(?m)^`+ids[2]+`\s.*KEEP\s+newest successful; last 1$`), r.stdout)
	assert.Regexp(t, regexp.MustCompile(`(?m)^`+ids[1]+`\s.*DELETE\s+no rule keeps it$`), r.stdout)
	assert.Regexp(t, regexp.MustCompile(`(?m)^`+ids[0]+`\s.*KEEP\s+protected$`), r.stdout)
	assert.Contains(t, r.stdout, "dry run: would delete 1 of 3 backups")

	r = backupd(t, dir, "prune", "--config", "backupd.yaml", "quickstart")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "deleted 1 of 1 backups; keeping 2")
	r = backupd(t, dir, "list", "--config", "backupd.yaml")
	assert.NotContains(t, r.stdout, ids[1])
	assert.Contains(t, r.stdout, ids[0])

	// Unprotected, the oldest goes with the next backup's automatic prune.
	r = backupd(t, dir, "unprotect", "--config", "backupd.yaml", ids[0])
	require.Equal(t, 0, r.code, r.stderr)
	r = backupd(t, dir, "backup", "--config", "backupd.yaml", "quickstart")
	require.Equal(t, 0, r.code, r.stderr)
	last := backupIDRE.FindStringSubmatch(r.stdout)[1]
	r = backupd(t, dir, "list", "--config", "backupd.yaml")
	assert.Equal(t, 1, strings.Count(r.stdout, "quickstart"), r.stdout)
	assert.Contains(t, r.stdout, last)

	r = backupd(t, dir, "protect", "--config", "backupd.yaml", "nope")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "not found")
	r = backupd(t, dir, "prune", "--config", "backupd.yaml")
	assert.Equal(t, 2, r.code)
}
