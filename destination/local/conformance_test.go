package local

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/destination/destinationtest"
)

func TestConformance(t *testing.T) {
	destinationtest.Run(t, func(t *testing.T) destination.Destination {
		f, err := New(t.TempDir(), nil)
		require.NoError(t, err)
		return f
	}, destinationtest.Lacks(destinationtest.ObjectsAsFolders))
}
