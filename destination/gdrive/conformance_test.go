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
