// Package source defines what gets backed up: the Source interface every data
// adapter implements, the optional Restorer and Checker abilities, the Info a
// snapshot reports, and the URL-scheme registry.
//
// Adapters live in subpackages (source/dir, source/mysql, ...) and run the shared
// conformance suite in source/sourcetest.
package source

import (
	"context"
	"io"
)

// Source produces consistent logical snapshots of some data.
// Implementations must be safe for concurrent use.
type Source interface {
	// Format names the byte format Snapshot writes ("tar", "sql", "archive"). It
	// is known before a snapshot starts, because it becomes part of the
	// artifact's file name, and it never changes for a given Source.
	Format() string

	// Snapshot writes one consistent snapshot to w and reports what it contains.
	// It does not close w. It streams: memory use does not grow with the size of
	// the data. If it returns an error, what was written to w is garbage and the
	// caller must discard it. Canceling ctx makes it return promptly with an error
	// that wraps ctx.Err().
	Snapshot(ctx context.Context, w io.Writer) (Info, error)
}

// Restorer is implemented by sources that can load a snapshot back.
type Restorer interface {
	// Restore reads a snapshot written by Snapshot from r until EOF and loads it
	// according to opts. It does not close r. It must refuse, with an error and
	// without writing outside the target, any entry that would escape the target
	// (absolute paths, "..", links pointing out). With opts.DryRun it reads and
	// validates the whole stream and writes nothing (it need not look at the
	// target). It commits nothing before r has returned io.EOF, so that a
	// reader that fails at the very end (a checksum mismatch found by the
	// engine) still aborts the restore; each adapter documents what a failure
	// leaves at the target. Canceling ctx makes it return an error wrapping
	// ctx.Err().
	Restore(ctx context.Context, r io.Reader, opts RestoreOptions) error
}

// RestoreOptions control a Restore. The zero value restores onto the source's
// own location, refusing to overwrite existing data where the adapter can tell.
type RestoreOptions struct {
	// Target is where to restore instead of the source's own location: a folder
	// for source/dir, a database name for database sources. Empty means the
	// source's own location.
	Target string
	// DropExisting removes what is at the target before loading (tables,
	// collections, files); without it, adapters that can detect existing data
	// refuse or merge, as each documents.
	DropExisting bool
	// DryRun reads and checks the whole stream without writing anything.
	DryRun bool
}

// Checker is implemented by sources that can test their connectivity and
// credentials without taking a snapshot ("test connection").
type Checker interface {
	// Check returns nil when the source is reachable and readable.
	Check(ctx context.Context) error
}

// Info describes one snapshot. It is stored in the backup's manifest and catalog
// entry, so it must never hold secrets.
type Info struct {
	// Kind is the adapter's kind ("dir", "mysql", "mongodb", "s3").
	Kind string `json:"kind"`
	// Format is the byte format, equal to the Source's Format().
	Format string `json:"format"`
	// Location names what was backed up, with secrets removed (a folder path, a
	// host and database).
	Location string `json:"location,omitempty"`
	// ServerVersion is the server's version string, for database sources.
	ServerVersion string `json:"server_version,omitempty"`
	// PointInTime reports whether the snapshot is a consistent point in time.
	PointInTime bool `json:"point_in_time"`
	// Items lists what the snapshot contains (tables, collections, the files of a
	// folder) with counts, to check a restore against.
	Items []Item `json:"items,omitempty"`
	// Details holds adapter-specific facts (lock mode, snapshot method).
	Details map[string]string `json:"details,omitempty"`
}

// Item is one named part of a snapshot.
type Item struct {
	// Name is the part's name ("shop.orders", "files").
	Name string `json:"name"`
	// Count is the number of rows, documents, files or objects.
	Count int64 `json:"count"`
	// Bytes is the part's logical size, when known.
	Bytes int64 `json:"bytes,omitempty"`
	// Checksum is an adapter-defined digest of the part's content, when the
	// adapter computes one; Inspect of a faithful restore reports the same.
	Checksum string `json:"checksum,omitempty"`
}

// Inspector is implemented by restorers that can describe what a restore
// target holds, to compare a restore with the snapshot's Info (verify at
// level "restore") and to tell whether a restore would overwrite data.
type Inspector interface {
	// Inspect reports the items at target ("" means the source's own
	// location) under the names Snapshot gives them, so that the Items of a
	// snapshot and Inspect of a faithful restore of it into any target
	// compare equal (names, counts and, where the adapter computes them,
	// checksums). A target that does not exist or holds nothing gives an
	// Info with no Items and a nil error.
	Inspect(ctx context.Context, target string) (Info, error)
}

// Scratcher is implemented by restorers that can test-restore into a
// throwaway target: a scratch database, folder or prefix.
type Scratcher interface {
	// ScratchTarget returns a new, unused target name derived from hint (a
	// run ID), suitable as RestoreOptions.Target. It creates nothing.
	ScratchTarget(ctx context.Context, hint string) (string, error)
	// DropTarget removes target and everything in it. It refuses, with an
	// error, the source's own location ("" or equal to it).
	DropTarget(ctx context.Context, target string) error
}

// TargetSourcer is implemented by restorers that can back up a restore
// target, so that the engine can take a safety backup of a target before a
// restore overwrites it.
type TargetSourcer interface {
	// TargetSource returns a Source whose Snapshot reads target ("" means
	// the source's own location) in this source's Format.
	TargetSource(target string) (Source, error)
}
