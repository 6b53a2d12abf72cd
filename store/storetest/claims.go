package storetest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/store"
)

func testClaimRun(t *testing.T, s store.Store) {
	ctx := t.Context()
	slot := at(200).Truncate(time.Minute)
	a := store.Run{Job: "j", ScheduleID: "s", Slot: slot, Trigger: store.TriggerSchedule, Owner: "replica-a"}
	won, err := s.ClaimRun(ctx, &a)
	require.NoError(t, err)
	require.True(t, won)
	assert.NotEmpty(t, a.ID)
	assert.Equal(t, store.RunRunning, a.Status)
	assert.Equal(t, 1, a.Attempt)
	assert.False(t, a.LeaseUntil.IsZero(), "a claimed running run has a lease")

	b := store.Run{Job: "j", ScheduleID: "s", Slot: slot.In(zone), Trigger: store.TriggerSchedule, Owner: "replica-b"}
	before := b
	won, err = s.ClaimRun(ctx, &b)
	require.NoError(t, err, "losing a slot is not an error")
	assert.False(t, won)
	assert.Equal(t, before, b, "the loser's run is unchanged")

	skip := store.Run{Job: "j", ScheduleID: "s", Slot: slot, Status: store.RunSkipped, Reason: "overlap", Owner: "replica-c"}
	won, err = s.ClaimRun(ctx, &skip)
	require.NoError(t, err)
	assert.False(t, won, "a skip record cannot take a claimed slot")

	retry := store.Run{Job: "j", ScheduleID: "s", Slot: slot, Attempt: 2, Trigger: store.TriggerRetry, Owner: "replica-b"}
	won, err = s.ClaimRun(ctx, &retry)
	require.NoError(t, err)
	assert.True(t, won, "attempt 2 is another claim")

	for i := range 2 {
		m := store.Run{Job: "j", ScheduleID: "s", Trigger: store.TriggerManual, TriggeredBy: "alice", Owner: "replica-a"}
		won, err = s.ClaimRun(ctx, &m)
		require.NoError(t, err, i)
		assert.True(t, won, "manual runs have no slot and always win")
	}

	dup := store.Run{ID: a.ID, Job: "j", ScheduleID: "s", Slot: slot.Add(time.Hour), Owner: "x"}
	_, err = s.ClaimRun(ctx, &dup)
	require.ErrorIs(t, err, store.ErrConflict, "a duplicate id is an error, not a lost slot")
	assert.ErrorContains(t, err, a.ID)

	_, err = s.ClaimRun(ctx, &store.Run{Slot: slot})
	require.Error(t, err, "a run needs a job")
	assert.ErrorContains(t, err, "Job")

	got, err := s.GetRun(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, "replica-a", got.Owner)
}

func testUpdateRunFenced(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := store.Run{Job: "j", ScheduleID: "s", Slot: at(300).Truncate(time.Minute), Owner: "replica-a", Attempt: 1}
	won, err := s.ClaimRun(ctx, &r)
	require.NoError(t, err)
	require.True(t, won)

	// Another owner cannot finish it.
	other := r
	other.Owner, other.Status = "replica-b", store.RunSucceeded
	err = s.UpdateRun(ctx, &other)
	require.ErrorIs(t, err, store.ErrConflict)
	assert.ErrorContains(t, err, "replica-a", "the error names the owner")

	// Nor the same owner with another attempt.
	wrong := r
	wrong.Attempt, wrong.Status = 2, store.RunSucceeded
	require.ErrorIs(t, s.UpdateRun(ctx, &wrong), store.ErrConflict)

	// The owner's lease expires and the run is interrupted: its late
	// result is refused, and the interruption stands.
	require.NoError(t, s.RenewLease(ctx, r.ID, "replica-a", -time.Second))
	interrupted, err := s.InterruptExpired(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{r.ID}, runIDs(interrupted))
	late := r
	late.Status, late.FinishedAt, late.BytesRead = store.RunSucceeded, at(301), 99
	err = s.UpdateRun(ctx, &late)
	require.ErrorIs(t, err, store.ErrConflict)
	assert.ErrorContains(t, err, string(store.RunInterrupted))
	got, err := s.GetRun(ctx, r.ID)
	require.NoError(t, err)
	assert.Equal(t, store.RunInterrupted, got.Status)
	assert.Zero(t, got.BytesRead)

	// A retry is claimed as attempt 2 by another replica, which finishes it.
	retry := store.Run{Job: "j", ScheduleID: "s", Slot: r.Slot, Attempt: 2, Owner: "replica-b", Trigger: store.TriggerRetry}
	won, err = s.ClaimRun(ctx, &retry)
	require.NoError(t, err)
	require.True(t, won)
	retry.Status, retry.FinishedAt = store.RunSucceeded, at(302)
	require.NoError(t, s.UpdateRun(ctx, &retry))
	retry.Status = store.RunFailed
	require.ErrorIs(t, s.UpdateRun(ctx, &retry), store.ErrConflict, "a finished run is final")
	got, err = s.GetRun(ctx, retry.ID)
	require.NoError(t, err)
	assert.Equal(t, store.RunSucceeded, got.Status)
}

// Environment of a claim-race child process.
const (
	envClaimURL     = "BACKUPKIT_STORETEST_CLAIM_URL"
	envClaimOwner   = "BACKUPKIT_STORETEST_CLAIM_OWNER"
	envClaimSlots   = "BACKUPKIT_STORETEST_CLAIM_SLOTS"
	envClaimWorkers = "BACKUPKIT_STORETEST_CLAIM_WORKERS"
)

// claimJob is the job the claim race claims slots of.
const claimJob = "claim-race"

// claimSlot is slot i of the claim race.
func claimSlot(i int) time.Time {
	return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
}

// ChildMain runs this process's part of ClaimRace when the process is a
// claim-race child, and then exits; otherwise it returns at once. A test
// package that calls ClaimRace calls it first thing in its TestMain:
//
//	func TestMain(m *testing.M) {
//		storetest.ChildMain()
//		os.Exit(m.Run())
//	}
//
// The child opens the store with store.Open, so the package must register the
// store's URL scheme (import its implementation).
func ChildMain() {
	url := os.Getenv(envClaimURL)
	if url == "" {
		return
	}
	err := func() error {
		slots, err := strconv.Atoi(os.Getenv(envClaimSlots))
		if err != nil {
			return fmt.Errorf("%s: %w", envClaimSlots, err)
		}
		workers, err := strconv.Atoi(os.Getenv(envClaimWorkers))
		if err != nil {
			return fmt.Errorf("%s: %w", envClaimWorkers, err)
		}
		ctx := context.Background()
		s, err := store.Open(ctx, url)
		if err != nil {
			return err
		}
		defer s.Close()
		won, err := claimAll(ctx, s, os.Getenv(envClaimOwner), slots, workers)
		w := bufio.NewWriter(os.Stdout)
		for _, claim := range won {
			fmt.Fprintf(w, "won %d %s\n", claim.slot, claim.owner)
		}
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
		return err
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "storetest: claim-race child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

type claim struct {
	slot  int
	owner string
}

// claimAll has workers goroutines each try to claim every slot, even ones
// in the same order (every slot contended by them and by the other
// processes' even workers), odd ones from different offsets, and returns the
// claims won.
func claimAll(ctx context.Context, s store.Store, owner string, slots, workers int) ([]claim, error) {
	var mu sync.Mutex
	var won []claim
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			me := fmt.Sprintf("%s/w%d", owner, w)
			start := 0 // even workers race for the same slot at the same time
			if w%2 == 1 {
				start = w * slots / workers // odd ones meet them from elsewhere
			}
			for k := range slots {
				i := (start + k) % slots
				r := store.Run{Job: claimJob, ScheduleID: "race", Slot: claimSlot(i), Trigger: store.TriggerSchedule,
					TriggeredBy: "scheduler", Owner: me}
				ok, err := s.ClaimRun(ctx, &r)
				if err != nil {
					errs[w] = fmt.Errorf("%s: slot %d: %w", me, i, err)
					return
				}
				if ok {
					mu.Lock()
					won = append(won, claim{i, me})
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return won, err
		}
	}
	return won, nil
}

// ClaimRace is the multi-replica test: 8 goroutines of this process and 2
// child processes (the test binary run again, 4 goroutines each) claim the
// same 1,000 slots of the empty store at url, and every slot must be won
// exactly once, by the claimer the store records as its owner. s is a store
// opened on url by this process. The test package must call ChildMain from
// its TestMain.
func ClaimRace(t *testing.T, s store.Store, url string) {
	const slots, workers, children, childWorkers = 1000, 8, 2, 4
	ctx := t.Context()
	type child struct {
		cmd            *exec.Cmd
		stdout, stderr bytes.Buffer
	}
	var kids []*child
	for c := range children {
		k := &child{cmd: exec.CommandContext(ctx, os.Args[0], "-test.run=^$", "-test.count=1")}
		k.cmd.Env = append(os.Environ(),
			envClaimURL+"="+url,
			envClaimOwner+"="+fmt.Sprintf("child-%d", c),
			envClaimSlots+"="+strconv.Itoa(slots),
			envClaimWorkers+"="+strconv.Itoa(childWorkers))
		k.cmd.Stdout, k.cmd.Stderr = &k.stdout, &k.stderr
		require.NoError(t, k.cmd.Start())
		kids = append(kids, k)
	}
	won, err := claimAll(ctx, s, "parent", slots, workers)
	require.NoError(t, err)
	for c, k := range kids {
		require.NoErrorf(t, k.cmd.Wait(), "child %d: %s", c, k.stderr.String())
		for line := range strings.Lines(k.stdout.String()) {
			var cl claim
			if _, err := fmt.Sscanf(line, "won %d %s", &cl.slot, &cl.owner); err != nil {
				continue // go test's own output
			}
			won = append(won, cl)
		}
	}

	winner := map[int]string{}
	for _, cl := range won {
		prev, dup := winner[cl.slot]
		require.Falsef(t, dup, "slot %d won twice: by %s and %s", cl.slot, prev, cl.owner)
		winner[cl.slot] = cl.owner
	}
	require.Len(t, winner, slots, "every slot is won")
	byProcess := map[string]int{}
	for _, o := range winner {
		p, _, _ := strings.Cut(o, "/")
		byProcess[p]++
	}
	t.Logf("slots won per process: %v", byProcess)

	runs, err := s.ListRuns(ctx, store.RunFilter{Job: claimJob, Limit: 2 * slots})
	require.NoError(t, err)
	require.Len(t, runs, slots, "one run per slot is stored")
	for _, r := range runs {
		i := int(r.Slot.Sub(claimSlot(0)) / time.Minute)
		require.Equalf(t, winner[i], r.Owner, "slot %d: the stored owner is the claimer told it won", i)
	}
}
