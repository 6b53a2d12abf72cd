package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/internal/units"
	"github.com/backupkit/backupkit/notify"
)

// cmdDownload is `backupd download ID [-o FILE] [--raw]`: it writes a
// backup's content (decrypted and decompressed; --raw: the artifact as
// stored) to FILE or stdout, checking its SHA-256. A file left incomplete
// by a failure is removed.
func cmdDownload(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("download", stderr)
	out := fs.String("o", "", "write to this `file` instead of stdout (removed if the download fails)")
	raw := fs.Bool("raw", false, "the artifact as stored (compressed, encrypted) instead of its content")
	identityFiles := identityFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{errors.New("download: give exactly one BACKUP_ID")}
	}
	identities, err := restoreIdentities(*identityFiles)
	if err != nil {
		return usageError{fmt.Errorf("download: %w", err)}
	}
	rt, err := open(ctx, *path, stderr, slog.LevelWarn)
	if err != nil {
		return err
	}
	defer rt.Close()
	b, job, err := backupAndJob(ctx, rt, "download", pos[0])
	if err != nil {
		return err
	}
	var w io.Writer = stdout
	var f *os.File
	if *out != "" && *out != "-" {
		if f, err = os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			return fmt.Errorf("download: %w", err)
		}
		w = f
	}
	var n atomic.Int64
	stop := downloadProgress(stderr, b.Job, &n)
	written, err := rt.Engine.Download(ctx, job, b.ID, countingWriter{w: w, n: &n},
		backup.DownloadOptions{Raw: *raw, Restore: backup.RestoreOptions{Identities: identities}})
	stop()
	if f != nil {
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(*out)
		}
	}
	if err != nil {
		if errors.Is(err, backup.ErrIdentity) {
			err = fmt.Errorf("%w (give the identity with --identity FILE, $BACKUPD_AGE_IDENTITY_FILE or $BACKUPD_AGE_IDENTITY)", err)
		}
		return err
	}
	if f != nil {
		fmt.Fprintf(stderr, "backup %s: %s written to %s\n", b.ID, units.FormatBinary(written), *out)
	}
	return nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// downloadProgress draws progress on stderr, when it is a terminal, every
// second until stop is called.
func downloadProgress(stderr io.Writer, job string, n *atomic.Int64) (stop func()) {
	p := terminalProgress(stderr)
	if p == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				el := time.Since(start)
				p.event(notify.Event{Type: notify.RunProgress, Job: job, BytesRead: n.Load(), BytesWritten: n.Load(),
					Elapsed: el, Rate: float64(n.Load()) / el.Seconds()})
			}
		}
	}()
	return func() { close(done); <-finished; p.done() }
}
