package backup_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/store"
)

// RebuildOptions.RunIDs limits a rebuild to the backups of those runs: the
// others stay uncataloged, orphans are not reported, and Runs maps each run
// to its backup.
func TestRebuildCatalogOfGivenRuns(t *testing.T) {
	disk, other := localTarget(t, "disk"), localTarget(t, "other")
	r := newRig(t, nil, disk, other)
	a, b, kept := r.backup(t), r.backup(t), r.backup(t)
	for _, x := range []*store.Backup{a, b} {
		require.NoError(t, r.st.DeleteBackup(t.Context(), x.ID))
	}
	rep, err := r.eng.RebuildCatalog(t.Context(), []*backup.Job{r.job}, backup.RebuildOptions{RunIDs: []string{a.RunID, kept.RunID, "no-such-run"}})
	require.NoError(t, err)
	assert.Equal(t, []string{a.ID}, rep.Added)
	assert.Equal(t, map[string]string{a.RunID: a.ID, kept.RunID: kept.ID}, rep.Runs)
	assert.Equal(t, 1, rep.Unchanged, "only the cataloged backup of a given run is looked at")
	assert.Empty(t, rep.Orphans, "b's copies are not orphans, and orphans are not reported")

	got := mustBackup(t, r.st, a.ID)
	assert.Equal(t, store.BackupComplete, got.Status)
	assert.Equal(t, a.RunID, got.RunID)
	assert.Equal(t, a.SHA256, got.SHA256)
	assert.Len(t, got.Copies, 2)
	_, err = r.st.GetBackup(t.Context(), b.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "a run not named stays uncataloged")

	// Without RunIDs, Runs is nil and b comes back.
	rep, err = r.eng.RebuildCatalog(t.Context(), []*backup.Job{r.job}, backup.RebuildOptions{})
	require.NoError(t, err)
	assert.Nil(t, rep.Runs)
	assert.Equal(t, []string{b.ID}, rep.Added)
}

// RebuildOptions.Started limits what a rebuild of given runs reads to the
// keys of those runs' seconds: a time far from the run's finds nothing, the
// run's own finds its backup.
func TestRebuildCatalogOfGivenRunsReadsTheirSecondsOnly(t *testing.T) {
	r := newRig(t, nil, localTarget(t, "disk"))
	a := r.backup(t)
	require.NoError(t, r.st.DeleteBackup(t.Context(), a.ID))
	run, err := r.st.GetRun(t.Context(), a.RunID)
	require.NoError(t, err)

	rep, err := r.eng.RebuildCatalog(t.Context(), []*backup.Job{r.job},
		backup.RebuildOptions{RunIDs: []string{a.RunID}, Started: []time.Time{run.StartedAt.Add(-time.Hour)}})
	require.NoError(t, err)
	assert.Empty(t, rep.Added, "another second's keys are not read")

	rep, err = r.eng.RebuildCatalog(t.Context(), []*backup.Job{r.job},
		backup.RebuildOptions{RunIDs: []string{a.RunID}, Started: []time.Time{run.StartedAt}})
	require.NoError(t, err)
	assert.Equal(t, []string{a.ID}, rep.Added)
}
