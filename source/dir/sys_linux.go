package dir

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncTree makes the data of the file system holding the folder at path
// durable, so that what a rename then publishes is on disk.
func syncTree(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}
