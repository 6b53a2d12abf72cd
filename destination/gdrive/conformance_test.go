package gdrive

import (
	"testing"

	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/destination/destinationtest"
)

func TestConformance(t *testing.T) {
	destinationtest.Run(t, func(t *testing.T) destination.Destination {
		d, _ := newFakeDrive(t)
		return d
	})
}

// The suite again with pages of three files, so that every listing follows
// page tokens.
func TestConformanceSmallPages(t *testing.T) {
	destinationtest.Run(t, func(t *testing.T) destination.Destination {
		d, fake := newFakeDrive(t)
		fake.SetMaxPageSize(3)
		return d
	})
}

// The suite with the folder on a shared drive: listings are made with
// corpora=drive and the drive's ID.
func TestConformanceSharedDrive(t *testing.T) {
	destinationtest.Run(t, func(t *testing.T) destination.Destination {
		d, _ := newFakeDrive(t, func(o *Options) { o.SharedDrive = "0AfakeSharedDriveUk9PVA" })
		return d
	})
}

// The suite with the default 8 MiB chunks, so that most objects go in one
// request (the last chunk is also the first).
func TestConformanceDefaultChunk(t *testing.T) {
	destinationtest.Run(t, func(t *testing.T) destination.Destination {
		d, _ := newFakeDrive(t, func(o *Options) { o.ChunkSize = 0 })
		return d
	})
}
