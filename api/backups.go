package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/store"
)

func (a *API) listBackups(w http.ResponseWriter, r *http.Request, _ Caller) {
	q := newQuery(r)
	f := store.BackupFilter{Job: q.str("job"), Status: store.BackupStatus(q.oneOf("status", string(store.BackupComplete), string(store.BackupPartial), string(store.BackupPreRestore))),
		Since: q.time("since"), Until: q.time("until"), Protected: q.bool("protected"), Cursor: q.str("cursor"), Limit: q.int("limit", 100, 1, 1000)}
	if q.err != nil {
		a.fail(w, r, q.err)
		return
	}
	page, err := a.o.Store.ListBackupsPage(r.Context(), f)
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "cursor") {
			err = badf("query parameter cursor: %v", err)
		}
		a.fail(w, r, err)
		return
	}
	out := backupPage{Backups: make([]backupJSON, 0, len(page.Backups)), Next: page.Next}
	for _, b := range page.Backups {
		out.Backups = append(out.Backups, toBackup(b))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) getBackup(w http.ResponseWriter, r *http.Request, _ Caller) {
	b, err := a.o.Store.GetBackup(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toBackup(b))
}

// backupAndJob returns the backup of r's {id} and its configured job.
func (a *API) backupAndJob(ctx context.Context, id string) (store.Backup, *backup.Job, error) {
	b, err := a.o.Store.GetBackup(ctx, id)
	if err != nil {
		return b, nil, err
	}
	j, err := a.o.Control.Job(b.Job)
	if err != nil {
		return b, nil, fmt.Errorf("backup %s: its job %q is not configured: %w", id, b.Job, store.ErrConflict)
	}
	return b, j.Job, nil
}

// download streams a backup: as stored with ?raw=true (its size and SHA-256
// in Content-Length and X-Backup-SHA256), otherwise decrypted (with the
// job's passphrase) and decompressed. A copy that turns out not to match
// its checksum aborts the response, so the client sees a broken transfer.
func (a *API) download(w http.ResponseWriter, r *http.Request, c Caller) {
	q := newQuery(r)
	raw := q.bool("raw")
	if q.err != nil {
		a.fail(w, r, q.err)
		return
	}
	b, job, err := a.backupAndJob(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	isRaw := raw != nil && *raw
	name := b.Job + "-" + b.ID
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	if isRaw {
		h.Set("Content-Length", strconv.FormatInt(b.Size, 10))
		h.Set("X-Backup-SHA256", b.SHA256)
		if len(b.Copies) > 0 {
			if k := b.Copies[0].Key; strings.Contains(k, "/") {
				name = k[strings.LastIndex(k, "/")+1:]
			}
		}
	} else {
		name += "." + strings.TrimPrefix(strings.ReplaceAll(b.Format, "/", "-"), ".")
	}
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename=%q`, name))
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	n, err := a.o.Engine.Download(r.Context(), job, b.ID, w, backup.DownloadOptions{Raw: isRaw})
	if err != nil {
		if n == 0 && r.Context().Err() == nil {
			h.Del("Content-Length")
			h.Del("Content-Disposition")
			h.Del("X-Backup-SHA256")
			a.fail(w, r, err)
			return
		}
		a.log.Error("download failed", "backup", b.ID, "after_bytes", n, "err", err)
		panic(http.ErrAbortHandler) // the client must not take a truncated file as whole
	}
	a.log.Info("backup downloaded", "backup", b.ID, "by", c.Name, "bytes", n, "raw", isRaw)
}

func (a *API) deleteBackup(w http.ResponseWriter, r *http.Request, c Caller) {
	b, job, err := a.backupAndJob(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if b.Protected {
		a.fail(w, r, fmt.Errorf("backup %s is protected: unprotect it first: %w", b.ID, store.ErrConflict))
		return
	}
	targets := map[string]destination.Destination{}
	for _, t := range job.Destinations {
		targets[t.Name] = t.Destination
	}
	var errs []error
	deleted := []string{}
	for _, cp := range b.Copies {
		if err := deleteCopy(r.Context(), a.o.Store, job, b, cp, targets); err != nil {
			errs = append(errs, fmt.Errorf("copy on %s: %w", cp.Destination, err))
			continue
		}
		deleted = append(deleted, cp.Destination)
	}
	if len(b.Copies) == 0 {
		errs = append(errs, a.o.Store.DeleteBackup(r.Context(), b.ID))
	}
	err = errors.Join(errs...)
	details := map[string]any{"job": b.Job, "copies_deleted": deleted}
	if err != nil {
		details["error"] = err.Error()
	}
	a.record(r.Context(), c.Name, "backup.delete", b.ID, details)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// deleteCopy deletes one copy's artifact and manifest from its
// destination, then forgets it, refusing keys outside "<prefix>/<job>/"
// (as the engine's Prune does).
func deleteCopy(ctx context.Context, st store.Store, job *backup.Job, b store.Backup, c store.Copy, targets map[string]destination.Destination) error {
	root := job.Name + "/"
	if p := strings.Trim(job.Prefix, "/"); p != "" {
		root = p + "/" + root
	}
	if err := destination.ValidateKey(c.Key); err != nil || !strings.HasPrefix(c.Key, root) || b.Job != job.Name {
		return fmt.Errorf("key %q is not under %q: refused", c.Key, root)
	}
	d, ok := targets[c.Destination]
	if !ok {
		return fmt.Errorf("destination %q is not a target of job %s", c.Destination, job.Name)
	}
	if err := d.Delete(ctx, c.Key); err != nil {
		return fmt.Errorf("delete artifact: %w", err)
	}
	if err := d.Delete(ctx, c.Key+backup.ManifestSuffix); err != nil {
		return fmt.Errorf("delete manifest: %w", err)
	}
	return st.DeleteCopy(ctx, b.ID, c.Destination)
}

func (a *API) protect(w http.ResponseWriter, r *http.Request, c Caller) {
	a.setProtected(w, r, c, true)
}

func (a *API) unprotect(w http.ResponseWriter, r *http.Request, c Caller) {
	a.setProtected(w, r, c, false)
}

func (a *API) setProtected(w http.ResponseWriter, r *http.Request, c Caller, protected bool) {
	id := r.PathValue("id")
	if err := a.Protect(r.Context(), id, protected, c.Name); err != nil {
		a.fail(w, r, err)
		return
	}
	b, err := a.o.Store.GetBackup(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toBackup(b))
}

// Protect sets or clears a backup's protection on behalf of who and
// records it in the audit trail (what the web page calls).
func (a *API) Protect(ctx context.Context, backupID string, protected bool, who string) error {
	if err := a.o.Store.SetProtected(ctx, backupID, protected); err != nil {
		return err
	}
	action := "backup.unprotect"
	if protected {
		action = "backup.protect"
	}
	a.record(ctx, who, action, backupID, nil)
	return nil
}

// restoreBody is the body of POST /api/v1/backups/{id}/restore.
type restoreBody struct {
	// Target is where to restore (a folder, a database name); empty: the
	// source's own location.
	Target       string `json:"target"`
	DropExisting bool   `json:"drop_existing"`
	DryRun       bool   `json:"dry_run"`
}

func (a *API) restore(w http.ResponseWriter, r *http.Request, c Caller) {
	var body restoreBody
	if err := decodeBody(r, &body); err != nil {
		a.fail(w, r, err)
		return
	}
	_, l := a.o.Auth.limiters()
	if !allow(w, l, c, "restore") {
		return
	}
	id, err := a.startRestore(r.Context(), r.PathValue("id"), body, c.Name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, accepted{RunID: id})
}

// Restore starts restoring backupID into target (empty: the source's own
// location) on behalf of who, records it in the audit trail and returns
// the run to follow (what the web page calls).
func (a *API) Restore(ctx context.Context, backupID, target, who string) (string, error) {
	return a.startRestore(ctx, backupID, restoreBody{Target: target}, who)
}

func (a *API) startRestore(ctx context.Context, backupID string, body restoreBody, who string) (string, error) {
	_, job, err := a.backupAndJob(ctx, backupID)
	if err != nil {
		return "", err
	}
	opts := backup.RestoreOptions{RestoreOptions: source.RestoreOptions{Target: body.Target, DropExisting: body.DropExisting, DryRun: body.DryRun}}
	runID, done, err := a.o.Engine.RestoreAsync(a.ctx, job, backupID, opts)
	details := map[string]any{"job": job.Name, "target": body.Target, "drop_existing": body.DropExisting, "dry_run": body.DryRun, "run_id": runID}
	if err != nil {
		details["error"] = err.Error()
	}
	a.record(ctx, who, "backup.restore", backupID, details)
	if err != nil {
		return "", err
	}
	a.bg.Add(1)
	go a.logOutcome("restore", backupID, runID, done)
	return runID, nil
}

// logOutcome logs how an asynchronous restore or verification ended.
func (a *API) logOutcome(what, backupID, runID string, done <-chan error) {
	defer a.bg.Done()
	if done == nil {
		return
	}
	if err := <-done; err != nil {
		a.log.Error(what+" did not succeed", "backup", backupID, "run", runID, "err", err)
		return
	}
	a.log.Info(what+" done", "backup", backupID, "run", runID)
}

// verifyBody is the body of POST /api/v1/backups/{id}/verify.
type verifyBody struct {
	// Level is "exists", "checksum" (default) or "restore".
	Level string `json:"level"`
}

func (a *API) verify(w http.ResponseWriter, r *http.Request, c Caller) {
	var body verifyBody
	if err := decodeBody(r, &body); err != nil {
		a.fail(w, r, err)
		return
	}
	level := backup.VerifyLevel(body.Level)
	switch level {
	case "":
		level = backup.VerifyChecksum
	case backup.VerifyExists, backup.VerifyChecksum, backup.VerifyRestore:
	default:
		a.fail(w, r, badf("level: want exists, checksum or restore, got %q", body.Level))
		return
	}
	id := r.PathValue("id")
	_, job, err := a.backupAndJob(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	runID, done, err := a.o.Engine.VerifyAsync(a.ctx, job, id, backup.VerifyOptions{Level: level, TriggeredBy: c.Name})
	details := map[string]any{"job": job.Name, "level": string(level), "run_id": runID}
	if err != nil {
		details["error"] = err.Error()
	}
	a.record(r.Context(), c.Name, "backup.verify", id, details)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.bg.Add(1)
	go a.logOutcome("verify", id, runID, done)
	writeJSON(w, http.StatusAccepted, accepted{RunID: runID})
}
