package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/internal/id"
	"github.com/backupkit/backupkit/internal/redact"
	"github.com/backupkit/backupkit/notify"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/store"
)

// Version is written into manifests as the tool that made the backup.
const Version = "backupkit/0.1"

// RunOptions describe why a run happens. The zero value is a manual run.
type RunOptions struct {
	// Trigger defaults to store.TriggerManual.
	Trigger store.Trigger
	// TriggeredBy names who or what asked for the run.
	TriggeredBy string
	// ScheduleID and Slot identify the scheduled slot, for scheduled runs.
	ScheduleID string
	Slot       time.Time
	// Claimed, when set, is a running run the caller already recorded (a
	// scheduler's store.ClaimRun of a slot): Run runs it, keeping its ID,
	// Owner, Attempt and lease, instead of recording a new run; Trigger,
	// TriggeredBy, ScheduleID and Slot are then ignored. The lease is renewed
	// and the result fenced with the claimed run's Owner and Attempt.
	Claimed *store.Run

	// safetyUntil, when set, catalogs the backup as a safety backup taken
	// before a restore (store.BackupPreRestore), protected until then.
	safetyUntil time.Time
}

// ErrInterrupted, as the cause of the context given to Run (see
// context.WithCancelCause), makes the run end as store.RunInterrupted rather
// than store.RunCanceled: a host shutting down stopped it, nobody asked.
var ErrInterrupted = errors.New("interrupted: the process is shutting down")

// Result is the outcome of one run.
type Result struct {
	// Run is the run record as stored at the end.
	Run store.Run
	// Backup is the catalog entry, or nil when no copy was made.
	Backup *store.Backup
	// Info is what the source reported, when its snapshot completed.
	Info source.Info
	// Failures lists the destinations that did not get a copy, and why.
	Failures []DestinationError
}

// DestinationError is a destination's failure in a run.
type DestinationError struct {
	Destination string
	Err         error
}

func (d DestinationError) Error() string { return d.Destination + ": " + d.Err.Error() }
func (d DestinationError) Unwrap() error { return d.Err }

// Run backs up job once: it records a running run, streams the source's
// snapshot through compression, encryption (Job.Encryption) and a SHA-256 hash
// to every destination at once, writes the manifest beside each complete
// artifact, catalogs the backup and records the run's final status:
//
//   - succeeded: every destination holds the artifact and its manifest;
//   - partial: some do; the backup is cataloged with the copies that exist;
//   - failed: the source failed, or no destination got a copy; nothing is left
//     listed on any destination;
//   - canceled: ctx was canceled; nothing is left listed.
//
// Run returns a nil error only for succeeded; for the other statuses the error
// explains, and Result (never nil once the run was recorded) says what exists.
// A job that fails validation is not recorded and returns a nil Result.
//
// After a succeeded run of a job with a Retention policy, Run prunes the job
// (see Prune) and writes the outcome to the run's log; pruning never changes
// the run's status, Result or error. Then, for a job with a Health policy,
// it checks the job's health (see CheckHealth).
//
// While it runs, the run can be paused and resumed by its ID (see Pause and
// Resume); a run canceled for pausing longer than Options.MaxPause is
// recorded as canceled and its error wraps ErrPausedTooLong.
func (e *Engine) Run(ctx context.Context, job *Job, opts RunOptions) (*Result, error) {
	if err := job.Validate(); err != nil {
		return nil, err
	}
	compression, _ := ParseCompression(string(job.Compression))
	if opts.Trigger == "" {
		opts.Trigger = store.TriggerManual
	}
	run := &store.Run{
		Job: job.Name, ScheduleID: opts.ScheduleID, Slot: opts.Slot,
		Trigger: opts.Trigger, TriggeredBy: opts.TriggeredBy,
		Status: store.RunRunning, Owner: e.opts.Owner, Attempt: 1,
		StartedAt: e.opts.Now().UTC(),
	}
	keepCtx := context.WithoutCancel(ctx)
	if opts.Claimed != nil {
		run = opts.Claimed
	} else if err := e.store.CreateRun(keepCtx, run); err != nil {
		return nil, fmt.Errorf("job %s: record run: %w", job.Name, err)
	}
	log := runLog{e: e, run: run, ctx: keepCtx}
	log.info("run started", "trigger", string(run.Trigger), "destinations", len(job.Destinations))
	e.publish(notify.Event{Type: notify.RunStarted, Time: run.StartedAt, Job: job.Name, RunID: run.ID})

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if job.Timeout > 0 {
		var stop context.CancelFunc
		runCtx, stop = context.WithTimeoutCause(runCtx, job.Timeout, fmt.Errorf("timed out after %s", job.Timeout))
		defer stop()
	}
	go e.keepLease(runCtx, cancel, run, log)
	ctl, unregister := e.register(run.ID, runCtx, cancel, log)
	defer unregister()

	x := &execution{e: e, job: job, run: run, log: log, compression: compression, ctl: ctl, safetyUntil: opts.safetyUntil}
	stopProgress := e.reportProgress(runCtx, x)
	res := x.execute(runCtx)
	stopProgress()

	// Final status.
	run.FinishedAt = e.opts.Now().UTC()
	run.BytesRead, run.BytesWritten = x.bytesRead.Load(), x.bytesWritten.Load()
	var runErr error
	switch {
	case x.sourceErr != nil || len(res.Failures) == len(job.Destinations):
		run.Status = store.RunFailed
		if cause := context.Cause(runCtx); runCtx.Err() != nil && errors.Is(cause, ErrInterrupted) {
			run.Status = store.RunInterrupted
		} else if runCtx.Err() != nil && errors.Is(cause, context.Canceled) {
			run.Status = store.RunCanceled
		}
		runErr = x.failure(runCtx, res)
	case len(res.Failures) > 0:
		run.Status = store.RunPartial
		runErr = fmt.Errorf("job %s: %d of %d destinations failed: %w", job.Name,
			len(res.Failures), len(job.Destinations), joinFailures(res.Failures))
	default:
		run.Status = store.RunSucceeded
	}
	if runErr != nil {
		run.Reason = oneLine(runErr.Error())
	}
	if res.Backup != nil {
		if err := e.store.AddBackup(keepCtx, res.Backup); err != nil {
			// The copies and their manifests exist; the catalog can be
			// rebuilt from the manifests. Say so rather than delete them.
			runErr = fmt.Errorf("job %s: catalog the backup (its copies and manifests are stored): %w", job.Name, err)
			run.Status, run.Reason = store.RunFailed, oneLine(runErr.Error())
			res.Backup = nil
		} else {
			run.BackupID = res.Backup.ID
		}
	}
	if run.Status == store.RunSucceeded {
		log.info("run succeeded", "backup", run.BackupID, "bytes_read", run.BytesRead, "bytes_written", run.BytesWritten,
			"duration", run.FinishedAt.Sub(run.StartedAt).Round(time.Millisecond))
	} else {
		log.error("run "+string(run.Status), "reason", run.Reason)
	}
	if err := e.store.UpdateRun(keepCtx, run); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("job %s: record run result: %w", job.Name, err))
	}
	res.Run = *run
	e.publish(notify.Event{
		Type: finishedEvent(run.Status), Time: run.FinishedAt, Job: job.Name, RunID: run.ID, BackupID: run.BackupID,
		BytesRead: run.BytesRead, BytesWritten: run.BytesWritten, Elapsed: run.FinishedAt.Sub(run.StartedAt),
		Rate: rate(run.BytesRead, run.FinishedAt.Sub(run.StartedAt)), Error: run.Reason,
	})
	if run.Status == store.RunSucceeded && job.Retention != nil {
		e.pruneAfterRun(ctx, job, log) // logs its outcome; never changes the run's
	}
	e.checkHealthAfterRun(keepCtx, job) // with job.Health: publishes health changes
	return res, runErr
}

// execution is the state of one run's pipeline.
type execution struct {
	e           *Engine
	job         *Job
	run         *store.Run
	log         runLog
	compression Compression
	recipients  []string  // fingerprints, with Encryption
	ctl         *control  // Pause and Resume
	safetyUntil time.Time // see RunOptions.safetyUntil

	bytesRead    atomic.Int64 // source bytes
	bytesWritten atomic.Int64 // artifact bytes
	sourceErr    error
}

// failure describes a failed or canceled run.
func (x *execution) failure(runCtx context.Context, res *Result) error {
	if runCtx.Err() != nil {
		if cause := context.Cause(runCtx); cause != nil {
			return fmt.Errorf("job %s: %w", x.job.Name, cause)
		}
	}
	if x.sourceErr != nil {
		return fmt.Errorf("job %s: %w", x.job.Name, x.sourceErr)
	}
	return fmt.Errorf("job %s: every destination failed: %w", x.job.Name, joinFailures(res.Failures))
}

// copyResult is one destination's outcome.
type copyResult struct {
	i        int // the destination's index in the job
	obj      destination.Object
	err      error
	complete bool // the destination read the stream to its end
}

func (x *execution) execute(ctx context.Context) *Result {
	job, e := x.job, x.e
	backupID := id.New()
	created := x.run.StartedAt
	key := ArtifactKey(job.Prefix, job.Name, created, backupID, job.ext(x.compression))
	res := &Result{}

	// Start one upload per destination, each reading its own branch.
	fan := newFanout(ctx, len(job.Destinations), e.opts.QueueLength, e.opts.ChunkSize)
	done := make(chan copyResult, len(job.Destinations)) // never blocks a Put's goroutine
	branches := fan.branches
	for i, t := range job.Destinations {
		b := fan.branches[i]
		putCtx, cancelPut := context.WithCancelCause(ctx)
		b.cancel, b.stall = cancelPut, e.stallTimeout(job, t.Destination)
		go func() {
			defer cancelPut(nil)
			obj, err := t.Destination.Put(putCtx, key, b, &destination.PutOptions{ContentType: "application/octet-stream"})
			r := copyResult{i: i, obj: obj, err: err, complete: b.eof}
			b.stop()
			done <- r
		}()
	}

	// The pipeline: source -> pause gate -> count -> compress -> encrypt ->
	// hash, count, chunk -> fan-out.
	hash := sha256.New()
	artifact := io.MultiWriter(hash, counter{&x.bytesWritten}, fan)
	comp, err := x.pipeline(artifact)
	if err != nil {
		x.sourceErr = err
	} else {
		info, err := job.Source.Snapshot(ctx, gate{c: x.ctl, w: io.MultiWriter(counter{&x.bytesRead}, comp)})
		res.Info = info
		switch {
		case err != nil && errors.Is(err, errAllDestinationsFailed):
			// Reported per destination below.
		case err != nil:
			x.sourceErr = fmt.Errorf("source: %w", err)
		case ctx.Err() != nil:
			x.sourceErr = context.Cause(ctx)
		}
		cerr := comp.Close() // always: it releases the encoder's goroutines
		if x.sourceErr == nil && cerr != nil && !errors.Is(cerr, errAllDestinationsFailed) {
			x.sourceErr = fmt.Errorf("compression: %w", cerr)
		}
		if x.sourceErr == nil {
			if ferr := fan.flush(); ferr != nil && !errors.Is(ferr, errAllDestinationsFailed) {
				x.sourceErr = ferr
			}
		}
	}
	if x.sourceErr != nil {
		fan.close(x.sourceErr)
	} else {
		fan.close(nil)
	}
	results := x.awaitCopies(ctx, branches, done, key)
	// When every destination gave up on its own, the source's write error is
	// only the consequence: report the destinations' errors instead.
	if x.sourceErr != nil && allFailedOnTheirOwn(branches, results) {
		x.sourceErr = nil
	}

	size := x.bytesWritten.Load()
	sum := hex.EncodeToString(hash.Sum(nil))
	cleanupCtx := context.WithoutCancel(ctx)
	var copies []store.Copy
	for i, t := range job.Destinations {
		r := results[i]
		if x.sourceErr != nil {
			if r.err == nil { // an adapter that broke the Put contract: remove what it kept
				_ = t.Destination.Delete(cleanupCtx, key)
			} else if branches[i].stoppedEarly() {
				x.log.warn("destination failed", "destination", t.Name, "err", r.err)
			}
			continue
		}
		err := r.err
		switch {
		case err == nil && !r.complete:
			err = errors.New("Put returned before reading the whole artifact")
		case err == nil && r.obj.Size != size:
			err = fmt.Errorf("stored %d bytes, want %d", r.obj.Size, size)
		}
		if err == nil {
			err = x.putManifest(ctx, t.Destination, key, backupID, created, res.Info, size, sum)
		}
		if err != nil {
			if r.err == nil {
				_ = t.Destination.Delete(cleanupCtx, key)
			}
			x.log.error("destination failed", "destination", t.Name, "err", err)
			res.Failures = append(res.Failures, DestinationError{Destination: t.Name, Err: err})
			continue
		}
		x.log.info("copy stored", "destination", t.Name, "key", key, "bytes", size)
		copies = append(copies, store.Copy{Destination: t.Name, Key: key, Size: size, CreatedAt: e.opts.Now().UTC()})
	}
	if x.sourceErr != nil {
		x.log.error("source failed: no copy kept", "err", x.sourceErr)
		return res
	}
	if len(copies) == 0 {
		return res
	}
	infoJSON, _ := json.Marshal(res.Info)
	status := store.BackupComplete
	if len(copies) < len(job.Destinations) {
		status = store.BackupPartial
	}
	res.Backup = &store.Backup{
		ID: backupID, Job: job.Name, RunID: x.run.ID, Status: status, CreatedAt: created,
		Size: size, SHA256: sum, Format: job.Source.Format(), Compression: string(x.compression),
		SourceInfo: infoJSON, Copies: copies,
	}
	if job.Encryption != nil {
		res.Backup.Encryption = EncryptionAge
	}
	if !x.safetyUntil.IsZero() {
		res.Backup.Status, res.Backup.Protected, res.Backup.ProtectedUntil = store.BackupPreRestore, true, x.safetyUntil
	}
	return res
}

// abandonGrace is how long awaitCopies waits for a destination's Put to
// return once its branch was abandoned or the run's context ended.
var abandonGrace = time.Minute

// awaitCopies waits for every destination's Put (their results come on
// done) and returns their results by destination. Meanwhile it times the
// destinations that, once the stream has ended, sit on data they have not
// read (branch.idle), and abandons them. A stalled destination's failure is
// its stall (ErrDestinationStalled), not the cancellation it caused. A Put
// that does not return within abandonGrace of its branch being abandoned,
// or of ctx ending, is left behind so that the run can end: its result is a
// failure, and should it still store the artifact later, that artifact
// (which has no manifest) is deleted.
func (x *execution) awaitCopies(ctx context.Context, branches []*branch, done chan copyResult, key string) []copyResult {
	results := make([]copyResult, len(branches))
	got := make([]bool, len(branches))
	deadline := make([]time.Time, len(branches)) // once abandoned or canceled
	why := make([]error, len(branches))
	every := time.Second
	for _, b := range branches {
		if b.stall > 0 {
			every = min(every, max(b.stall/4, 10*time.Millisecond))
		}
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	ctxDone := ctx.Done()
	late := func(r copyResult) { // the result of a Put left behind
		if r.err == nil {
			dest := x.job.Destinations[r.i]
			err := dest.Destination.Delete(context.Background(), key)
			x.log.warn("a destination left behind stored the artifact late: deleted (it has no manifest)",
				"destination", dest.Name, "key", key, "err", err)
		}
	}
	lateToCome := 0
	for left := len(branches); left > 0; {
		select {
		case r := <-done:
			if got[r.i] {
				late(r)
				lateToCome--
				continue
			}
			results[r.i], got[r.i] = r, true
			left--
			continue
		case <-ctxDone:
			ctxDone = nil
			for i := range branches {
				if !got[i] && deadline[i].IsZero() {
					deadline[i], why[i] = time.Now().Add(abandonGrace), context.Cause(ctx)
				}
			}
		case <-tick.C:
		}
		now := time.Now()
		for i, b := range branches {
			if got[i] {
				continue
			}
			if b.idle() {
				b.abandon()
			}
			if err := b.stalled(); err != nil && deadline[i].IsZero() {
				deadline[i], why[i] = now.Add(abandonGrace), err
			}
			if !deadline[i].IsZero() && now.After(deadline[i]) {
				x.log.warn("destination did not stop its upload: left behind", "destination", x.job.Destinations[i].Name, "waited", abandonGrace.String())
				results[i] = copyResult{i: i, err: fmt.Errorf("%w; its upload did not stop within %s and was left behind", why[i], abandonGrace)}
				got[i] = true
				left--
				lateToCome++
			}
		}
	}
	if lateToCome > 0 {
		// The results still to come are the left-behind Puts'.
		go func() {
			for range lateToCome {
				late(<-done)
			}
		}()
	}
	for i, b := range branches {
		stall := b.stalled()
		if stall == nil || errors.Is(results[i].err, ErrDestinationStalled) {
			continue
		}
		if results[i].err == nil {
			// It reported success after being cut off, so without the
			// chunks sent meanwhile (its stream ended with the stall
			// error, which it ignored): remove what it stored.
			dest := x.job.Destinations[i]
			if err := dest.Destination.Delete(context.WithoutCancel(ctx), key); err != nil {
				x.log.error("could not delete what a stalled destination stored; it has no manifest and is not listed",
					"destination", dest.Name, "key", key, "err", err)
			}
		}
		results[i].err = stall
	}
	return results
}

// stallTimeout is how long d may take no data in a run of job: job's
// Job.StallTimeout, else the engine's; 0 (never) when off, or when d guards
// against stalls itself (destination.StallGuard).
func (e *Engine) stallTimeout(job *Job, d destination.Destination) time.Duration {
	if g, ok := d.(destination.StallGuard); ok && g.GuardsStalls() {
		return 0
	}
	t := job.StallTimeout
	if t == 0 {
		t = e.opts.StallTimeout
	}
	return max(t, 0)
}

func allFailedOnTheirOwn(branches []*branch, results []copyResult) bool {
	for i, b := range branches {
		if results[i].err == nil || !b.stoppedEarly() {
			return false
		}
	}
	return true
}

// putManifest writes the manifest beside a complete artifact.
func (x *execution) putManifest(ctx context.Context, d destination.Destination, key, backupID string, created time.Time, info source.Info, size int64, sum string) error {
	m := Manifest{
		Version: ManifestVersion, BackupID: backupID, Job: x.job.Name, RunID: x.run.ID, CreatedAt: created,
		Source: info, Artifact: key, Size: size, SHA256: sum, Compression: x.compression, Tool: Version,
	}
	if x.job.Encryption != nil {
		m.Encryption, m.Recipients = EncryptionAge, x.recipients
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	data = append(data, '\n')
	if _, err := d.Put(ctx, key+ManifestSuffix, bytes.NewReader(data), &destination.PutOptions{Size: int64(len(data)), ContentType: "application/json"}); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	return nil
}

// reportProgress publishes progress events until the returned stop is called.
func (e *Engine) reportProgress(ctx context.Context, x *execution) (stop func()) {
	return e.every(ctx, func() {
		elapsed := e.opts.Now().Sub(x.run.StartedAt)
		read := x.bytesRead.Load()
		e.publish(notify.Event{
			Type: notify.RunProgress, Time: e.opts.Now().UTC(), Job: x.job.Name, RunID: x.run.ID,
			BytesRead: read, BytesWritten: x.bytesWritten.Load(), Elapsed: elapsed, Rate: rate(read, elapsed),
		})
	})
}

// every calls fn every Options.ProgressInterval until ctx ends or the
// returned stop is called; stop returns once fn is no longer running.
func (e *Engine) every(ctx context.Context, fn func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(e.opts.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				fn()
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func finishedEvent(s store.RunStatus) notify.EventType {
	switch s {
	case store.RunSucceeded:
		return notify.RunSucceeded
	case store.RunPartial:
		return notify.RunPartial
	case store.RunCanceled:
		return notify.RunCanceled
	case store.RunInterrupted:
		return notify.RunInterrupted
	}
	return notify.RunFailed
}

func joinFailures(fs []DestinationError) error {
	errs := make([]error, len(fs))
	for i, f := range fs {
		errs[i] = f
	}
	return errors.Join(errs...)
}

// oneLine folds a multi-line error into one line for run records, with
// whatever secrets it can recognise masked.
func oneLine(s string) string { return redact.Text(strings.Join(strings.Fields(s), " ")) }

// counter counts bytes written through it.
type counter struct{ n *atomic.Int64 }

func (c counter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }
