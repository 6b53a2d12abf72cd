package schedule

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/store"
	"github.com/backupkit/backupkit/store/sqlstore"
)

func TestMain(m *testing.M) {
	childMain()
	os.Exit(m.Run())
}

// Environment of a case-17 child process.
const (
	envChildURL = "BACKUPKIT_SCHEDULE_CHILD_URL"
	childOwner  = "child"
)

var t0 = utc("2030-01-01T00:00:00Z")

// childMain, in a child process, runs a scheduler that claims slot t0 and
// blocks in its run until it is killed.
func childMain() {
	raw := os.Getenv(envChildURL)
	if raw == "" {
		return
	}
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, raw)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	clock := NewFakeClock(t0.Add(-30 * time.Second))
	runner := &fakeRunner{st: st, clock: clock, behave: func(ctx context.Context, r *store.Run) store.RunStatus {
		fmt.Printf("started %s\n", r.ID)
		select {} // until SIGKILL
	}}
	s := New(runner, st, Options{Owner: childOwner, Clock: clock, Logger: discard()})
	if err := s.Add(Entry{ID: "s1", Job: testJob, Cron: "* * * * *", Policy: Policy{Retries: 1}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := s.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	clock.Set(t0)
	select {}
}

// replicaStore is a way to get a store URL that several replicas open.
type replicaStore struct {
	name string
	url  func(t *testing.T) string
}

var replicaStores = []replicaStore{
	{"sqlite", func(t *testing.T) string { _, u := openSQLite(t); return u }},
	{"postgres", func(t *testing.T) string { return testenv.FreshPostgresURL(t) }},
	{"mysql", func(t *testing.T) string { return testenv.FreshMySQLURL(t) }},
}

func openURL(t *testing.T, raw string) store.Store {
	st, err := sqlstore.Open(t.Context(), raw)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

func discard() *slogLogger { return newDiscard() }

// TestReplicasRunEachSlotOnce covers case 16: three schedulers on one store
// (each with its own connections), 1,000 slots of a 1-second schedule on a
// fake clock: every slot runs exactly once in total.
func TestReplicasRunEachSlotOnce(t *testing.T) {
	const slots = 1000
	for _, rs := range replicaStores {
		t.Run(rs.name, func(t *testing.T) {
			raw := rs.url(t)
			clock := NewFakeClock(t0.Add(-time.Second / 2))
			var hs []*harness
			for i := range 3 {
				h := newHarnessOn(t, openURL(t, raw), clock, Options{Owner: fmt.Sprintf("replica-%d", i)})
				h.add(Entry{Cron: "* * * * * *"})
				hs = append(hs, h)
			}
			for _, h := range hs {
				h.start()
			}
			for i := range slots {
				clock.Set(t0.Add(time.Duration(i) * time.Second))
				for _, h := range hs {
					h.s.quiesce()
				}
			}
			runs := storedRuns(t, hs[0].st, testJob.Name)
			bySlot := map[time.Time]int{}
			perOwner := map[string]int{}
			for _, r := range runs {
				require.Equal(t, store.RunSucceeded, r.Status, "slot %s: %s %s", r.Slot, r.Status, r.Reason)
				bySlot[r.Slot.UTC()]++
				perOwner[r.Owner]++
			}
			require.Len(t, bySlot, slots)
			for sl, n := range bySlot {
				require.Equal(t, 1, n, "slot %s ran %d times", sl, n)
			}
			total := 0
			for _, h := range hs {
				total += h.runner.runs
			}
			assert.Equal(t, slots, total, "runs started across replicas")
			t.Logf("runs per replica: %v", perOwner)
		})
	}
}

// TestKilledReplica covers case 17: of three schedulers, one (a real second
// process) is killed with SIGKILL mid-run; its lease expires, the run
// becomes interrupted, a retry policy retries it once elsewhere, and the
// next slot runs elsewhere.
func TestKilledReplica(t *testing.T) {
	for _, rs := range replicaStores {
		t.Run(rs.name, func(t *testing.T) {
			raw := rs.url(t)
			openURL(t, raw).Close() // migrated before the child starts
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), envChildURL+"="+raw)
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			line, err := bufio.NewReader(out).ReadString('\n')
			require.NoError(t, err, "child: %s", stderr.String())
			runID := strings.TrimSpace(strings.TrimPrefix(line, "started "))
			require.NoError(t, cmd.Process.Kill()) // SIGKILL mid-run
			_ = cmd.Wait()

			clock := NewFakeClock(t0)
			var hs []*harness
			for i := range 2 {
				h := newHarnessOn(t, openURL(t, raw), clock, Options{Owner: fmt.Sprintf("replica-%d", i), SweepInterval: 30 * time.Second})
				h.add(Entry{Cron: "* * * * *", Policy: Policy{Retries: 1, Backoff: time.Minute}})
				h.start()
				hs = append(hs, h)
			}
			st := hs[0].st
			got, err := st.GetRun(t.Context(), runID)
			require.NoError(t, err)
			require.Equal(t, store.RunRunning, got.Status)
			require.Equal(t, childOwner, got.Owner)
			// Its lease expires (the dead child renews nothing; expire it now
			// rather than wait a minute of the store's clock).
			require.NoError(t, st.RenewLease(t.Context(), runID, childOwner, -time.Second))

			clock.Set(t0.Add(30 * time.Second)) // the sweep
			for _, h := range hs {
				h.s.quiesce()
			}
			clock.Set(t0.Add(time.Minute)) // the next slot
			for _, h := range hs {
				h.s.quiesce()
			}
			runs := storedRuns(t, st, testJob.Name)
			type key struct {
				slot    string
				attempt int
			}
			status := map[key]store.Run{}
			for _, r := range runs {
				status[key{r.Slot.UTC().Format(time.RFC3339), r.Attempt}] = r
			}
			require.Len(t, runs, 3, "%v", runs)
			first := status[key{"2030-01-01T00:00:00Z", 1}]
			assert.Equal(t, store.RunInterrupted, first.Status)
			assert.Equal(t, childOwner, first.Owner)
			retry := status[key{"2030-01-01T00:00:00Z", 2}]
			assert.Equal(t, store.RunSucceeded, retry.Status)
			assert.Equal(t, store.TriggerRetry, retry.Trigger)
			assert.NotEqual(t, childOwner, retry.Owner)
			next := status[key{"2030-01-01T00:01:00Z", 1}]
			assert.Equal(t, store.RunSucceeded, next.Status)
			assert.NotEqual(t, childOwner, next.Owner)
			n := 0
			for _, h := range hs {
				n += h.ev.count(EventInterrupted)
			}
			assert.Equal(t, 1, n, "one replica marks it interrupted")
		})
	}
}

// TestCutOffReplicaIsFenced covers case 18: a replica cut off from the store
// past its lease tries to finish its old run: its write is refused, and the
// slot has no duplicate run.
func TestCutOffReplicaIsFenced(t *testing.T) {
	for _, rs := range replicaStores {
		t.Run(rs.name, func(t *testing.T) {
			raw := rs.url(t)
			clock := NewFakeClock(t0.Add(-time.Second))
			a := newHarnessOn(t, openURL(t, raw), clock, Options{Owner: "replica-a", SweepInterval: 24 * time.Hour})
			var mu sync.Mutex
			var claimed *store.Run
			release := make(chan struct{})
			var unpark func()
			a.runner.behave = func(ctx context.Context, r *store.Run) store.RunStatus {
				mu.Lock()
				claimed, unpark = r, a.s.park(ctx)
				mu.Unlock()
				<-release // cut off: the lease is not renewed meanwhile
				return store.RunSucceeded
			}
			a.add(Entry{Cron: "* * * * *", Policy: Policy{Retries: 1}})
			a.start()
			a.set(t0)
			mu.Lock()
			require.NotNil(t, claimed)
			mu.Unlock()
			require.NoError(t, a.s.Pause("s1")) // a cut-off replica claims nothing new

			b := newHarnessOn(t, openURL(t, raw), clock, Options{Owner: "replica-b", SweepInterval: 30 * time.Second})
			b.add(Entry{Cron: "* * * * *", Policy: Policy{Retries: 1}})
			b.start()
			require.NoError(t, b.st.RenewLease(t.Context(), claimed.ID, "replica-a", -time.Second)) // expired
			b.set(t0.Add(30 * time.Second))                                                         // b's sweep interrupts and retries it

			unpark()
			close(release) // a is back and finishes its old run
			a.s.quiesce()
			assert.Equal(t, 1, a.ev.count(EventLeaseLost), "a learns its result was refused")

			runs := storedRuns(t, b.st, testJob.Name)
			require.Len(t, runs, 2)
			assert.Equal(t, store.RunInterrupted, runs[0].Status, "a's late write did not overwrite the interruption")
			assert.Equal(t, "replica-a", runs[0].Owner)
			assert.Equal(t, store.RunSucceeded, runs[1].Status)
			assert.Equal(t, 2, runs[1].Attempt)
			assert.Equal(t, "replica-b", runs[1].Owner)
		})
	}
}
