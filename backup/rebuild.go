package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/store"
)

// RebuildOptions control RebuildCatalog.
type RebuildOptions struct {
	// DryRun reports what would change without writing to the store.
	DryRun bool
	// RunIDs, when not empty, restricts the rebuild to the backups of those
	// runs (the manifest's run_id, the catalog entry's RunID): other
	// manifests and catalog entries are left alone and orphans are not
	// reported. Runtime.Recover uses it for the runs it marks interrupted.
	RunIDs []string
	// Started, with RunIDs, are those runs' start times: only the keys of
	// those seconds (and the second before each) are read, where their
	// artifacts are (see ArtifactKey), instead of the jobs' whole prefix
	// with every manifest they ever wrote. Runtime.Recover sets it.
	Started []time.Time
}

// RebuildReport says what RebuildCatalog found.
type RebuildReport struct {
	// Added are backups found on destinations and missing from the catalog.
	Added []string `json:"added"`
	// CopiesAdded and CopiesMissing are "backupID@destination" entries.
	CopiesAdded   []string `json:"copies_added"`
	CopiesMissing []string `json:"copies_missing"`
	// Orphans are artifact keys without a valid manifest ("destination:key").
	Orphans []string `json:"orphans"`
	// Unchanged counts catalog entries that matched.
	Unchanged int `json:"unchanged"`
	// Runs maps, with RebuildOptions.RunIDs, each of those runs that has a
	// backup on a destination (added, or already cataloged) to its backup
	// ID; nil without RunIDs.
	Runs map[string]string `json:"runs,omitempty"`
}

// found is one copy found on a destination through its manifest.
type found struct {
	target Target
	m      *Manifest
	obj    destination.Object
}

// RebuildCatalog scans the jobs' destinations for manifests and adds or
// reconciles catalog entries; it never deletes an artifact or a manifest.
//
// Every object named *.manifest.json under a job's Prefix on a job's
// destination is parsed; a valid manifest of that job whose artifact is
// there with the manifest's size is a copy. A backup missing from the
// catalog is added with its ID, run ID, creation time, size, SHA-256,
// format, compression, encryption and source info from the manifest (status
// complete when every destination of the job holds a copy, partial
// otherwise; not protected), its copies in the job's destination order. A
// cataloged backup gets the copies it lacks (store.Catalog.AddCopy); its
// cataloged copies that are not found are marked missing
// (store.Catalog.SetCopyMissing) and found ones unmarked. Artifacts without
// a valid manifest, and manifests without their artifact, are listed as
// Orphans. Lists in the report are sorted.
func (e *Engine) RebuildCatalog(ctx context.Context, jobs []*Job, opts RebuildOptions) (RebuildReport, error) {
	rep := RebuildReport{Added: []string{}, CopiesAdded: []string{}, CopiesMissing: []string{}, Orphans: []string{}}
	now := e.opts.Now().UTC()
	var runs map[string]bool // nil: every run
	if len(opts.RunIDs) > 0 {
		runs = map[string]bool{}
		for _, id := range opts.RunIDs {
			runs[id] = true
		}
		rep.Runs = map[string]string{}
	}
	for _, job := range jobs {
		byBackup := map[string][]found{}
		scanned := map[string]bool{}
		var stems []string // nil: the job's whole prefix
		if runs != nil {
			for _, at := range opts.Started {
				for _, sec := range []time.Time{at, at.Add(-time.Second)} {
					if stem := artifactStem(job.Prefix, job.Name, sec.Truncate(time.Second)); !slices.Contains(stems, stem) {
						stems = append(stems, stem)
					}
				}
			}
		}
		for _, t := range job.Destinations {
			fs, orphans, err := scanDestination(ctx, job, t, stems)
			if err != nil {
				return rep, fmt.Errorf("catalog rebuild: job %s: destination %s: %w", job.Name, t.Name, err)
			}
			scanned[t.Name] = true
			if runs == nil {
				rep.Orphans = append(rep.Orphans, orphans...)
			}
			for _, f := range fs {
				if runs == nil || runs[f.m.RunID] {
					byBackup[f.m.BackupID] = append(byBackup[f.m.BackupID], f)
				}
			}
		}
		// Backups the catalog has: reconcile.
		cataloged, err := e.store.ListBackups(ctx, store.BackupFilter{Job: job.Name})
		if err != nil {
			return rep, fmt.Errorf("catalog rebuild: job %s: %w", job.Name, err)
		}
		for _, b := range cataloged {
			if runs != nil && !runs[b.RunID] {
				continue
			}
			fs := byBackup[b.ID]
			if runs != nil && len(fs) > 0 {
				rep.Runs[b.RunID] = b.ID
			}
			delete(byBackup, b.ID)
			changed := false
			for _, c := range b.Copies {
				if !scanned[c.Destination] {
					continue
				}
				i := slices.IndexFunc(fs, func(f found) bool { return f.target.Name == c.Destination && f.obj.Key == c.Key })
				switch {
				case i < 0 && c.MissingSince.IsZero():
					rep.CopiesMissing = append(rep.CopiesMissing, b.ID+"@"+c.Destination)
					changed = true
					if !opts.DryRun {
						if err := e.store.SetCopyMissing(ctx, b.ID, c.Destination, now); err != nil {
							return rep, fmt.Errorf("catalog rebuild: %w", err)
						}
					}
				case i < 0:
					rep.CopiesMissing = append(rep.CopiesMissing, b.ID+"@"+c.Destination)
				case !c.MissingSince.IsZero():
					changed = true
					if !opts.DryRun {
						if err := e.store.SetCopyMissing(ctx, b.ID, c.Destination, time.Time{}); err != nil {
							return rep, fmt.Errorf("catalog rebuild: %w", err)
						}
					}
				}
			}
			for _, f := range fs {
				if slices.ContainsFunc(b.Copies, func(c store.Copy) bool { return c.Destination == f.target.Name }) {
					continue
				}
				rep.CopiesAdded = append(rep.CopiesAdded, b.ID+"@"+f.target.Name)
				changed = true
				if !opts.DryRun {
					if err := e.store.AddCopy(ctx, b.ID, copyOf(f)); err != nil {
						return rep, fmt.Errorf("catalog rebuild: %w", err)
					}
				}
			}
			if !changed {
				rep.Unchanged++
			}
		}
		// Backups only the destinations have: add them.
		for id, fs := range byBackup {
			b, err := backupFromManifests(job, fs)
			if err != nil {
				for _, f := range fs {
					rep.Orphans = append(rep.Orphans, f.target.Name+":"+f.obj.Key+" ("+err.Error()+")")
				}
				continue
			}
			rep.Added = append(rep.Added, id)
			if runs != nil {
				rep.Runs[b.RunID] = id
			}
			if !opts.DryRun {
				if err := e.store.AddBackup(ctx, b); err != nil {
					return rep, fmt.Errorf("catalog rebuild: add backup %s: %w", id, err)
				}
			}
		}
	}
	for _, l := range [][]string{rep.Added, rep.CopiesAdded, rep.CopiesMissing, rep.Orphans} {
		slices.Sort(l)
	}
	return rep, nil
}

// scanDestination lists the job's objects on t (under stems only, when
// given) and returns the copies its manifests describe, and the orphans.
func scanDestination(ctx context.Context, job *Job, t Target, stems []string) ([]found, []string, error) {
	if len(stems) == 0 {
		prefix := ""
		if p := strings.Trim(job.Prefix, "/"); p != "" {
			prefix = p + "/"
		}
		stems = []string{prefix + job.Name + "/"}
	}
	objects := map[string]destination.Object{}
	var manifests []string
	for _, prefix := range stems {
		for obj, err := range t.Destination.List(ctx, prefix) {
			if err != nil {
				return nil, nil, err
			}
			if strings.HasSuffix(obj.Key, ManifestSuffix) {
				manifests = append(manifests, obj.Key)
			} else {
				objects[obj.Key] = obj
			}
		}
	}
	var fs []found
	var orphans []string
	described := map[string]bool{}
	for _, key := range manifests {
		m, err := readManifest(ctx, t.Destination, key)
		artifact := strings.TrimSuffix(key, ManifestSuffix)
		obj, there := objects[artifact]
		switch {
		case err != nil:
			orphans = append(orphans, t.Name+":"+key+" ("+oneLine(err.Error())+")")
			continue
		case m.Artifact != artifact:
			err = fmt.Errorf("manifest names artifact %q", m.Artifact)
		case m.Job != job.Name:
			err = fmt.Errorf("manifest of job %q", m.Job)
		case !there:
			err = errors.New("its artifact is missing")
		case obj.Size != m.Size:
			err = fmt.Errorf("artifact has %d bytes, manifest says %d", obj.Size, m.Size)
		}
		if err != nil {
			orphans = append(orphans, t.Name+":"+key+" ("+err.Error()+")")
			continue
		}
		described[artifact] = true
		fs = append(fs, found{target: t, m: m, obj: obj})
	}
	for key := range objects {
		if !described[key] {
			orphans = append(orphans, t.Name+":"+key+" (no valid manifest)")
		}
	}
	return fs, orphans, nil
}

func readManifest(ctx context.Context, d destination.Destination, key string) (*Manifest, error) {
	r, err := d.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return ParseManifest(r)
}

// copyOf is the catalog copy a found manifest describes.
func copyOf(f found) store.Copy {
	created := f.obj.ModTime.UTC()
	if created.IsZero() {
		created = f.m.CreatedAt.UTC()
	}
	return store.Copy{Destination: f.target.Name, Key: f.obj.Key, Size: f.obj.Size, CreatedAt: created}
}

// backupFromManifests builds a catalog entry from the manifests of one
// backup's copies, which must agree.
func backupFromManifests(job *Job, fs []found) (*store.Backup, error) {
	order := func(name string) int {
		return slices.IndexFunc(job.Destinations, func(t Target) bool { return t.Name == name })
	}
	slices.SortFunc(fs, func(a, b found) int { return order(a.target.Name) - order(b.target.Name) })
	m := fs[0].m
	for _, f := range fs[1:] {
		if f.m.Size != m.Size || f.m.SHA256 != m.SHA256 {
			return nil, fmt.Errorf("copies of backup %s disagree on size or sha256", m.BackupID)
		}
	}
	info, err := json.Marshal(m.Source)
	if err != nil {
		return nil, err
	}
	format := m.Source.Format
	if format == "" {
		format = job.Source.Format()
	}
	status := store.BackupComplete
	if len(fs) < len(job.Destinations) {
		status = store.BackupPartial
	}
	b := &store.Backup{ID: m.BackupID, Job: m.Job, RunID: m.RunID, Status: status, CreatedAt: m.CreatedAt.UTC(),
		Size: m.Size, SHA256: m.SHA256, Format: format, Compression: string(m.Compression), Encryption: m.Encryption,
		SourceInfo: info}
	for _, f := range fs {
		b.Copies = append(b.Copies, copyOf(f))
	}
	return b, nil
}
