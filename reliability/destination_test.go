package reliability_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/destination/local"
	s3dest "github.com/backupkit/backupkit/destination/s3"
	"github.com/backupkit/backupkit/internal/faults"
	"github.com/backupkit/backupkit/internal/s3util/s3test"
	"github.com/backupkit/backupkit/source/dir"
	"github.com/backupkit/backupkit/store"
	"github.com/backupkit/backupkit/store/sqlstore"
)

// faultRig is an engine with a SQLite store and a folder source of about
// 6 MiB of incompressible data (two 5 MiB multipart parts on S3).
type faultRig struct {
	st     store.Store
	engine *backup.Engine
	src    *dir.Folder
}

func newFaultRig(t *testing.T, size int) *faultRig {
	ctx := context.Background()
	base := t.TempDir()
	data := filepath.Join(base, "data")
	require.NoError(t, os.MkdirAll(data, 0o755))
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	require.NoError(t, os.WriteFile(filepath.Join(data, "blob.bin"), buf, 0o644))
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(base, "store.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	src, err := dir.New(data)
	require.NoError(t, err)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	return &faultRig{st: st, engine: backup.New(st, &backup.Options{Logger: quiet}), src: src}
}

func (r *faultRig) run(t *testing.T, timeout time.Duration, targets ...backup.Target) (*backup.Result, error) {
	job := &backup.Job{Name: "faults", Source: r.src, Destinations: targets, Compression: backup.None, Timeout: timeout}
	res, err := r.engine.Run(context.Background(), job, backup.RunOptions{})
	require.NotNil(t, res, "run not recorded: %v", err)
	return res, err
}

// faultyBucket is an S3 destination whose requests go through tr, with the
// adapter's default stall timeout (one minute).
func faultyBucket(t *testing.T, srv s3test.Server, bucket string, tr *faults.Transport, clientTimeout time.Duration) *s3dest.Bucket {
	return faultyBucketStall(t, srv, bucket, tr, clientTimeout, 0)
}

// faultyBucketStall is faultyBucket with Options.StallTimeout set to stall.
func faultyBucketStall(t *testing.T, srv s3test.Server, bucket string, tr *faults.Transport, clientTimeout, stall time.Duration) *s3dest.Bucket {
	b, err := s3dest.New(context.Background(), s3dest.Options{
		Bucket: bucket, Prefix: "bk", Endpoint: srv.Endpoint, PathStyle: true, Region: srv.Region,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
		PartSize: 5 << 20, MaxAttempts: 3, SkipBucketCheck: true, CleanupAge: time.Millisecond,
		StallTimeout: stall, HTTPClient: &http.Client{Transport: tr, Timeout: clientTimeout},
	})
	require.NoError(t, err)
	return b
}

// uploads matches the requests that carry backup data.
func uploads(r *http.Request) bool { return r.Method == http.MethodPut || r.Method == http.MethodPost }

// parts matches UploadPart.
func parts(r *http.Request) bool {
	return r.Method == http.MethodPut && r.URL.Query().Has("partNumber")
}

// completes matches CompleteMultipartUpload.
func completes(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Query().Has("uploadId")
}

// TestDestinationFaultsS3 runs a backup to a healthy local folder and to an
// S3 bucket (gofakes3, and MinIO when there is one) behind a faults.Transport,
// once per fault, and checks the documented outcome: transient faults are
// retried and the run succeeds; persistent ones make the run partial with the
// local copy intact, the S3 copy absent and no multipart upload left. Every
// case runs on gofakes3; on MinIO, six of them by default and all with
// BACKUPKIT_LONG=1.
func TestDestinationFaultsS3(t *testing.T) {
	cases := []struct {
		name    string
		rules   []faults.Rule
		timeout time.Duration // the HTTP client's
		want    store.RunStatus
		short   bool // also runs on MinIO in the default (short) variant
	}{
		{"500 always", []faults.Rule{{Match: uploads, Fault: faults.Fault{Status: 500}, Times: -1}}, 0, store.RunPartial, true},
		{"503 twice then ok", []faults.Rule{{Match: uploads, Fault: faults.Fault{Status: 503}, Times: 2}}, 0, store.RunSucceeded, false},
		{"429 once", []faults.Rule{{Match: uploads, Fault: faults.Fault{Status: 429}, Times: 1}}, 0, store.RunSucceeded, false},
		{"429 always", []faults.Rule{{Match: uploads, Fault: faults.Fault{Status: 429}, Times: -1}}, 0, store.RunPartial, false},
		{"dropped once", []faults.Rule{{Match: uploads, Fault: faults.Fault{Drop: true}, Times: 1}}, 0, store.RunSucceeded, true},
		{"dropped always", []faults.Rule{{Match: uploads, Fault: faults.Fault{Drop: true}, Times: -1}}, 0, store.RunPartial, false},
		{"500 on parts after the first", []faults.Rule{{Match: parts, Fault: faults.Fault{Status: 500}, Times: -1, Skip: 1}}, 0, store.RunPartial, false},
		{"parts dropped after the first", []faults.Rule{{Match: parts, Fault: faults.Fault{Drop: true}, Times: -1, Skip: 1}}, 0, store.RunPartial, true},
		{"503 on every part once", []faults.Rule{{Match: parts, Fault: faults.Fault{Status: 503}, Times: 2}}, 0, store.RunSucceeded, true},
		{"500 on complete", []faults.Rule{{Match: completes, Fault: faults.Fault{Status: 500}, Times: -1}}, 0, store.RunPartial, true},
		{"stall 1s once", []faults.Rule{{Match: uploads, Fault: faults.Fault{Stall: time.Second}, Times: 1}}, 0, store.RunSucceeded, false},
		{"stall forever, 2s client timeout", []faults.Rule{{Match: uploads, Fault: faults.Fault{Stall: -1}, Times: -1}}, 2 * time.Second, store.RunPartial, true},
		{"trickle 2 MiB/s", []faults.Rule{{Match: uploads, Fault: faults.Fault{Trickle: 2 << 20}, Times: -1}}, 0, store.RunSucceeded, false},
	}
	s3test.Servers(t, func(t *testing.T, srv s3test.Server) {
		client := srv.Client(t)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if srv.Name == "minio" && !tc.short && !long() {
					t.Skip("runs on gofakes3; on MinIO with BACKUPKIT_LONG=1")
				}
				rig := newFaultRig(t, 6<<20)
				bucket := s3test.NewBucket(t, srv)
				tr := faults.NewTransport(tc.rules...)
				s3b := faultyBucket(t, srv, bucket, tr, tc.timeout)
				disk, err := local.New(t.TempDir(), nil)
				require.NoError(t, err)
				res, err := rig.run(t, 0, backup.Target{Name: "disk", Destination: disk}, backup.Target{Name: "s3", Destination: s3b})
				requests, injected := tr.Counts()
				t.Logf("%s on %s: run %s (%d requests, %d faults injected): %v", tc.name, srv.Name, res.Run.Status, requests, injected, err)
				require.Equal(t, tc.want, res.Run.Status, "run error: %v", err)
				require.Positive(t, injected, "no fault was injected: the case proves nothing")
				if tc.want == store.RunSucceeded {
					require.NoError(t, err)
					require.Len(t, res.Backup.Copies, 2)
				} else {
					require.Error(t, err)
					require.NotNil(t, res.Backup)
					require.Len(t, res.Backup.Copies, 1)
					assert.Equal(t, "disk", res.Backup.Copies[0].Destination)
					require.Len(t, res.Failures, 1)
					assert.Equal(t, "s3", res.Failures[0].Destination)
				}
				tr.SetRules() // check through the same client, without faults
				copies := checkCatalog(t, rig.st, map[string]destination.Destination{"disk": disk, "s3": s3b})
				assert.Equal(t, len(res.Backup.Copies), copies)
				// Not even a dropped answer to CreateMultipartUpload, whose
				// upload ID the client never learned, leaves an upload: Put
				// aborts its key's other uploads after a retried create.
				orphans := listUploads(t, srv, client, bucket)
				assert.Empty(t, orphans, "multipart uploads left behind by the run")
				time.Sleep(5 * time.Millisecond) // older than CleanupAge
				n, err := s3b.Cleanup(context.Background())
				require.NoError(t, err)
				assert.Equal(t, len(orphans), n)
				assert.Empty(t, listUploads(t, srv, client, bucket), "multipart uploads left after Cleanup")
			})
		}
	})
}

// TestDestinationFaultsNoSpace fills the disk of one of two destinations:
// the run is partial, the other copy intact, nothing left on the full disk.
// Two ways: an injected ENOSPC (faults.NoSpaceDestination, always), and a
// real 2 MiB tmpfs (when this process may mount one; otherwise it skips
// with one line).
func TestDestinationFaultsNoSpace(t *testing.T) {
	check := func(t *testing.T, rig *faultRig, full destination.Destination, fullRoot string, res *backup.Result, err error) {
		t.Logf("run %s: %v", res.Run.Status, err)
		require.Equal(t, store.RunPartial, res.Run.Status, "run error: %v", err)
		require.Len(t, res.Failures, 1)
		assert.Equal(t, "full", res.Failures[0].Destination)
		assert.True(t, errors.Is(res.Failures[0].Err, syscall.ENOSPC) || errors.Is(res.Failures[0].Err, destination.ErrNoSpace),
			"the failure says the disk is full: %v", res.Failures[0].Err)
		var files []string
		_ = filepath.Walk(fullRoot, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				files = append(files, p)
			}
			return nil
		})
		assert.Empty(t, files, "the full disk keeps nothing")
	}
	t.Run("injected", func(t *testing.T) {
		rig := newFaultRig(t, 6<<20)
		good, err := local.New(t.TempDir(), nil)
		require.NoError(t, err)
		fullRoot := t.TempDir()
		inner, err := local.New(fullRoot, nil)
		require.NoError(t, err)
		full := &faults.NoSpaceDestination{Destination: inner, Limit: 2 << 20}
		res, err := rig.run(t, 0, backup.Target{Name: "good", Destination: good}, backup.Target{Name: "full", Destination: full})
		check(t, rig, full, fullRoot, res, err)
		checkCatalog(t, rig.st, map[string]destination.Destination{"good": good, "full": full})
	})
	t.Run("tmpfs", func(t *testing.T) {
		mnt := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a tmpfs here (%s): the injected variant covers ENOSPC", strings.TrimSpace(string(out)))
		}
		t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
		rig := newFaultRig(t, 6<<20)
		good, err := local.New(t.TempDir(), nil)
		require.NoError(t, err)
		full, err := local.New(mnt, nil)
		require.NoError(t, err)
		res, err := rig.run(t, 0, backup.Target{Name: "good", Destination: good}, backup.Target{Name: "full", Destination: full})
		check(t, rig, full, mnt, res, err)
		checkCatalog(t, rig.st, map[string]destination.Destination{"good": good, "full": full})
	})
}

// TestDestinationFaultsAllFail: when every destination fails, the run is
// failed and nothing is listed anywhere.
func TestDestinationFaultsAllFail(t *testing.T) {
	srv := s3test.Fake(t)
	bucket := s3test.NewBucket(t, srv)
	tr := faults.NewTransport(faults.Rule{Match: uploads, Fault: faults.Fault{Status: 500}, Times: -1})
	s3b := faultyBucket(t, srv, bucket, tr, 0)
	inner, err := local.New(t.TempDir(), nil)
	require.NoError(t, err)
	full := &faults.NoSpaceDestination{Destination: inner, Limit: 1 << 20}
	rig := newFaultRig(t, 6<<20)
	res, err := rig.run(t, 0, backup.Target{Name: "full", Destination: full}, backup.Target{Name: "s3", Destination: s3b})
	require.Error(t, err)
	assert.Equal(t, store.RunFailed, res.Run.Status)
	assert.Nil(t, res.Backup)
	tr.SetRules()
	assert.Zero(t, checkCatalog(t, rig.st, map[string]destination.Destination{"full": full, "s3": s3b}))
	assert.Empty(t, listUploads(t, srv, srv.Client(t), bucket))
}

// TestDestinationStallWithJobTimeout: a destination that stalls forever,
// with no HTTP client timeout, fails on the S3 adapter's stall timeout
// (here 500 ms instead of the default minute), long before the job's
// timeout: the run is partial, the healthy local copy is kept, nothing of
// the S3 copy is listed and no upload is left. (Before stall_timeout, the
// stall held the run until the job's timeout and the whole run failed,
// the local copy removed too.)
func TestDestinationStallWithJobTimeout(t *testing.T) {
	s3test.Servers(t, func(t *testing.T, srv s3test.Server) {
		bucket := s3test.NewBucket(t, srv)
		tr := faults.NewTransport(faults.Rule{Match: uploads, Fault: faults.Fault{Stall: -1}, Times: -1})
		s3b := faultyBucketStall(t, srv, bucket, tr, 0, 500*time.Millisecond)
		disk, err := local.New(t.TempDir(), nil)
		require.NoError(t, err)
		rig := newFaultRig(t, 6<<20)
		res, err := rig.run(t, 2*time.Minute, backup.Target{Name: "disk", Destination: disk}, backup.Target{Name: "s3", Destination: s3b})
		requests, injected := tr.Counts()
		t.Logf("run %s on %s (%d requests, %d stalled): %v", res.Run.Status, srv.Name, requests, injected, err)
		require.Error(t, err)
		require.Equal(t, store.RunPartial, res.Run.Status)
		assert.NotContains(t, err.Error(), "timed out", "the job's timeout, not the stall timeout, ended the run")
		require.NotNil(t, res.Backup)
		require.Len(t, res.Backup.Copies, 1)
		assert.Equal(t, "disk", res.Backup.Copies[0].Destination)
		require.Len(t, res.Failures, 1)
		assert.Equal(t, "s3", res.Failures[0].Destination)
		assert.ErrorContains(t, res.Failures[0].Err, "stalled")
		tr.SetRules()
		assert.Equal(t, 1, checkCatalog(t, rig.st, map[string]destination.Destination{"disk": disk, "s3": s3b}))
		assert.Empty(t, listUploads(t, srv, srv.Client(t), bucket))
	})
}

// listUploads is s3test.Uploads, except that gofakes3 answers
// ListMultipartUploads on a bucket without uploads with NoSuchUpload.
func listUploads(t *testing.T, srv s3test.Server, c *awss3.Client, bucket string) []string {
	t.Helper()
	out, err := c.ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil && srv.Name == "gofakes3" && strings.Contains(err.Error(), "NoSuchUpload") {
		return nil
	}
	require.NoError(t, err, "ListMultipartUploads")
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, *u.Key)
	}
	return keys
}
