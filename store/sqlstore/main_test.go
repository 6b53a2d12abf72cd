package sqlstore

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/store/storetest"
)

func TestMain(m *testing.M) {
	storetest.ChildMain()
	os.Exit(m.Run())
}

func TestClaimRaceSQLite(t *testing.T) {
	raw := "sqlite://" + filepath.Join(t.TempDir(), "store.db")
	storetest.ClaimRace(t, openURLTest(t, raw), raw)
}

func TestClaimRacePostgres(t *testing.T) {
	raw := postgresURL(t)
	storetest.ClaimRace(t, openURLTest(t, raw), raw)
}

func TestClaimRaceMySQL(t *testing.T) {
	raw := mysqlURL(t)
	db := openURLTest(t, raw)
	require.NotNil(t, db)
	storetest.ClaimRace(t, db, raw)
}
