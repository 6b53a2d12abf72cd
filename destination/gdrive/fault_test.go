package gdrive

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/internal/fakedrive"
)

func randomData(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// onlyReader hides any WriterTo or Seeker, so Put sees a plain stream of
// unknown length.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func put(t *testing.T, d *Drive, key string, data []byte) error {
	t.Helper()
	_, err := d.Put(t.Context(), key, onlyReader{bytes.NewReader(data)}, nil)
	return err
}

func read(t *testing.T, d *Drive, key string) []byte {
	t.Helper()
	rc, err := d.Open(t.Context(), key)
	require.NoError(t, err, "Open(%q)", key)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b
}

func keys(t *testing.T, d *Drive, prefix string) []string {
	t.Helper()
	var out []string
	for o, err := range d.List(t.Context(), prefix) {
		require.NoError(t, err)
		out = append(out, o.Key)
	}
	return out
}

// files returns the fake's non-folder files, by name.
func files(fake *fakedrive.Server) []fakedrive.FileInfo {
	var out []fakedrive.FileInfo
	for _, f := range fake.Files() {
		if f.MimeType != fakedrive.FolderMimeType {
			out = append(out, f)
		}
	}
	return out
}

func requireOneFile(t *testing.T, fake *fakedrive.Server, name string, data []byte) {
	t.Helper()
	fs := files(fake)
	require.Len(t, fs, 1, "files stored in the fake: %v", fs)
	assert.Equal(t, name, fs[0].Name)
	assert.Equal(t, int64(len(data)), fs[0].Size)
	assert.Equal(t, sha256.Sum256(data), fs[0].SHA256, "content stored in the fake")
}

// A chunk that fails twice, then succeeds, gives a complete, correct file,
// whatever the failure, resumed from the offset the fake reports.
func TestChunkFailsTwiceThenSucceeds(t *testing.T) {
	cases := []struct {
		name  string
		fault fakedrive.Fault
	}{
		{"500", fakedrive.Fault{Status: 500}},
		{"503", fakedrive.Fault{Status: 503}},
		{"429", fakedrive.Fault{Status: 429}},
		{"403userRateLimitExceeded", fakedrive.Fault{Status: 403, Reason: "userRateLimitExceeded"}},
		{"403rateLimitExceeded", fakedrive.Fault{Status: 403, Reason: "rateLimitExceeded"}},
		{"DroppedMidChunk", fakedrive.Fault{Drop: true, DropAfter: testChunk/2 + 1000}},
		{"DroppedAfterOneBlock", fakedrive.Fault{Drop: true, DropAfter: 300 << 10}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, fake := newFakeDrive(t, func(o *Options) { o.ChunkSize = 2 * testChunk })
			data := randomData(1, 5*2*testChunk+777) // 6 chunks, the last one short
			f := c.fault
			f.Op, f.After, f.Times = fakedrive.OpChunk, 2, 2 // the third chunk fails twice
			fake.Inject(f)
			require.NoError(t, put(t, d, "dir/obj", data))
			require.Equal(t, data, read(t, d, "dir/obj"))
			requireOneFile(t, fake, "obj", data)
			assert.Equal(t, 2, fake.Count(fakedrive.OpStatus), "one status request after each failure")
			if f.Drop && f.DropAfter >= 256<<10 {
				// The fake kept the first 256 KiB block of the dropped
				// chunk; the client must send only the rest.
				assert.Equal(t, int64(2*testChunk), fake.MaxChunk())
			}
		})
	}
}

// A failure of the last chunk, the one that creates the file, is retried
// too.
func TestLastChunkFailsThenSucceeds(t *testing.T) {
	d, fake := newFakeDrive(t)
	data := randomData(2, 3*testChunk+5)
	fake.Inject(fakedrive.Fault{Op: fakedrive.OpChunk, After: 3, Times: 2, Status: 502})
	require.NoError(t, put(t, d, "last", data))
	require.Equal(t, data, read(t, d, "last"))
	requireOneFile(t, fake, "last", data)
}

// Failures of the metadata requests (list, create, update, delete, start)
// are retried as well.
func TestMetadataRequestsRetried(t *testing.T) {
	d, fake := newFakeDrive(t)
	for _, op := range []fakedrive.Op{fakedrive.OpList, fakedrive.OpCreate, fakedrive.OpStart, fakedrive.OpUpdate, fakedrive.OpDelete, fakedrive.OpGet, fakedrive.OpDownload} {
		fake.Inject(fakedrive.Fault{Op: op, Times: 2, Status: 503})
	}
	fake.Inject(fakedrive.Fault{Op: fakedrive.OpList, Times: 1, Status: 429})
	data := randomData(3, 1000)
	require.NoError(t, put(t, d, "a/b", data))
	require.NoError(t, put(t, d, "a/b", data)) // replaces: a delete
	require.Equal(t, data, read(t, d, "a/b"))
	require.NoError(t, d.Check(t.Context()))
	requireOneFile(t, fake, "b", data)
}

// An access token that expires in the middle of an upload is refreshed
// once, and the upload resumes where the session is.
func TestTokenExpiresMidUpload(t *testing.T) {
	d, fake := newFakeDrive(t)
	require.Equal(t, 1, fake.TokenGrants(), "New fetched one token")
	data := randomData(4, 6*testChunk+99)
	fake.Inject(fakedrive.Fault{Op: fakedrive.OpChunk, After: 3, ExpireToken: true})
	require.NoError(t, put(t, d, "k", data))
	assert.Equal(t, 2, fake.TokenGrants(), "exactly one refresh")
	require.Equal(t, data, read(t, d, "k"))
	requireOneFile(t, fake, "k", data)
	assert.Equal(t, 2, fake.TokenGrants())
}

// A token that expires between calls is refreshed once too.
func TestTokenExpiresBetweenCalls(t *testing.T) {
	d, fake := newFakeDrive(t)
	require.NoError(t, put(t, d, "k", []byte("x")))
	fake.Inject(fakedrive.Fault{Op: fakedrive.OpList, ExpireToken: true})
	obj, err := d.Stat(t.Context(), "k")
	require.NoError(t, err)
	assert.Equal(t, int64(1), obj.Size)
	assert.Equal(t, 2, fake.TokenGrants())
}

// Revoked credentials are reported as such, not as a generic failure, and
// are not retried.
func TestRevokedCredentials(t *testing.T) {
	d, fake := newFakeDrive(t)
	require.NoError(t, put(t, d, "k", []byte("x")))
	fake.RevokeRefreshToken()
	grants := fake.TokenGrants()

	_, err := d.Put(t.Context(), "k2", strings.NewReader("data"), nil)
	require.ErrorIs(t, err, ErrReauthorize)
	require.ErrorIs(t, err, destination.ErrPermission)
	assert.False(t, destination.IsRetryable(err))
	assert.Contains(t, err.Error(), "re-authorise")
	assert.Contains(t, err.Error(), "invalid_grant")

	_, err = d.Stat(t.Context(), "k")
	require.ErrorIs(t, err, ErrReauthorize)
	assert.Equal(t, grants, fake.TokenGrants())

	_, err = New(t.Context(), fakeOptions(fake))
	require.ErrorIs(t, err, ErrReauthorize)
	assert.NotContains(t, err.Error(), fake.RefreshToken)
	assert.NotContains(t, err.Error(), fake.ClientSecret)

	// Wrong client credentials are reported the same way.
	o := fakeOptions(fakedrive.New(t))
	o.ClientSecret = "wrong"
	_, err = New(t.Context(), o)
	require.ErrorIs(t, err, ErrReauthorize)
}

// A permanent failure leaves no half file listed, nor any file in Drive.
func TestPermanentFailureLeavesNothing(t *testing.T) {
	old := randomData(5, 70_001)
	cases := []struct {
		name      string
		fault     fakedrive.Fault
		retryable bool
	}{
		{"ChunkAlways503", fakedrive.Fault{Op: fakedrive.OpChunk, After: 2, Times: 1000, Status: 503}, true},
		{"ChunkAlwaysDropped", fakedrive.Fault{Op: fakedrive.OpChunk, After: 1, Times: 1000, Drop: true, DropAfter: 1000}, true},
		{"LastChunk503", fakedrive.Fault{Op: fakedrive.OpChunk, After: 4, Times: 1000, Status: 503}, true},
		{"ChunkForbidden", fakedrive.Fault{Op: fakedrive.OpChunk, After: 1, Times: 1000, Status: 403, Reason: "forbidden"}, false},
		{"QuotaExceeded", fakedrive.Fault{Op: fakedrive.OpChunk, After: 1, Times: 1000, Status: 403, Reason: "storageQuotaExceeded"}, false},
		{"RenameFails", fakedrive.Fault{Op: fakedrive.OpUpdate, Times: 1000, Status: 500}, true},
		{"StartFails", fakedrive.Fault{Op: fakedrive.OpStart, Times: 1000, Status: 500}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, fake := newFakeDrive(t, func(o *Options) { o.MaxAttempts = 3 })
			require.NoError(t, put(t, d, "dir/old", old))
			fake.Inject(c.fault)
			data := randomData(6, 4*testChunk+1) // 5 chunks
			for _, key := range []string{"dir/new", "dir/old"} {
				err := put(t, d, key, data)
				require.Error(t, err, "Put(%q)", key)
				assert.Equal(t, c.retryable, destination.IsRetryable(err), "IsRetryable(%v)", err)
				if c.name == "QuotaExceeded" {
					assert.ErrorIs(t, err, destination.ErrNoSpace)
				}
			}
			assert.Equal(t, []string{"dir/old"}, keys(t, d, ""))
			_, err := d.Stat(t.Context(), "dir/new")
			require.ErrorIs(t, err, destination.ErrNotExist)
			require.Equal(t, old, read(t, d, "dir/old"))
			requireOneFile(t, fake, "old", old) // no temporary file either
			n, err := d.Cleanup(t.Context())
			require.NoError(t, err)
			assert.Zero(t, n)
		})
	}
}

// A reader that fails, or a canceled context, in the middle of an upload
// leaves nothing in Drive: the file exists only once the last chunk is in.
func TestFailedReaderLeavesNothing(t *testing.T) {
	d, fake := newFakeDrive(t)
	errBoom := errors.New("boom")
	r := io.MultiReader(bytes.NewReader(randomData(7, 3*testChunk)), iotestErrReader{errBoom})
	_, err := d.Put(t.Context(), "x", r, nil)
	require.ErrorIs(t, err, errBoom)
	assert.Empty(t, files(fake))
	assert.Empty(t, keys(t, d, ""))
}

type iotestErrReader struct{ err error }

func (e iotestErrReader) Read([]byte) (int, error) { return 0, e.err }

// Drive allows several files of one name; Put leaves exactly one, and
// readers take the newest when another client made duplicates.
func TestDuplicateNames(t *testing.T) {
	d, fake := newFakeDrive(t)
	fake.AddFile(fake.RootID, "dup", []byte("first"), time.Time{})
	fake.AddFile(fake.RootID, "dup", []byte("second"), time.Time{})
	assert.Equal(t, []byte("second"), read(t, d, "dup"))
	obj, err := d.Stat(t.Context(), "dup")
	require.NoError(t, err)
	assert.Equal(t, int64(len("second")), obj.Size)
	assert.Equal(t, []string{"dup"}, keys(t, d, ""))

	require.NoError(t, put(t, d, "dup", []byte("third")))
	requireOneFile(t, fake, "dup", []byte("third"))

	fake.AddFile(fake.RootID, "dup", []byte("fourth"), time.Time{})
	require.NoError(t, d.Delete(t.Context(), "dup"))
	assert.Empty(t, files(fake))
}

// Concurrent Puts that need the same new folders, from one Drive and from
// several (as from several processes), leave one folder per path.
func TestConcurrentFolderCreation(t *testing.T) {
	fake := fakedrive.New(t)
	var drives []*Drive
	for range 4 {
		drives = append(drives, newDriveOn(t, fake))
	}
	var wg sync.WaitGroup
	errs := make([]error, 16)
	start := make(chan struct{})
	for i := range errs {
		wg.Go(func() {
			<-start
			_, errs[i] = drives[i%4].Put(t.Context(), "x/y/k"+string(rune('a'+i)), strings.NewReader("v"), nil)
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	folders := map[string]int{}
	for _, f := range fake.Files() {
		if f.MimeType == fakedrive.FolderMimeType && f.ID != fake.RootID {
			folders[f.Name]++
		}
	}
	assert.Equal(t, map[string]int{"x": 1, "y": 1}, folders, "folders left in the fake")
	got := keys(t, newDriveOn(t, fake), "x/")
	assert.Len(t, got, 16, "keys: %v", got)
}

// Within one Drive, each folder is created once and then cached.
func TestFolderCache(t *testing.T) {
	d, fake := newFakeDrive(t)
	for i := range 5 {
		require.NoError(t, put(t, d, "p/q/r"+string(rune('0'+i)), []byte("v")))
	}
	assert.Equal(t, 2, fake.Count(fakedrive.OpCreate), "folders p and q created once each")

	// A folder deleted behind the Drive's back is found missing and made again.
	for _, f := range fake.Files() {
		if f.Name == "p" {
			require.NoError(t, newDriveOn(t, fake).deleteFile(t.Context(), f.ID))
		}
	}
	require.NoError(t, put(t, d, "p/q/again", []byte("v")))
	assert.Equal(t, []string{"p/q/again"}, keys(t, d, ""))
}

func TestCleanup(t *testing.T) {
	d, fake := newFakeDrive(t)
	sub := fake.AddFolder(fake.RootID, "sub")
	fake.AddFile(sub, TempPrefix+"0123abcd", []byte("stale"), time.Now().Add(-2*time.Hour))
	fake.AddFile(fake.RootID, TempPrefix+"4567", []byte("fresh"), time.Time{})
	fake.AddFile(sub, "kept", []byte("k"), time.Now().Add(-48*time.Hour))
	assert.Equal(t, []string{"sub/kept"}, keys(t, d, ""), "temporary files are not listed")
	n, err := d.Cleanup(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	var names []string
	for _, f := range files(fake) {
		names = append(names, f.Name)
	}
	assert.ElementsMatch(t, []string{TempPrefix + "4567", "kept"}, names)

	_, err = d.Put(t.Context(), "a/"+TempPrefix+"x", strings.NewReader("v"), nil)
	require.ErrorIs(t, err, destination.ErrInvalidKey)
}

func TestCheck(t *testing.T) {
	d, fake := newFakeDrive(t)
	require.NoError(t, d.Check(t.Context()))
	fake.SetRootReadOnly(true)
	err := d.Check(t.Context())
	require.ErrorIs(t, err, destination.ErrPermission)
	_, err = d.Put(t.Context(), "k", strings.NewReader("v"), nil)
	require.ErrorIs(t, err, destination.ErrPermission)

	// A folder that does not exist.
	o := fakeOptions(fake)
	o.FolderID = "missingFolderID"
	_, err = New(t.Context(), o)
	require.ErrorIs(t, err, destination.ErrNotExist)
	o.SkipCheck = true
	d2, err := New(t.Context(), o)
	require.NoError(t, err)
	require.ErrorIs(t, d2.Check(t.Context()), destination.ErrNotExist)
}

// Names with quotes and backslash-like characters survive the query
// language's escaping.
func TestQuotedNames(t *testing.T) {
	d, _ := newFakeDrive(t)
	for _, k := range []string{`it's/a "quote"`, `x' or name = 'y`, `back\slash`[:4] + `'`} {
		require.NoError(t, put(t, d, k, []byte(k)))
		require.Equal(t, []byte(k), read(t, d, k))
	}
}

// Where Drive refuses a permanent deletion (a Content manager on a shared
// drive), Delete moves the file to the trash, and it is gone for readers.
func TestDeleteFallsBackToTrash(t *testing.T) {
	d, fake := newFakeDrive(t)
	require.NoError(t, put(t, d, "k", []byte("v")))
	fake.Inject(fakedrive.Fault{Op: fakedrive.OpDelete, Times: 1000, Status: 403, Reason: "insufficientFilePermissions"})
	require.NoError(t, d.Delete(t.Context(), "k"))
	_, err := d.Stat(t.Context(), "k")
	require.ErrorIs(t, err, destination.ErrNotExist)
	assert.Empty(t, keys(t, d, ""))
	assert.Empty(t, files(fake), "the file is in the trash")
	require.NoError(t, put(t, d, "k", []byte("again")))
	assert.Equal(t, []byte("again"), read(t, d, "k"))
}

func TestCreateFolder(t *testing.T) {
	fake := fakedrive.New(t)
	o := fakeOptions(fake)
	o.FolderID = "root"
	id, err := CreateFolder(t.Context(), o, "backupkit")
	require.NoError(t, err)
	o.FolderID = id
	d, err := New(t.Context(), o)
	require.NoError(t, err)
	require.NoError(t, d.Check(t.Context()))
	_, err = CreateFolder(t.Context(), o, "a/b")
	require.Error(t, err)
}

// Listings follow page tokens; the whole suite passes with tiny pages.
func TestSmallPages(t *testing.T) {
	fake := fakedrive.New(t)
	fake.SetMaxPageSize(2)
	d := newDriveOn(t, fake)
	var want []string
	for i := range 7 {
		k := "p/" + string(rune('a'+i))
		want = append(want, k)
		require.NoError(t, put(t, d, k, []byte(k)))
		require.NoError(t, put(t, d, k, []byte(k))) // replace: a duplicate for a moment
	}
	fake.AddFile(fake.RootID, "dup", []byte("1"), time.Time{})
	fake.AddFile(fake.RootID, "dup", []byte("22"), time.Time{})
	fake.AddFile(fake.RootID, "dup", []byte("333"), time.Time{})
	assert.Equal(t, append([]string{"dup"}, want...), keys(t, d, ""))
	obj, err := d.Stat(t.Context(), "dup")
	require.NoError(t, err)
	assert.Equal(t, int64(3), obj.Size)
	require.NoError(t, d.Delete(t.Context(), "dup"))
	assert.Equal(t, want, keys(t, d, ""))
	assert.Greater(t, fake.Count(fakedrive.OpList), 20)
}

// Another process that creates the same folder between this one's lookup
// and its creation: both converge on the older folder, and the newer one
// is removed while empty, or left alone once it holds files.
func TestFolderRaceConverges(t *testing.T) {
	t.Run("Empty", func(t *testing.T) {
		d, fake := newFakeDrive(t)
		var other string
		fake.Inject(fakedrive.Fault{Op: fakedrive.OpCreate, Before: func() { other = fake.AddFolder(fake.RootID, "x") }})
		require.NoError(t, put(t, d, "x/k", []byte("v")))
		var folders []string
		for _, f := range fake.Files() {
			if f.MimeType == fakedrive.FolderMimeType && f.ID != fake.RootID {
				folders = append(folders, f.ID)
			}
		}
		assert.Equal(t, []string{other}, folders, "only the older folder is left")
		assert.Equal(t, []byte("v"), read(t, newDriveOn(t, fake), "x/k"))
	})
	t.Run("NotEmpty", func(t *testing.T) {
		d, fake := newFakeDrive(t)
		fake.Inject(fakedrive.Fault{Op: fakedrive.OpCreate, Before: func() { fake.AddFolder(fake.RootID, "x") }})
		// After the creation, someone writes into the newer folder
		// before this process looks again.
		fake.Inject(fakedrive.Fault{Op: fakedrive.OpList, After: 1, Before: func() {
			for _, f := range fake.Files() {
				if f.Name == "x" && f.Created.After(fake.Files()[1].Created) {
					fake.AddFile(f.ID, "theirs", []byte("t"), time.Time{})
				}
			}
		}})
		require.NoError(t, put(t, d, "x/k", []byte("v")))
		n := 0
		for _, f := range fake.Files() {
			if f.Name == "x" {
				n++
			}
		}
		assert.Equal(t, 2, n, "a duplicate that holds files is not deleted")
		assert.Equal(t, []byte("v"), read(t, newDriveOn(t, fake), "x/k"))
	})
}

// A chunk request that stalls is abandoned after ChunkTimeout and resumed.
// (The fake answers nothing until the client gives up; nothing here
// depends on how long anything takes.)
func TestStalledChunk(t *testing.T) {
	d, fake := newFakeDrive(t, func(o *Options) { o.ChunkTimeout = 300 * time.Millisecond })
	data := randomData(9, 3*testChunk+10)
	fake.Inject(fakedrive.Fault{Op: fakedrive.OpChunk, After: 1, Stall: true})
	require.NoError(t, put(t, d, "slow", data))
	require.Equal(t, data, read(t, d, "slow"))
	requireOneFile(t, fake, "slow", data)
	assert.GreaterOrEqual(t, fake.Count(fakedrive.OpStatus), 1)
}

// A Put that replaces the object between Open's lookup and its download:
// Open looks again and reads the new object.
func TestOpenDuringReplace(t *testing.T) {
	d, fake := newFakeDrive(t)
	require.NoError(t, put(t, d, "k", []byte("old")))
	other := newDriveOn(t, fake)
	fake.Inject(fakedrive.Fault{Op: fakedrive.OpDownload, Before: func() {
		_, err := other.Put(t.Context(), "k", strings.NewReader("new"), nil)
		assert.NoError(t, err) // not require: this runs in the fake's handler
	}})
	assert.Equal(t, []byte("new"), read(t, d, "k"))
}

// An upload session that the server no longer knows fails the Put as
// retryable, not as a missing object.
func TestExpiredSession(t *testing.T) {
	d, fake := newFakeDrive(t)
	fake.Inject(fakedrive.Fault{Op: fakedrive.OpChunk, After: 1, Times: 1000, Status: 404, Reason: "notFound"})
	err := put(t, d, "k", randomData(10, 3*testChunk))
	require.Error(t, err)
	assert.True(t, destination.IsRetryable(err))
	assert.NotErrorIs(t, err, destination.ErrNotExist)
	assert.Empty(t, files(fake))
}
