package retention_test

import (
	"fmt"
	"time"

	"github.com/backupkit/backupkit/retention"
)

func ExamplePlan() {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	var backups []retention.Backup
	for i := range 10 { // one a day at 03:00
		backups = append(backups, retention.Backup{
			ID:        fmt.Sprintf("b%d", i),
			CreatedAt: time.Date(2026, 11, 29-i, 3, 0, 0, 0, time.UTC),
			Size:      100 << 20,
			Protected: i == 9,
		})
	}
	policy := retention.Policy{KeepLast: 2, KeepWeekly: 2}
	res := retention.Plan(policy, retention.Input{Backups: backups, Now: now})
	for _, d := range res.Decisions {
		action := "keep  "
		if !d.Keep {
			action = "delete"
		}
		fmt.Println(d.Backup.CreatedAt.Format("Mon 2006-01-02"), action, d.Reasons)
	}
	// Output:
	// Sun 2026-11-29 keep   [newest successful last 2 newest weekly of 2026-W48]
	// Sat 2026-11-28 keep   [last 2]
	// Fri 2026-11-27 delete [no rule keeps it]
	// Thu 2026-11-26 delete [no rule keeps it]
	// Wed 2026-11-25 delete [no rule keeps it]
	// Tue 2026-11-24 delete [no rule keeps it]
	// Mon 2026-11-23 delete [no rule keeps it]
	// Sun 2026-11-22 keep   [newest weekly of 2026-W47]
	// Sat 2026-11-21 delete [no rule keeps it]
	// Fri 2026-11-20 keep   [protected]
}
