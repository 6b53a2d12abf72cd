// Package dir is the source adapter for a file or folder on local disk. Its
// snapshot is a tar stream; its Restore unpacks tar streams without ever
// writing outside the target.
//
// Open a source in code with [New], or from a URL once this package is
// imported:
//
//	f, err := dir.New("/srv/data", dir.Exclude("*.tmp", "cache"))
//	src, err := source.Open(ctx, "dir:///srv/data?exclude=*.tmp&exclude=cache")
//
// URL forms: "dir:///abs/path" (or "dir://localhost/abs/path"), "dir:/abs/path",
// and "dir:relative/path", resolved against the current directory when the
// URL is opened. Any other host is an error, as are user information, a
// fragment (write '#' in a path as %23) and unknown query parameters. The
// query parameters "include" and "exclude" may repeat and take the patterns
// of [Include] and [Exclude].
//
// # Tar layout
//
// [Folder.Snapshot] writes a POSIX.1-2001 (PAX) tar stream that any tar
// program reads:
//
//   - For a folder, the first entry is "./", the folder itself (its mode and
//     modification time). Every entry below it follows in depth-first order,
//     the entries of each folder sorted by name byte-wise, named by its
//     slash-separated path relative to the folder: "a/", "a/b.txt", "a/c/".
//     Restoring the stream into a target therefore recreates the folder's
//     contents there, and gives the target the folder's own mode and time.
//   - For a single file, the only entry is the file, named by its base name.
//   - Entries are regular files, directories and symbolic links. A symbolic
//     link is stored as a link with its target exactly as read, never
//     followed, even when the target is absolute or outside the folder; such
//     links are listed in Info.Details["escaping_symlinks"] because Restore
//     refuses them by default (see below). Sockets, devices and named pipes
//     are skipped and listed in Info.Details["skipped"]. Several hard links to
//     one file are stored as separate copies of it.
//   - Headers hold the name, the permission bits with setuid, setgid and
//     sticky, numeric user and group ids (no names), the size, the
//     modification time with nanosecond precision (a PAX record when it is not
//     a whole second) and the link target; no access or change times, so that
//     snapshots of unchanged data are byte-identical.
//   - The stream ends with tar's end-of-archive marker (two zero blocks).
//
// If the folder itself is a symbolic link, the folder it points to is
// snapshotted; links below it are never followed.
//
// # Consistency
//
// A folder snapshot is not a point in time (Info.PointInTime is false): files
// are read one after another while other programs may change them. Each
// file's header is written with the size seen when the folder was listed, and
// exactly that many bytes follow, so a changing file never corrupts the tar
// stream: a file that shrank while being read is padded with zero bytes, one
// that grew is cut at the listed size, and both are listed in
// Info.Details["changed"]. Entries that disappear between listing and reading
// are left out and listed in Info.Details["vanished"]. A change that keeps a
// file's size is not detected. Each Details list is a count; the matching
// "…_paths" key names up to 10 of the entries.
//
// # Restore safety
//
// [Folder.Restore] treats the stream as hostile. It never creates, changes or
// removes anything outside the target folder, except for the staging and
// set-aside folders beside it (see Atomicity) and the target's missing parent
// folders, which it creates with mode 0755 and leaves in place. It refuses the whole restore, with an error naming
// the entry, when an entry:
//
//   - has an absolute name, a ".." segment anywhere in its name, an empty
//     name, a NUL byte, or a name that is not a valid local path on this
//     system (filepath.Localize);
//   - lies below a symbolic link created earlier in the same stream
//     ("link" -> "/etc", then "link/passwd"), even when that link points
//     inside the target;
//   - is a symbolic link whose target is absolute, or could resolve outside
//     the target folder: ".." segments are allowed only at the start of the
//     link target and no more of them than the link's depth below the target
//     ("a/b/l" -> "../../x" is allowed, "a/l" -> "../../x" and
//     "a/l" -> "b/../../x" are not). [AllowEscapingSymlinks] lets such links be
//     created; they are still never followed while restoring;
//   - is a hard link to anything but a regular file restored earlier from the
//     same stream;
//   - is a device, a named pipe, a sparse file (GNU tar -S: its holes would
//     be expanded, so a tiny stream could demand terabytes), or of any other
//     type than regular file, directory, symbolic link and hard link (PAX
//     global headers are ignored);
//   - has the same name as an earlier entry (a directory may be named again
//     only if it was created implicitly as the parent of an earlier entry).
//
// The staging folder is opened as an [os.Root], so even a mistake in these
// checks could not make a write leave it.
//
// Restored files and folders get their permission bits and sticky bit from
// the stream; setuid and setgid bits are cleared (mode & 01777). Folders
// created implicitly as parents of entries, and the target when the stream
// has no "./" entry, get mode 0755. Modification times are restored, those
// of folders after their contents and those of symbolic links without
// following them (on Unix). Ownership is not restored: everything belongs to
// the user running the restore.
//
// # Atomicity
//
// Restore unpacks into a new staging folder ".backupkit-restore-*" in the
// target's parent folder, and reads the stream to its end (the reader must
// return io.EOF; bytes after the tar end marker must be zero) before it
// touches the target. Only then, after syncing the staging folder's file
// system to disk (Linux), does it rename the staging folder onto the target;
// with DropExisting an existing target is first renamed aside to
// ".backupkit-old-*" in the same folder and removed after the new one is in
// place, or renamed back if that fails. So a restore that fails for any
// reason (a truncated or corrupt stream, a refused entry, a reader error such
// as a checksum mismatch reported at the end, a canceled context, a full
// disk) leaves the target exactly as it was and removes the staging folder.
// Only if the process dies mid-restore can a staging folder remain beside the
// target, and only if it dies between the two renames is the old target
// found at ".backupkit-old-*" instead of at its path. A restore is not
// atomic with respect to other programs writing at the target meanwhile.
//
// This is the guarantee the engine relies on when it restores a folder
// (issue 10): a checksum mismatch or a truncated artifact is reported by the
// engine's reader at or before the stream's end, so the target is never
// committed.
//
// # Inspect, scratch targets and safety backups
//
// A Folder implements [source.Inspector], [source.Scratcher] and
// [source.TargetSourcer], which the engine uses to verify a backup by
// restoring it (verify level "restore") and to take a safety backup before a
// restore replaces a folder.
//
// Item checksums describe metadata, not file data. Each of the items
// "files", "dirs" and "symlinks" carries a Checksum "meta-sha256:<hex>",
// the SHA-256 of one record per entry in the snapshot's order: the entry's
// name, its permission and sticky bits, and for files the size and the
// modification time in nanoseconds, for folders the modification time, for
// symbolic links the target. The root folder ("./"), owners, setuid and
// setgid bits (Restore clears them) and link times (restored only where the
// system allows) are left out, as is file content: hashing the data would
// cost Snapshot a full pass of SHA-256 over every byte, and the folder
// backup's speed target (scripts/bench: at most 1.25 × tar | zstd) leaves no
// room for it. The records cost a few hundred bytes of hashing per entry.
// File content is covered by the artifact's SHA-256, checked while the
// stream is read, and by tar's structure (sizes and the end marker);
// a restore that wrote a file's data wrongly without changing its size
// would not be seen by the checksum. An item with a zero count has no
// Checksum. The modification times make the checksum sensitive to a
// file system that stores coarser times than the source's.
//
// [Folder.Inspect] computes the same items for any folder by listing it,
// reading no file data. It ignores Include and Exclude, because Restore
// replaces the whole target; a faithful restore holds just the snapshot's
// entries, so Inspect of it equals the snapshot's Items.
//
// [Folder.ScratchTarget] names a new folder ".backupkit-scratch-<hint>-<id>"
// beside the Folder's path (the same parent, so the same file system; the
// parent must be writable) and creates nothing. [Folder.DropTarget] deletes
// only such a folder: same parent, scratch name, a real folder (not a link,
// not the source's own folder under another name). Everything else,
// including "" and the Folder's own path, is refused.
//
// [Folder.TargetSource] returns a Folder for the target without Include or
// Exclude patterns, so that a safety backup holds everything a restore with
// DropExisting would replace.
package dir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/backupkit/backupkit/source"
)

// Kind is the Info.Kind of this adapter's snapshots.
const Kind = "dir"

// Format is the format of this adapter's snapshots: a tar stream.
const Format = "tar"

// copyBufferSize is the size of the buffers file data is copied through.
const copyBufferSize = 1 << 20

var (
	_ source.Source   = (*Folder)(nil)
	_ source.Restorer = (*Folder)(nil)
	_ source.Checker  = (*Folder)(nil)
)

func init() {
	source.Register("dir", openURL)
}

// Folder is a file or folder on local disk, as a source. Create one with New.
// A Folder is immutable and safe for concurrent use.
type Folder struct {
	path          string
	include       []string
	exclude       []string
	allowEscaping bool
	log           *slog.Logger
}

// Option configures a Folder.
type Option func(*Folder)

// Include limits a folder's snapshot to the entries that match one of the
// patterns, and everything below folders that match. Folders on the way to an
// included entry are stored too; other entries are left out. A pattern with a
// '/' is matched with path.Match against the entry's slash-separated path
// relative to the folder ("logs/*.log"); a pattern without '/' is matched
// against the entry's base name at any depth ("*.log"). Include may be given
// several times; the patterns add up. Patterns do not apply to a single-file
// source.
func Include(patterns ...string) Option {
	return func(f *Folder) { f.include = append(f.include, patterns...) }
}

// Exclude leaves out of a folder's snapshot the entries that match one of the
// patterns, with everything below excluded folders. Patterns are matched as
// for Include, and Exclude wins over Include. Exclude may be given several
// times; the patterns add up.
func Exclude(patterns ...string) Option {
	return func(f *Folder) { f.exclude = append(f.exclude, patterns...) }
}

// AllowEscapingSymlinks makes Restore create symbolic links whose target is
// absolute or may resolve outside the target folder, instead of refusing the
// stream. Restore still never writes through any link. Use it to restore a
// folder whose own snapshot listed Info.Details["escaping_symlinks"], when the
// stream is trusted.
func AllowEscapingSymlinks() Option {
	return func(f *Folder) { f.allowEscaping = true }
}

// WithLogger makes the Folder log, at level Warn, every entry it skips or
// finds changed during a snapshot (they are in Info.Details in any case), and
// leftovers it could not remove after a restore. Without it, nothing is
// logged. A nil logger means no logging.
func WithLogger(l *slog.Logger) Option {
	return func(f *Folder) { f.log = l }
}

// New returns the source for the file or folder at path, which is made
// absolute against the current directory. Nothing needs to exist at path yet
// (a Folder can restore to a new location); Snapshot and Check fail if it
// does not. New fails on an empty path or a malformed pattern.
func New(path string, opts ...Option) (*Folder, error) {
	if path == "" {
		return nil, errors.New("dir: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("dir: %w", err)
	}
	f := &Folder{path: abs}
	for _, opt := range opts {
		opt(f)
	}
	for _, p := range append(append([]string(nil), f.include...), f.exclude...) {
		if err := checkPattern(p); err != nil {
			return nil, fmt.Errorf("dir: pattern %q: %w", p, err)
		}
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	return f, nil
}

func checkPattern(p string) error {
	if p == "" {
		return errors.New("empty pattern")
	}
	if _, err := path.Match(p, ""); err != nil {
		return err
	}
	return nil
}

// Path returns the Folder's absolute path.
func (f *Folder) Path() string { return f.path }

// Format returns "tar".
func (f *Folder) Format() string { return Format }

// Check returns nil if the Folder's path is a folder whose entries can be
// listed, or a regular file that can be opened for reading; otherwise an error
// naming the path. A symbolic link at the path is followed.
func (f *Folder) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dir: check: %w", err)
	}
	fi, err := os.Stat(f.path)
	if err != nil {
		return fmt.Errorf("dir: check: %w", err)
	}
	switch {
	case fi.IsDir():
		d, err := os.Open(f.path)
		if err != nil {
			return fmt.Errorf("dir: check: %w", err)
		}
		defer d.Close()
		if _, err := d.ReadDir(1); err != nil && err != io.EOF {
			return fmt.Errorf("dir: check: %w", err)
		}
		return nil
	case fi.Mode().IsRegular():
		r, err := os.Open(f.path)
		if err != nil {
			return fmt.Errorf("dir: check: %w", err)
		}
		return r.Close()
	default:
		return fmt.Errorf("dir: check: %s is neither a regular file nor a folder (%v)", f.path, fi.Mode().Type())
	}
}

// openURL opens a dir URL; see the package documentation for its forms.
func openURL(_ context.Context, u *url.URL) (source.Source, error) {
	if u.User != nil {
		return nil, errors.New("dir URL must not have user information")
	}
	if u.Host != "" && !strings.EqualFold(u.Host, "localhost") {
		return nil, fmt.Errorf("dir URL host %q is not supported; use dir:///absolute/path or dir:relative/path", u.Host)
	}
	if u.Fragment != "" {
		return nil, errors.New("dir URL has a fragment; write '#' in a path as %23")
	}
	p := u.Path
	if u.Opaque != "" {
		var err error
		if p, err = url.PathUnescape(u.Opaque); err != nil {
			return nil, fmt.Errorf("dir URL path: %w", err)
		}
	}
	if p == "" {
		return nil, errors.New("dir URL has no path")
	}
	if runtime.GOOS == "windows" && len(p) >= 3 && p[0] == '/' && p[2] == ':' {
		p = p[1:] // dir:///C:/data
	}
	var opts []Option
	for k, vs := range u.Query() {
		switch k {
		case "include":
			opts = append(opts, Include(vs...))
		case "exclude":
			opts = append(opts, Exclude(vs...))
		default:
			return nil, fmt.Errorf("dir URL: unknown parameter %q (known: include, exclude)", k)
		}
	}
	return New(filepath.FromSlash(p), opts...)
}
