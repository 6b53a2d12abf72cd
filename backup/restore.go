package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"

	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/notify"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/store"
)

// DefaultSafetyKeep is how long a safety backup taken before a restore stays
// protected from retention when RestoreOptions.SafetyKeep is zero.
const DefaultSafetyKeep = 7 * 24 * time.Hour

// RestoreOptions control a restore. The embedded source.RestoreOptions go to
// the source's Restorer as they are.
type RestoreOptions struct {
	source.RestoreOptions
	// Identities decrypt backups encrypted with age to recipients (see
	// Encryption), for example from age.ParseIdentities on an identity file.
	// A job's Passphrase is used on its own; it need not be given here.
	Identities []age.Identity
	// Prefer orders the copies a restore reads: copies on local destinations
	// (folders on this machine) come first, then those on the destinations
	// named here, in this order, then the others in the job's order.
	Prefer []string
	// SafetyKeep is how long the safety backup taken before restoring over
	// existing data stays protected; zero means DefaultSafetyKeep.
	SafetyKeep time.Duration
	// NoSafetyBackup restores over existing data without taking a safety
	// backup first (DropExisting is still required).
	NoSafetyBackup bool
	// TriggeredBy names who asked, for the run record.
	TriggeredBy string
}

// ErrChecksum is matched (errors.Is) by errors about an artifact whose bytes do
// not match the size or SHA-256 recorded when it was made.
var ErrChecksum = errors.New("artifact does not match its recorded checksum")

// ErrTargetHasData is matched by the error of a restore refused because its
// target holds data and RestoreOptions.DropExisting is not set.
var ErrTargetHasData = errors.New("the restore target holds data")

// Restore loads a backup of job back through the job's source, which must
// implement source.Restorer, and records it as a run of kind restore (with
// its log and the restore.* events).
//
// It reads the copies in the order RestoreOptions.Prefer describes, checks
// the artifact's size and SHA-256 while streaming, decrypts it (see
// Encryption), decompresses it and feeds the Restorer. A missing or wrong
// identity fails with ErrIdentity before the Restorer is called. A copy that
// cannot be read to its end (ErrChecksum, a truncated or undecodable stream,
// a read error) fails the stream before its end, so the Restorer, which
// commits only at a clean end, leaves the target untouched, and the next
// copy is tried.
//
// Before writing, a source that is a source.Inspector is asked whether the
// target holds data: then Restore refuses (ErrTargetHasData) unless
// DropExisting is set, and, unless NoSafetyBackup is set, first takes a
// safety backup of the target (a source.TargetSourcer; cataloged with status
// pre_restore, protected for SafetyKeep) on the job's local destinations (or
// its first destination). If the restore then fails, the safety backup is
// restored over the target, and the error reports both outcomes. A source
// without TargetSourcer restores without a safety backup (the run's log
// says so) and relies on its own atomicity.
func (e *Engine) Restore(ctx context.Context, job *Job, backupID string, opts RestoreOptions) error {
	rs, err := e.startRestore(ctx, job, backupID, opts)
	if err != nil {
		return err
	}
	return rs.execute(ctx)
}

// RestoreAsync starts Restore in the background and returns the ID of the
// run that records it as soon as that run exists; done receives the outcome
// once. Errors found before the run exists (an unknown backup, a source that
// cannot restore) are returned at once. The restore runs until it ends or
// ctx is canceled.
func (e *Engine) RestoreAsync(ctx context.Context, job *Job, backupID string, opts RestoreOptions) (runID string, done <-chan error, err error) {
	rs, err := e.startRestore(ctx, job, backupID, opts)
	if err != nil {
		return "", nil, err
	}
	ch := make(chan error, 1)
	go func() { ch <- rs.execute(ctx) }()
	return rs.run.ID, ch, nil
}

// restoreRun is one recorded restore.
type restoreRun struct {
	e        *Engine
	job      *Job
	restorer source.Restorer
	b        store.Backup
	opts     RestoreOptions
	run      *store.Run
	log      runLog
	counts   *streamCounts
}

// streamCounts count a restore's bytes: read from the artifact, and fed to
// the Restorer after decryption and decompression.
type streamCounts struct{ read, fed atomic.Int64 }

// startRestore checks what can be checked without a run and records the run.
func (e *Engine) startRestore(ctx context.Context, job *Job, backupID string, opts RestoreOptions) (*restoreRun, error) {
	restorer, ok := job.Source.(source.Restorer)
	if !ok {
		return nil, fmt.Errorf("job %s: its source cannot restore", job.Name)
	}
	b, err := e.backupOf(ctx, job, backupID)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	run := &store.Run{
		Job: job.Name, Kind: store.RunKindRestore, BackupID: b.ID, Trigger: store.TriggerManual,
		TriggeredBy: opts.TriggeredBy, Status: store.RunRunning, Owner: e.opts.Owner, Attempt: 1,
		StartedAt: e.opts.Now().UTC(),
	}
	if err := e.store.CreateRun(context.WithoutCancel(ctx), run); err != nil {
		return nil, fmt.Errorf("restore: backup %s: record run: %w", b.ID, err)
	}
	return &restoreRun{e: e, job: job, restorer: restorer, b: b, opts: opts, run: run,
		log: runLog{e: e, run: run, ctx: context.WithoutCancel(ctx)}, counts: &streamCounts{}}, nil
}

// backupOf returns the catalog entry of backupID, checking that it belongs
// to job and that this version can read it.
func (e *Engine) backupOf(ctx context.Context, job *Job, backupID string) (store.Backup, error) {
	b, err := e.store.GetBackup(ctx, backupID)
	if err != nil {
		return b, fmt.Errorf("backup %s: %w", backupID, err)
	}
	if b.Job != job.Name {
		return b, fmt.Errorf("backup %s belongs to job %s, not %s", backupID, b.Job, job.Name)
	}
	if _, err := ParseCompression(b.Compression); err != nil {
		return b, fmt.Errorf("backup %s: %w", backupID, err)
	}
	if b.Encryption != "" && b.Encryption != EncryptionAge {
		return b, fmt.Errorf("backup %s is encrypted (%s), which this version cannot read", backupID, b.Encryption)
	}
	return b, nil
}

// execute runs the restore and records its outcome.
func (rs *restoreRun) execute(ctx context.Context) error {
	e, run, log := rs.e, rs.run, rs.log
	target := rs.opts.Target
	if target == "" {
		target = "(the source's own location)"
	}
	log.info("restore started", "backup", rs.b.ID, "target", target, "drop_existing", rs.opts.DropExisting, "dry_run", rs.opts.DryRun)
	e.publish(notify.Event{Type: notify.RestoreStarted, Time: run.StartedAt, Job: rs.job.Name, RunID: run.ID, BackupID: rs.b.ID, Size: rs.b.Size})

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go e.keepLease(runCtx, cancel, run, log)
	stopProgress := e.progress(runCtx, rs.job.Name, run, rs.counts)
	err := rs.restore(runCtx)
	stopProgress()

	run.FinishedAt = e.opts.Now().UTC()
	run.BytesRead, run.BytesWritten = rs.counts.read.Load(), rs.counts.fed.Load()
	ev := notify.Event{Time: run.FinishedAt, Job: rs.job.Name, RunID: run.ID, BackupID: rs.b.ID, Size: rs.b.Size,
		BytesRead: run.BytesRead, BytesWritten: run.BytesWritten, Elapsed: run.FinishedAt.Sub(run.StartedAt)}
	if err != nil {
		run.Status, run.Reason = store.RunFailed, oneLine(err.Error())
		if runCtx.Err() != nil && errors.Is(context.Cause(runCtx), context.Canceled) {
			run.Status = store.RunCanceled
		}
		log.error("restore "+string(run.Status), "reason", run.Reason)
		ev.Type, ev.Error = notify.RestoreFailed, run.Reason
	} else {
		run.Status = store.RunSucceeded
		log.info("restore succeeded", "backup", rs.b.ID, "bytes_read", run.BytesRead,
			"duration", run.FinishedAt.Sub(run.StartedAt).Round(time.Millisecond))
		ev.Type = notify.RestoreSucceeded
	}
	if uerr := e.store.UpdateRun(context.WithoutCancel(ctx), run); uerr != nil {
		err = errors.Join(err, fmt.Errorf("restore: record run result: %w", uerr))
	}
	e.publish(ev)
	return err
}

// restore is the restore proper: the target check, the safety backup, the
// stream, and the rollback.
func (rs *restoreRun) restore(ctx context.Context) error {
	e, log, opts := rs.e, rs.log, rs.opts
	e.releaseExpiredSafety(ctx, rs.job)
	if opts.DryRun {
		return rs.stream(ctx, rs.b, opts.RestoreOptions)
	}
	if err := rs.preflight(ctx); err != nil {
		return err
	}
	hasData, known, err := targetHasData(ctx, rs.restorer, opts.Target)
	if err != nil {
		return fmt.Errorf("restore: inspect the target: %w", err)
	}
	var safety *store.Backup
	switch {
	case !known:
		log.info("the source cannot tell whether the target holds data; its Restorer decides (see docs/restore.md)")
	case !hasData:
		log.info("the target holds no data")
	case !opts.DropExisting:
		return fmt.Errorf("restore: %w; restore with DropExisting (backupd restore --force) to replace it", ErrTargetHasData)
	case opts.NoSafetyBackup:
		log.warn("the target holds data; replacing it without a safety backup (asked for)")
	default:
		safety, err = rs.safetyBackup(ctx)
		if err != nil {
			return fmt.Errorf("restore: safety backup of the target failed, nothing was restored: %w", err)
		}
	}
	err = rs.stream(ctx, rs.b, opts.RestoreOptions)
	if err == nil || safety == nil {
		return err
	}
	// Roll back from the safety backup, even when the context was canceled.
	log.error("restore failed; restoring the safety backup", "err", err, "safety_backup", safety.ID)
	back := opts.RestoreOptions
	back.DropExisting, back.DryRun = true, false
	rbCtx := context.WithoutCancel(ctx)
	if rerr := rs.stream(rbCtx, *safety, back); rerr != nil {
		log.error("rollback failed", "err", rerr, "safety_backup", safety.ID)
		return fmt.Errorf("restore failed: %w; rolling back from safety backup %s failed too: %v (the safety backup is kept)", err, safety.ID, rerr)
	}
	log.info("rolled back: the target holds the safety backup's data again", "safety_backup", safety.ID)
	return fmt.Errorf("restore failed: %w; rolled back from safety backup %s: the target holds its data from before the restore", err, safety.ID)
}

// preflight fails with ErrIdentity when the backup cannot be decrypted with
// what was given, before the target is looked at: it opens the first copy
// that opens and reads its encryption header.
func (rs *restoreRun) preflight(ctx context.Context) error {
	if rs.b.Encryption == "" {
		return nil
	}
	for _, c := range candidates(rs.job, rs.b, rs.opts.Prefer) {
		d, err := openDecoded(ctx, rs.job, rs.b, c, rs.opts, rs.e, nil)
		if errors.Is(err, ErrIdentity) {
			return fmt.Errorf("restore: backup %s: %w", rs.b.ID, err)
		}
		if err == nil {
			d.Close()
			return nil
		}
	}
	return nil
}

// targetHasData asks an Inspector whether target holds data; known is false
// for sources that cannot tell.
func targetHasData(ctx context.Context, r source.Restorer, target string) (hasData, known bool, err error) {
	in, ok := r.(source.Inspector)
	if !ok {
		return false, false, nil
	}
	info, err := in.Inspect(ctx, target)
	if err != nil {
		return false, true, err
	}
	return len(info.Items) > 0, true, nil
}

// safetyBackup backs up the restore target as a protected pre_restore
// backup, or returns nil and no error when the source cannot.
func (rs *restoreRun) safetyBackup(ctx context.Context) (*store.Backup, error) {
	ts, ok := rs.restorer.(source.TargetSourcer)
	if !ok {
		rs.log.warn("the target holds data and the source cannot back up a restore target: restoring without a safety backup")
		return nil, nil
	}
	src, err := ts.TargetSource(rs.opts.Target)
	if err != nil {
		return nil, err
	}
	sj := &Job{Name: rs.job.Name, Source: src, Compression: rs.job.Compression, Prefix: rs.job.Prefix,
		Encryption: rs.job.Encryption, Destinations: safetyTargets(rs.job)}
	keep := rs.opts.SafetyKeep
	if keep <= 0 {
		keep = DefaultSafetyKeep
	}
	rs.log.info("taking a safety backup of the target", "destinations", len(sj.Destinations), "protected_for", keep.String())
	res, err := rs.e.Run(ctx, sj, RunOptions{TriggeredBy: "restore " + rs.run.ID, safetyUntil: rs.e.opts.Now().UTC().Add(keep)})
	if err != nil && (res == nil || res.Backup == nil) {
		return nil, err
	}
	rs.log.info("safety backup taken", "safety_backup", res.Backup.ID, "run", res.Run.ID)
	return res.Backup, nil
}

// safetyTargets are where a safety backup goes: the job's local
// destinations, or its first destination when it has none.
func safetyTargets(job *Job) []Target {
	var out []Target
	for _, t := range job.Destinations {
		if isLocal(t.Destination) {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		out = job.Destinations[:1]
	}
	return out
}

// isLocal reports whether d keeps its objects on this machine (a folder:
// destination/local, which has a Root).
func isLocal(d destination.Destination) bool {
	_, ok := d.(interface{ Root() string })
	return ok
}

// releaseExpiredSafety lifts the protection of the job's safety backups
// whose ProtectedUntil has passed, so that retention may delete them.
func (e *Engine) releaseExpiredSafety(ctx context.Context, job *Job) {
	protected := true
	bs, err := e.store.ListBackups(ctx, store.BackupFilter{Job: job.Name, Status: store.BackupPreRestore, Protected: &protected})
	if err != nil {
		return
	}
	now := e.opts.Now()
	for _, b := range bs {
		if !protectedAt(b, now) {
			if err := e.store.SetProtected(ctx, b.ID, false); err == nil {
				e.opts.Logger.Info("safety backup no longer protected", "job", job.Name, "backup", b.ID)
			}
		}
	}
}

// protectedAt reports whether retention must keep b at now: it is
// protected, and its ProtectedUntil (a safety backup's) has not passed.
func protectedAt(b store.Backup, now time.Time) bool {
	return b.Protected && (b.ProtectedUntil.IsZero() || !now.After(b.ProtectedUntil))
}

// candidate is one copy of a backup on one of the job's destinations.
type candidate struct {
	target Target
	copy   store.Copy
}

// candidates returns b's copies on job's destinations in restore order:
// local destinations first, then those named in prefer, then the others in
// the job's order; copies marked missing come last.
func candidates(job *Job, b store.Backup, prefer []string) []candidate {
	var out []candidate
	for _, t := range job.Destinations {
		for _, c := range b.Copies {
			if c.Destination == t.Name {
				out = append(out, candidate{target: t, copy: c})
			}
		}
	}
	rank := func(c candidate) int {
		r := 0
		if !c.copy.MissingSince.IsZero() {
			r += 1 << 20
		}
		if isLocal(c.target.Destination) {
			return r
		}
		if i := slices.Index(prefer, c.target.Name); i >= 0 {
			return r + 1 + i
		}
		return r + 1 + len(prefer)
	}
	slices.SortStableFunc(out, func(a, b candidate) int { return rank(a) - rank(b) })
	return out
}

// stream restores b through the job's Restorer with ro, trying its copies
// in order until one streams cleanly. A failure of the target (not of the
// copy) or a canceled context ends it at once.
func (rs *restoreRun) stream(ctx context.Context, b store.Backup, ro source.RestoreOptions) error {
	cands := candidates(rs.job, b, rs.opts.Prefer)
	if len(cands) == 0 {
		return fmt.Errorf("restore: backup %s: none of its copies is on a destination of job %s", b.ID, rs.job.Name)
	}
	var errs []error
	for i, c := range cands {
		rs.log.info("reading copy", "backup", b.ID, "destination", c.target.Name, "key", c.copy.Key)
		err, copyFault := rs.streamCopy(ctx, b, c, ro)
		if err == nil {
			rs.log.info("restored from copy", "backup", b.ID, "destination", c.target.Name)
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", c.target.Name, err))
		if !copyFault || ctx.Err() != nil {
			return fmt.Errorf("restore: backup %s: %w", b.ID, errors.Join(errs...))
		}
		if i < len(cands)-1 {
			rs.log.warn("copy unusable; trying the next copy", "destination", c.target.Name, "err", err)
		}
	}
	return fmt.Errorf("restore: backup %s: no copy could be restored: %w", b.ID, errors.Join(errs...))
}

// streamCopy restores one copy. copyFault reports that the failure came
// from the copy's bytes (unreadable, corrupt, truncated), not the target.
func (rs *restoreRun) streamCopy(ctx context.Context, b store.Backup, c candidate, ro source.RestoreOptions) (err error, copyFault bool) {
	opened, err := openDecoded(ctx, rs.job, b, c, rs.opts, rs.e, rs.counts)
	if err != nil {
		return err, !errors.Is(err, ErrIdentity)
	}
	defer opened.Close()
	if err := rs.restorer.Restore(ctx, opened.plain, ro); err != nil {
		return err, opened.failed()
	}
	// A Restorer reads to EOF; make sure the artifact's end was checked too.
	if _, err := io.Copy(io.Discard, opened.checked); err != nil {
		return err, true
	}
	return nil, false
}

// decoded is an open copy: raw is the artifact as stored, checked verifies
// its size and SHA-256, plain is the decrypted and decompressed stream.
type decoded struct {
	raw     io.ReadCloser
	checked *checkingReader
	plain   *watchReader
	closer  io.Closer
}

func (d *decoded) Close() error {
	if d.closer != nil {
		d.closer.Close()
	}
	return d.raw.Close()
}

// failed reports whether reading the copy failed (a read error, a checksum
// mismatch, an undecodable stream).
func (d *decoded) failed() bool { return d.plain.failed() || d.checked.failed() }

// openDecoded opens copy c of b and sets up the checked, decrypted and
// decompressed stream. counts, when not nil, count its bytes.
func openDecoded(ctx context.Context, job *Job, b store.Backup, c candidate, opts RestoreOptions, e *Engine, counts *streamCounts) (*decoded, error) {
	var read, fed *atomic.Int64
	if counts != nil {
		read, fed = &counts.read, &counts.fed
	}
	compression, err := ParseCompression(b.Compression)
	if err != nil {
		return nil, err
	}
	raw, err := c.target.Destination.Open(ctx, c.copy.Key)
	if err != nil {
		return nil, err
	}
	d := &decoded{raw: raw, checked: &checkingReader{r: raw, hash: sha256.New(), wantSize: b.Size, wantSum: b.SHA256, count: read}}
	decrypted, err := decrypter(d.checked, b.Encryption, job, opts, func() []string { return e.recipientsOf(ctx, job, b) })
	if err != nil {
		raw.Close()
		return nil, err
	}
	plain, err := compression.decompressor(decrypted)
	if err != nil {
		raw.Close()
		return nil, err
	}
	d.closer = plain
	d.plain = &watchReader{r: plain, count: fed}
	return d, nil
}

// recipientsOf returns the recipient fingerprints the manifest of the first
// readable copy of b records, or nil.
func (e *Engine) recipientsOf(ctx context.Context, job *Job, b store.Backup) []string {
	for _, c := range candidates(job, b, nil) {
		r, err := c.target.Destination.Open(ctx, c.copy.Key+ManifestSuffix)
		if err != nil {
			continue
		}
		m, err := ParseManifest(r)
		r.Close()
		if err == nil && len(m.Recipients) > 0 {
			return m.Recipients
		}
	}
	return nil
}

// watchReader remembers whether its reader returned an error other than
// io.EOF.
type watchReader struct {
	r     io.Reader
	bad   atomic.Bool
	count *atomic.Int64 // optional: counts the bytes read
}

func (w *watchReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if w.count != nil {
		w.count.Add(int64(n))
	}
	if err != nil && err != io.EOF {
		w.bad.Store(true)
	}
	return n, err
}

func (w *watchReader) failed() bool { return w.bad.Load() }

// checkingReader hashes and counts what it reads; at the end of the stream it
// returns ErrChecksum instead of io.EOF when the bytes are not the recorded
// ones. After an error other than io.EOF it returns that error again. A
// decompressor may read it from its own goroutine: reads are serialized.
type checkingReader struct {
	mu       sync.Mutex
	r        io.Reader
	hash     hash.Hash
	n        int64
	wantSize int64
	wantSum  string
	count    *atomic.Int64 // optional
	err      error
}

func (c *checkingReader) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.read(p)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

// failed reports whether a read failed (other than at a clean end).
func (c *checkingReader) failed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil
}

func (c *checkingReader) read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	c.hash.Write(p[:n])
	c.n += int64(n)
	if c.count != nil {
		c.count.Add(int64(n))
	}
	if c.n > c.wantSize {
		return n, fmt.Errorf("%w: more than the recorded %d bytes", ErrChecksum, c.wantSize)
	}
	if err == io.EOF {
		if c.n != c.wantSize {
			return n, fmt.Errorf("%w: %d bytes, recorded %d (truncated)", ErrChecksum, c.n, c.wantSize)
		}
		if got := hex.EncodeToString(c.hash.Sum(nil)); got != c.wantSum {
			return n, fmt.Errorf("%w: sha256 %s, recorded %s", ErrChecksum, got, c.wantSum)
		}
	}
	return n, err
}

// progress publishes notify.RunProgress events for a restore or verify run,
// with BytesRead the artifact bytes read so far and BytesWritten the bytes
// fed to a Restorer, until stop is called.
func (e *Engine) progress(ctx context.Context, job string, run *store.Run, counts *streamCounts) (stop func()) {
	return e.every(ctx, func() {
		elapsed := e.opts.Now().Sub(run.StartedAt)
		n := counts.read.Load()
		e.publish(notify.Event{Type: notify.RunProgress, Time: e.opts.Now().UTC(), Job: job, RunID: run.ID,
			BackupID: run.BackupID, BytesRead: n, BytesWritten: counts.fed.Load(), Elapsed: elapsed, Rate: rate(n, elapsed)})
	})
}
