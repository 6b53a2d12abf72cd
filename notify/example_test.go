package notify_test

import (
	"context"
	"fmt"

	"github.com/backupkit/backupkit/notify"
)

// A Dispatcher delivers the events each notifier asks for, with a link to
// the run and secrets redacted. Subscribe its Publish to a backup.Engine:
//
//	defer engine.Subscribe(d.Publish)()
func ExampleDispatcher() {
	stdout := notify.NotifierFunc(func(_ context.Context, e notify.Event) error {
		fmt.Printf("%s %s: %s (%s)\n", e.Type, e.Job, e.Error, e.Link)
		return nil
	})
	d := notify.NewDispatcher([]notify.Target{{Name: "stdout", Notifier: stdout}}, // default events: failures and health
		&notify.DispatcherOptions{LinkTemplate: "https://backupd.example/runs/{run}"})
	d.Publish(notify.Event{Type: notify.RunSucceeded, Job: "shop", RunID: "r1"})
	d.Publish(notify.Event{Type: notify.RunFailed, Job: "shop", RunID: "r2",
		Error: "source: dial mysql://backup:hunter2@db/shop: connection refused"})
	_ = d.Close(context.Background()) // delivers what is queued
	// Output:
	// run.failed shop: source: dial mysql://backup:xxxxx@db/shop: connection refused (https://backupd.example/runs/r2)
}
