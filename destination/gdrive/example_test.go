package gdrive_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/backupkit/backupkit/destination/gdrive"
)

// A Drive from a service-account key, on a folder of a shared drive.
func ExampleNew() {
	ctx := context.Background()
	d, err := gdrive.New(ctx, gdrive.Options{
		FolderID:        "1AbCdEfGhIjKlMnOpQrStUvWxYz",
		SharedDrive:     "0AbCdEfGhIjKlUk9PVA",
		CredentialsFile: "/etc/backupkit/gdrive-sa.json",
	})
	if err != nil {
		log.Fatal(err)
	}
	obj, err := d.Put(ctx, "nightly/db.sql.zst", strings.NewReader("..."), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(obj.Key, obj.Size)
}

// With the drive.file scope, the credentials see only what they created:
// create the root folder with them once, and keep its ID.
func ExampleCreateFolder() {
	ctx := context.Background()
	id, err := gdrive.CreateFolder(ctx, gdrive.Options{
		FolderID:        "root", // the top of My Drive
		CredentialsFile: "/etc/backupkit/gdrive-user.json",
	}, "backupkit")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("gdrive://" + id + "?credentials_file=/etc/backupkit/gdrive-user.json")
}
