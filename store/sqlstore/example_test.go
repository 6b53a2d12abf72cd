package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/backupkit/backupkit/store"
	"github.com/backupkit/backupkit/store/sqlstore"
)

func ExampleOpenSQLite() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "backupkit-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "backupd", "store.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	// Claim a run; the store assigns the ID, the start time and a lease.
	run := store.Run{Job: "shop-db", Trigger: store.TriggerManual, TriggeredBy: "alice", Owner: "host-a:4242"}
	if err := db.CreateRun(ctx, &run); err != nil {
		log.Fatal(err)
	}
	if err := db.AppendLogs(ctx, run.ID, store.LogEntry{Time: time.Now(), Level: store.LevelInfo, Message: "snapshot started"}); err != nil {
		log.Fatal(err)
	}

	// Catalog the artifact with its copies, then finish the run.
	backup := store.Backup{Job: "shop-db", RunID: run.ID, Status: store.BackupComplete, Size: 1234,
		Copies: []store.Copy{{Destination: "local", Key: "shop-db/2025/03/shop-db_20250330T020000Z_abcd.sql.zst", Size: 1234}}}
	if err := db.AddBackup(ctx, &backup); err != nil {
		log.Fatal(err)
	}
	run.Status, run.FinishedAt, run.BackupID = store.RunSucceeded, time.Now(), backup.ID
	if err := db.UpdateRun(ctx, &run); err != nil {
		log.Fatal(err)
	}

	runs, err := db.ListRuns(ctx, store.RunFilter{Job: "shop-db"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(runs), runs[0].Status, runs[0].BackupID == backup.ID)
	// Output: 1 succeeded true
}

// Hosts that configure the store by URL blank-import this package and use
// store.Open.
func Example_url() {
	ctx := context.Background()
	s, err := store.Open(ctx, "sqlite::memory:") // or "sqlite:///var/lib/backupd/store.db"
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	a := store.Run{Job: "nightly", ScheduleID: "s1", Slot: time.Date(2025, 3, 30, 2, 0, 0, 0, time.UTC), Owner: "replica-a"}
	b := a
	b.Owner = "replica-b"
	fmt.Println(s.CreateRun(ctx, &a))
	err = s.CreateRun(ctx, &b)
	fmt.Println(errors.Is(err, store.ErrConflict)) // replica-a claimed the slot
	// Output:
	// <nil>
	// true
}

// Two replicas wake for the same slot: one claims it, the other learns it
// lost without an error. The loser's late update of the winner's run is
// refused (fencing).
func ExampleDB_ClaimRun() {
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, sqlstore.Memory)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	slot := time.Date(2025, 3, 30, 2, 0, 0, 0, time.UTC)
	a := store.Run{Job: "nightly", ScheduleID: "s1", Slot: slot, Trigger: store.TriggerSchedule, Owner: "replica-a"}
	b := store.Run{Job: "nightly", ScheduleID: "s1", Slot: slot, Trigger: store.TriggerSchedule, Owner: "replica-b"}
	wonA, err := db.ClaimRun(ctx, &a)
	if err != nil {
		log.Fatal(err)
	}
	wonB, err := db.ClaimRun(ctx, &b)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(wonA, wonB)

	intruder := a
	intruder.Owner, intruder.Status = "replica-b", store.RunSucceeded
	fmt.Println(errors.Is(db.UpdateRun(ctx, &intruder), store.ErrConflict))
	// Output:
	// true false
	// true
}
