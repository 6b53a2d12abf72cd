package schedule_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/destination/local"
	"github.com/backupkit/backupkit/schedule"
	"github.com/backupkit/backupkit/source/dir"
	"github.com/backupkit/backupkit/store"
	"github.com/backupkit/backupkit/store/sqlstore"
)

// Example embeds the scheduler in a host application: a folder is backed up
// daily at 02:30 Berlin time to local disk, with the run history in SQLite.
// A real host passes no Clock (the system clock) and stops the scheduler
// on its shutdown signal; here a FakeClock makes the slot come at once.
func Example() {
	ctx := context.Background()
	tmp, _ := os.MkdirTemp("", "backupkit-schedule-example")
	defer os.RemoveAll(tmp)
	data := filepath.Join(tmp, "data")
	_ = os.MkdirAll(data, 0o755)
	_ = os.WriteFile(filepath.Join(data, "hello.txt"), []byte("hello\n"), 0o644)

	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(tmp, "store.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close()
	src, _ := dir.New(data)
	disk, _ := local.New(filepath.Join(tmp, "backups"), nil)
	quiet := slog.New(slog.DiscardHandler)
	engine := backup.New(st, &backup.Options{Logger: quiet})
	job := &backup.Job{Name: "data", Source: src, Destinations: []backup.Target{{Name: "disk", Destination: disk}}}

	berlin, _ := time.LoadLocation("Europe/Berlin")
	clock := schedule.NewFakeClock(time.Date(2026, 3, 28, 12, 0, 0, 0, berlin))
	finished := make(chan schedule.Event, 1)
	s := schedule.New(engine, st, schedule.Options{
		Clock:  clock,
		Logger: quiet,
		OnEvent: func(ev schedule.Event) {
			if ev.Type == schedule.EventFinished {
				finished <- ev
			}
		},
	})
	err = s.Add(schedule.Entry{
		ID: "nightly-data", Job: job, Cron: "daily at 02:30", Timezone: "Europe/Berlin",
		Policy: schedule.Policy{Retries: 2, Timeout: time.Hour},
	})
	if err != nil {
		panic(err)
	}
	c, _ := schedule.ParseInZone("daily at 02:30", "Europe/Berlin")
	fmt.Println(c.Describe())
	for _, t := range c.NextN(clock.Now(), 2) { // across the spring-forward night
		fmt.Println("next:", t.Format(time.RFC3339))
	}
	if err := s.Start(ctx); err != nil {
		panic(err)
	}
	clock.Set(time.Date(2026, 3, 29, 3, 0, 0, 0, berlin)) // 02:30 does not exist that night
	ev := <-finished
	fmt.Println(ev.Status, ev.Slot.In(berlin).Format("2006-01-02 15:04 MST"))
	_ = s.Stop(ctx)

	runs, _ := st.ListRuns(ctx, store.RunFilter{ScheduleID: "nightly-data"})
	fmt.Println(len(runs), "run,", runs[0].TriggeredBy)
	// Output:
	// daily at 02:30 Europe/Berlin
	// next: 2026-03-29T03:00:00+02:00
	// next: 2026-03-30T02:30:00+02:00
	// succeeded 2026-03-29 03:00 CEST
	// 1 run, scheduler
}
