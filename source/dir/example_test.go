//go:build unix

package dir_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/dir"
)

// Snapshot a folder into a tar stream, then restore the stream into another
// folder.
func Example() {
	ctx := context.Background()
	base, err := os.MkdirTemp("", "dir-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(base)
	data := filepath.Join(base, "data")
	if err := os.MkdirAll(filepath.Join(data, "docs"), 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "docs", "hello.txt"), []byte("hello"), 0o644); err != nil {
		log.Fatal(err)
	}

	// In code: dir.New. From a configuration file: source.Open with a dir URL.
	src, err := source.Open(ctx, "dir://"+data+"?exclude=*.tmp")
	if err != nil {
		log.Fatal(err)
	}
	var stream bytes.Buffer
	info, err := src.Snapshot(ctx, &stream)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Kind, info.Format)
	for _, it := range info.Items {
		fmt.Println(it.Name, it.Count, it.Bytes)
	}

	restored := filepath.Join(base, "restored")
	if err := src.(source.Restorer).Restore(ctx, &stream, source.RestoreOptions{Target: restored}); err != nil {
		log.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(restored, "docs", "hello.txt"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(b))
	// Output:
	// dir tar
	// files 1 5
	// dirs 1 0
	// symlinks 0 0
	// hello
}

// Restoring onto a folder that holds data needs DropExisting; the old
// contents are replaced only once the whole stream has been read.
func ExampleFolder_Restore() {
	ctx := context.Background()
	base, err := os.MkdirTemp("", "dir-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(base)
	data := filepath.Join(base, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "a.txt"), []byte("version 1"), 0o644); err != nil {
		log.Fatal(err)
	}
	f, err := dir.New(data)
	if err != nil {
		log.Fatal(err)
	}
	var stream bytes.Buffer
	if _, err := f.Snapshot(ctx, &stream); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "a.txt"), []byte("version 2"), 0o644); err != nil {
		log.Fatal(err)
	}

	err = f.Restore(ctx, bytes.NewReader(stream.Bytes()), source.RestoreOptions{})
	fmt.Println(err != nil && errors.Is(err, dir.ErrTargetNotEmpty))
	if err := f.Restore(ctx, bytes.NewReader(stream.Bytes()), source.RestoreOptions{DropExisting: true}); err != nil {
		log.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(data, "a.txt"))
	fmt.Println(string(b))
	// Output:
	// true
	// version 1
}
