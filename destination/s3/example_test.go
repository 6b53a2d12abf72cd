package s3_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/backupkit/backupkit/destination"
	s3dest "github.com/backupkit/backupkit/destination/s3"
)

// Example stores and lists a backup in a bucket of an S3-compatible store
// (here an in-process fake; for MinIO the options are the same).
func Example() {
	backend := s3mem.New()
	_ = backend.CreateBucket("backups")
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	defer srv.Close()

	ctx := context.Background()
	b, err := s3dest.New(ctx, s3dest.Options{
		Bucket:          "backups",
		Prefix:          "prod",
		Endpoint:        srv.URL,
		PathStyle:       true,
		AccessKeyID:     "key",
		SecretAccessKey: "secret",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := b.Put(ctx, "db/2026/backup.sql.zst", strings.NewReader("data"), nil); err != nil {
		fmt.Println(err)
		return
	}
	for obj, err := range b.List(ctx, "db/") {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(obj.Key, obj.Size)
	}
	_, err = b.Stat(ctx, "db/missing")
	fmt.Println(errors.Is(err, destination.ErrNotExist))
	// Output:
	// db/2026/backup.sql.zst 4
	// true
}
