package local_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/destination/local"
)

func Example() {
	dir, err := os.MkdirTemp("", "backupkit-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	folder, err := local.New(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// Put writes to a temporary file, fsyncs it and renames it into place.
	obj, err := folder.Put(ctx, "shop/2025/01/shop_20250101T020000Z.sql", strings.NewReader("CREATE TABLE t (id int);\n"), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(obj.Key, obj.Size)

	rc, err := folder.Open(ctx, obj.Key)
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.Copy(os.Stdout, rc); err != nil {
		log.Fatal(err)
	}
	// Output:
	// shop/2025/01/shop_20250101T020000Z.sql 25
	// CREATE TABLE t (id int);
}

// Importing the package registers the "file" URL scheme.
func Example_url() {
	dir, err := os.MkdirTemp("", "backupkit-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	d, err := destination.Open(ctx, "file://"+dir+"?must_exist=true")
	if err != nil {
		log.Fatal(err)
	}
	for _, key := range []string{"b/2", "a-1", "a/1"} {
		if _, err := d.Put(ctx, key, strings.NewReader(key), nil); err != nil {
			log.Fatal(err)
		}
	}
	for obj, err := range d.List(ctx, "") {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(obj.Key)
	}
	// Output:
	// a-1
	// a/1
	// b/2
}

func ExampleFolder_Cleanup() {
	dir, err := os.MkdirTemp("", "backupkit-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	folder, err := local.New(dir, &local.Options{MustExist: true})
	if err != nil {
		log.Fatal(err)
	}

	// At start-up, remove what writers killed mid-Put left behind. Puts
	// running now, in this process or another, are not disturbed.
	n, err := folder.Cleanup(context.Background())
	if err != nil {
		log.Print(err)
	}
	fmt.Println("removed", n, "leftovers")
	// Output: removed 0 leftovers
}
