package sqlstore

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/store"

	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/store/storetest"
)

func TestMain(m *testing.M) {
	storetest.ChildMain()
	crashChild()
	os.Exit(m.Run())
}

// envCrashURL makes the test binary a crash child: it opens the store at the
// URL and dies (exit status 3) in the middle of AddBackup's transaction.
const envCrashURL = "BACKUPKIT_SQLSTORE_CRASH_URL"

func crashChild() {
	raw := os.Getenv(envCrashURL)
	if raw == "" {
		return
	}
	ctx := context.Background()
	db, err := Open(ctx, raw)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testHookAfterBackupRow = func() { os.Exit(3) }
	b := store.Backup{ID: "crashed", Job: "j", Copies: []store.Copy{{Destination: "d", Key: "k"}}}
	err = db.AddBackup(ctx, &b)
	fmt.Fprintln(os.Stderr, "AddBackup returned:", err)
	os.Exit(1)
}

// TestCrashMidTransaction kills a process between two writes of one
// transaction (a backup's row and its copies): the store stays consistent,
// with neither, on every dialect.
func TestCrashMidTransaction(t *testing.T) {
	for name, mk := range map[string]func(testing.TB) string{
		"sqlite":   func(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "store.db") },
		"postgres": testenv.FreshPostgresURL,
		"mysql":    testenv.FreshMySQLURL,
	} {
		t.Run(name, func(t *testing.T) {
			raw := mk(t)
			db := openURLTest(t, raw) // migrated before the child starts
			defer db.Close()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), envCrashURL+"="+raw)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "%s", out)
			require.Equal(t, 3, exit.ExitCode(), "the child died inside the transaction: %s", out)

			_, err = db.GetBackup(t.Context(), "crashed")
			require.ErrorIs(t, err, store.ErrNotFound, "no backup without its copies")
			list, err := db.ListBackups(t.Context(), store.BackupFilter{})
			require.NoError(t, err)
			assert.Empty(t, list)
			b := store.Backup{ID: "crashed", Job: "j", Copies: []store.Copy{{Destination: "d", Key: "k"}}}
			require.NoError(t, db.AddBackup(t.Context(), &b), "the store is usable and the id free")
		})
	}
}

func TestClaimRaceSQLite(t *testing.T) {
	raw := "sqlite://" + filepath.Join(t.TempDir(), "store.db")
	storetest.ClaimRace(t, openURLTest(t, raw), raw)
}

func TestClaimRacePostgres(t *testing.T) {
	raw := testenv.FreshPostgresURL(t)
	storetest.ClaimRace(t, openURLTest(t, raw), raw)
}

func TestClaimRaceMySQL(t *testing.T) {
	raw := testenv.FreshMySQLURL(t)
	db := openURLTest(t, raw)
	require.NotNil(t, db)
	storetest.ClaimRace(t, db, raw)
}
