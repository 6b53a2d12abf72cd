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
