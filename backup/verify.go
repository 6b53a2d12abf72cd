package backup

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/backupkit/backupkit/notify"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/store"
)

// VerifyLevel says how thoroughly Verify checks a backup.
type VerifyLevel string

// The verify levels, from cheapest to most thorough.
const (
	// VerifyExists checks that every copy is present with the recorded size.
	VerifyExists VerifyLevel = "exists"
	// VerifyChecksum reads every copy in full and compares its SHA-256.
	VerifyChecksum VerifyLevel = "checksum"
	// VerifyRestore test-restores into a scratch target, compares it with the
	// manifest's items and drops the scratch target.
	VerifyRestore VerifyLevel = "restore"
)

// VerifyOptions control Verify.
type VerifyOptions struct {
	// Level defaults to VerifyChecksum.
	Level VerifyLevel
	// Restore carries identities for encrypted backups (level restore).
	Restore RestoreOptions
	// TriggeredBy names who asked, for the run record.
	TriggeredBy string
	// Claimed, when set, is a running verify run the caller already
	// recorded (a claimed slot of a verify schedule, see
	// config.Runtime.RunVerifySchedules): Verify runs it instead of recording
	// a new run, setting its BackupID.
	Claimed *store.Run
}

// CopyVerdict is the outcome of verifying one copy.
type CopyVerdict struct {
	Destination string `json:"destination"`
	Key         string `json:"key"`
	OK          bool   `json:"ok"`
	// Problem explains a failed copy in one line.
	Problem string `json:"problem,omitempty"`
}

// VerifyResult is the outcome of Verify.
type VerifyResult struct {
	BackupID string      `json:"backup_id"`
	RunID    string      `json:"run_id"`
	Level    VerifyLevel `json:"level"`
	// OK is true when every copy passed (and, at level restore, the test
	// restore matched the manifest).
	OK         bool          `json:"ok"`
	Copies     []CopyVerdict `json:"copies"`
	Problem    string        `json:"problem,omitempty"`
	VerifiedAt time.Time     `json:"verified_at"`
}

// Verify checks backupID of job at opts.Level, records the outcome in the
// catalog (store.Catalog.RecordVerification) and as a run of kind verify
// (succeeded when the backup passed, failed with the problem as reason when
// not), and publishes verify.succeeded or verify.failed.
// A backup that fails verification is a VerifyResult with OK false and a nil
// error; the error is for verification that could not run (an unknown
// backup, level restore on a source that is not a source.Scratcher and
// source.Inspector, a canceled context).
//
// Levels: exists stats every copy and its manifest and compares the size;
// checksum reads every copy in full and compares size and SHA-256; restore
// does what checksum does, then test-restores the best good copy into a
// scratch target (Scratcher.ScratchTarget), compares what Inspect finds
// there with the items the snapshot reported (name, count, and checksum
// where both sides have one), and always drops the scratch target.
func (e *Engine) Verify(ctx context.Context, job *Job, backupID string, opts VerifyOptions) (VerifyResult, error) {
	vr, err := e.startVerify(ctx, job, backupID, opts)
	if err != nil {
		return VerifyResult{}, err
	}
	return vr.execute(ctx)
}

// VerifyAsync starts Verify in the background and returns the ID of the run
// that records it as soon as that run exists; done receives the outcome
// once (nil when verification ran, whatever its verdict).
func (e *Engine) VerifyAsync(ctx context.Context, job *Job, backupID string, opts VerifyOptions) (runID string, done <-chan error, err error) {
	vr, err := e.startVerify(ctx, job, backupID, opts)
	if err != nil {
		return "", nil, err
	}
	ch := make(chan error, 1)
	go func() {
		_, err := vr.execute(ctx)
		ch <- err
	}()
	return vr.run.ID, ch, nil
}

// verifyRun is one recorded verification.
type verifyRun struct {
	e      *Engine
	job    *Job
	b      store.Backup
	opts   VerifyOptions
	run    *store.Run
	log    runLog
	counts streamCounts
}

func (e *Engine) startVerify(ctx context.Context, job *Job, backupID string, opts VerifyOptions) (*verifyRun, error) {
	if opts.Level == "" {
		opts.Level = VerifyChecksum
	}
	switch opts.Level {
	case VerifyExists, VerifyChecksum, VerifyRestore:
	default:
		return nil, fmt.Errorf("verify: level %q: want exists, checksum or restore", opts.Level)
	}
	b, err := e.backupOf(ctx, job, backupID)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	keep := context.WithoutCancel(ctx)
	run := opts.Claimed
	if run == nil {
		run = &store.Run{Job: job.Name, Kind: store.RunKindVerify, BackupID: b.ID, Trigger: store.TriggerManual,
			TriggeredBy: opts.TriggeredBy, Status: store.RunRunning, Owner: e.opts.Owner, Attempt: 1,
			StartedAt: e.opts.Now().UTC()}
		if err := e.store.CreateRun(keep, run); err != nil {
			return nil, fmt.Errorf("verify: backup %s: record run: %w", b.ID, err)
		}
	}
	run.BackupID = b.ID
	return &verifyRun{e: e, job: job, b: b, opts: opts, run: run, log: runLog{e: e, run: run, ctx: keep}}, nil
}

func (vr *verifyRun) execute(ctx context.Context) (VerifyResult, error) {
	e, run, log := vr.e, vr.run, vr.log
	log.info("verify started", "backup", vr.b.ID, "level", string(vr.opts.Level))
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go e.keepLease(runCtx, cancel, run, log)
	stopProgress := e.progress(runCtx, vr.job.Name, run, &vr.counts)
	res, err := vr.verify(runCtx)
	stopProgress()

	res.BackupID, res.RunID, res.Level = vr.b.ID, run.ID, vr.opts.Level
	res.VerifiedAt = e.opts.Now().UTC()
	run.FinishedAt = res.VerifiedAt
	run.BytesRead = vr.counts.read.Load()
	keep := context.WithoutCancel(ctx)
	ev := notify.Event{Time: run.FinishedAt, Job: vr.job.Name, RunID: run.ID, BackupID: vr.b.ID, Size: vr.b.Size,
		BytesRead: run.BytesRead, Elapsed: run.FinishedAt.Sub(run.StartedAt)}
	switch {
	case err != nil:
		run.Status, run.Reason = store.RunFailed, oneLine(err.Error())
		if runCtx.Err() != nil {
			run.Status = store.RunCanceled
		}
		log.error("verify could not run", "reason", run.Reason)
	case res.OK:
		run.Status = store.RunSucceeded
		log.info("verify passed", "level", string(res.Level))
		ev.Type = notify.VerifySucceeded
	default:
		run.Status, run.Reason = store.RunFailed, oneLine(res.Problem)
		log.error("verify failed", "level", string(res.Level), "problem", res.Problem)
		ev.Type, ev.Error = notify.VerifyFailed, run.Reason
	}
	if err == nil {
		v := store.Verification{At: res.VerifiedAt, Level: string(res.Level), OK: res.OK, Problem: oneLine(res.Problem)}
		if rerr := e.store.RecordVerification(keep, vr.b.ID, v); rerr != nil {
			err = fmt.Errorf("verify: record the outcome: %w", rerr)
		}
	}
	if uerr := e.store.UpdateRun(keep, run); uerr != nil {
		err = errors.Join(err, fmt.Errorf("verify: record run result: %w", uerr))
	}
	if ev.Type != "" {
		e.publish(ev)
	}
	return res, err
}

// verify does the checks of the level.
func (vr *verifyRun) verify(ctx context.Context) (VerifyResult, error) {
	var res VerifyResult
	var restorer source.Restorer
	if vr.opts.Level == VerifyRestore {
		r, ok := vr.job.Source.(source.Restorer)
		_, scratch := vr.job.Source.(source.Scratcher)
		_, inspect := vr.job.Source.(source.Inspector)
		if !ok || !scratch || !inspect {
			return res, fmt.Errorf("verify: job %s: its source cannot test-restore into a scratch target (level restore); use level checksum", vr.job.Name)
		}
		restorer = r
	}
	byName := map[string]Target{}
	for _, t := range vr.job.Destinations {
		byName[t.Name] = t
	}
	var problems []string
	var good []candidate
	for _, c := range vr.b.Copies {
		v := CopyVerdict{Destination: c.Destination, Key: c.Key}
		t, ok := byName[c.Destination]
		var err error
		switch {
		case !ok:
			err = fmt.Errorf("destination %q is not one of job %s's", c.Destination, vr.job.Name)
		case vr.opts.Level == VerifyExists:
			err = vr.exists(ctx, t, c)
		default:
			err = vr.checksum(ctx, t, c)
		}
		if ctx.Err() != nil {
			return res, context.Cause(ctx)
		}
		if err != nil {
			v.Problem = oneLine(err.Error())
			problems = append(problems, c.Destination+": "+v.Problem)
			vr.log.warn("copy failed verification", "destination", c.Destination, "problem", v.Problem)
		} else {
			v.OK = true
			good = append(good, candidate{target: t, copy: c})
			vr.log.info("copy verified", "destination", c.Destination)
		}
		res.Copies = append(res.Copies, v)
	}
	if len(vr.b.Copies) == 0 {
		problems = append(problems, "the backup has no copies")
	}
	if restorer != nil {
		if len(good) == 0 {
			problems = append(problems, "test restore: no good copy to restore")
		} else if p, err := vr.testRestore(ctx, restorer); err != nil {
			return res, err
		} else if p != "" {
			problems = append(problems, "test restore: "+p)
		}
	}
	res.OK = len(problems) == 0
	res.Problem = strings.Join(problems, "; ")
	return res, nil
}

// exists checks that the copy and its manifest are there, with the
// recorded size.
func (vr *verifyRun) exists(ctx context.Context, t Target, c store.Copy) error {
	obj, err := t.Destination.Stat(ctx, c.Key)
	if err != nil {
		return err
	}
	if obj.Size != vr.b.Size {
		return fmt.Errorf("%d bytes, recorded %d", obj.Size, vr.b.Size)
	}
	if _, err := t.Destination.Stat(ctx, c.Key+ManifestSuffix); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	return nil
}

// checksum reads the copy in full and compares its size and SHA-256.
func (vr *verifyRun) checksum(ctx context.Context, t Target, c store.Copy) error {
	if err := vr.exists(ctx, t, c); err != nil {
		return err
	}
	r, err := t.Destination.Open(ctx, c.Key)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.Copy(io.Discard, &checkingReader{r: r, hash: sha256.New(), wantSize: vr.b.Size, wantSum: vr.b.SHA256, count: &vr.counts.read})
	return err
}

// testRestore restores the backup into a scratch target and compares it
// with the snapshot's items; it returns the mismatch, or "" when they match.
func (vr *verifyRun) testRestore(ctx context.Context, restorer source.Restorer) (string, error) {
	scratcher := vr.job.Source.(source.Scratcher)
	inspector := vr.job.Source.(source.Inspector)
	target, err := scratcher.ScratchTarget(ctx, vr.run.ID)
	if err != nil {
		return "", fmt.Errorf("verify: scratch target: %w", err)
	}
	vr.log.info("test restore into a scratch target", "target", target)
	defer func() {
		if err := scratcher.DropTarget(context.WithoutCancel(ctx), target); err != nil {
			vr.log.error("cannot drop the scratch target", "target", target, "err", err)
		} else {
			vr.log.info("scratch target dropped", "target", target)
		}
	}()
	rs := &restoreRun{e: vr.e, job: vr.job, restorer: restorer, b: vr.b, opts: vr.opts.Restore, run: vr.run, log: vr.log, counts: &vr.counts}
	ro := vr.opts.Restore.RestoreOptions
	ro.Target, ro.DryRun, ro.DropExisting = target, false, true
	if err := rs.stream(ctx, vr.b, ro); err != nil {
		if ctx.Err() != nil {
			return "", context.Cause(ctx)
		}
		return oneLine(err.Error()), nil
	}
	got, err := inspector.Inspect(ctx, target)
	if err != nil {
		return "", fmt.Errorf("verify: inspect the scratch target: %w", err)
	}
	var want source.Info
	if len(vr.b.SourceInfo) > 0 {
		if err := json.Unmarshal(vr.b.SourceInfo, &want); err != nil {
			return "", fmt.Errorf("verify: the backup's source info: %w", err)
		}
	}
	return compareItems(want.Items, got.Items), nil
}

// compareItems describes how restored items differ from the snapshot's, or
// returns "" when they match: same names and counts, and same checksums
// where both sides have one.
func compareItems(want, got []source.Item) string {
	gotBy := map[string]source.Item{}
	for _, it := range got {
		gotBy[it.Name] = it
	}
	var diffs []string
	for _, w := range want {
		g, ok := gotBy[w.Name]
		delete(gotBy, w.Name)
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s: missing after restore", w.Name))
		case g.Count != w.Count:
			diffs = append(diffs, fmt.Sprintf("%s: %d in the backup, %d restored", w.Name, w.Count, g.Count))
		case w.Checksum != "" && g.Checksum != "" && w.Checksum != g.Checksum:
			diffs = append(diffs, fmt.Sprintf("%s: checksum %s in the backup, %s restored", w.Name, w.Checksum, g.Checksum))
		}
	}
	extra := make([]string, 0, len(gotBy))
	for name := range gotBy {
		extra = append(extra, name)
	}
	slices.Sort(extra)
	for _, name := range extra {
		diffs = append(diffs, fmt.Sprintf("%s: restored but not in the backup", name))
	}
	const maxDiffs = 10
	if len(diffs) > maxDiffs {
		diffs = append(diffs[:maxDiffs], fmt.Sprintf("and %d more differences", len(diffs)-maxDiffs))
	}
	return strings.Join(diffs, "; ")
}

// Owner returns the owner this engine records in the runs it makes
// (Options.Owner), for callers that claim runs for it (RunOptions.Claimed,
// VerifyOptions.Claimed).
func (e *Engine) Owner() string { return e.opts.Owner }
