package gdrive

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/internal/fakedrive"
)

// testChunk is the chunk size of test Drives: the smallest allowed, so
// that small objects already take several chunks.
const testChunk = 256 << 10

// newFakeDrive starts a fake Drive and returns it with a Drive on its root
// folder, authorised with an OAuth client and refresh token, with no pause
// between retries. edit may change the Options.
func newFakeDrive(t *testing.T, edit ...func(*Options)) (*Drive, *fakedrive.Server) {
	t.Helper()
	fake := fakedrive.New(t)
	d := newDriveOn(t, fake, edit...)
	return d, fake
}

func fakeOptions(fake *fakedrive.Server) Options {
	return Options{
		FolderID:     fake.RootID,
		ClientID:     fake.ClientID,
		ClientSecret: fake.ClientSecret,
		RefreshToken: fake.RefreshToken,
		TokenURL:     fake.TokenURL(),
		Endpoint:     fake.Endpoint(),
		ChunkSize:    testChunk,
		Backoff:      func(int) time.Duration { return 0 },
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func newDriveOn(t *testing.T, fake *fakedrive.Server, edit ...func(*Options)) *Drive {
	t.Helper()
	o := fakeOptions(fake)
	for _, e := range edit {
		e(&o)
	}
	d, err := New(t.Context(), o)
	require.NoError(t, err)
	return d
}
