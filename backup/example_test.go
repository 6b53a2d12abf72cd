package backup_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/destination/local"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/dir"
	"github.com/backupkit/backupkit/store/sqlstore"
)

// Example backs up a folder to local disk, with the catalog in SQLite, and
// restores it somewhere else.
func Example() {
	ctx := context.Background()
	tmp, _ := os.MkdirTemp("", "backupkit-example")
	defer os.RemoveAll(tmp)
	data := filepath.Join(tmp, "data")
	_ = os.MkdirAll(data, 0o755)
	_ = os.WriteFile(filepath.Join(data, "hello.txt"), []byte("hello\n"), 0o644)

	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(tmp, "catalog.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close()
	src, err := dir.New(data)
	if err != nil {
		panic(err)
	}
	disk, err := local.New(filepath.Join(tmp, "backups"), nil)
	if err != nil {
		panic(err)
	}

	eng := backup.New(st, nil)
	job := &backup.Job{Name: "data", Source: src, Destinations: []backup.Target{{Name: "disk", Destination: disk}}}
	res, err := eng.Run(ctx, job, backup.RunOptions{TriggeredBy: "example"})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Run.Status, len(res.Backup.Copies), "copy")

	target := filepath.Join(tmp, "restored")
	err = eng.Restore(ctx, job, res.Backup.ID, backup.RestoreOptions{RestoreOptions: source.RestoreOptions{Target: target}})
	if err != nil {
		panic(err)
	}
	restored, _ := os.ReadFile(filepath.Join(target, "hello.txt"))
	fmt.Print(string(restored))
	// Output:
	// succeeded 1 copy
	// hello
}
