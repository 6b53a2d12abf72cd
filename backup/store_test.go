package backup_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/store"
	"github.com/backupkit/backupkit/store/sqlstore"
)

func newStore(t testing.TB) store.Store {
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "backupkit.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}
