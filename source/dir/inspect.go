package dir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"github.com/backupkit/backupkit/internal/setsum"
	"github.com/backupkit/backupkit/source"
)

var (
	_ source.Inspector     = (*Folder)(nil)
	_ source.Scratcher     = (*Folder)(nil)
	_ source.TargetSourcer = (*Folder)(nil)
)

// scratchPrefix starts the base name of every scratch folder.
const scratchPrefix = ".backupkit-scratch-"

// scratchName matches the base names ScratchTarget makes, and nothing else:
// the prefix, the cleaned hint (possibly empty), a '-' and 16 hex digits.
var scratchName = regexp.MustCompile(`^\.backupkit-scratch-[A-Za-z0-9_]{0,40}-[0-9a-f]{16}$`)

// Inspect reports what the folder (or file) at target holds, under the names
// and with the counts and checksums Snapshot gives them: Info.Items "files",
// "dirs" and "symlinks". target "" means the Folder's own path; any other
// value is made absolute against the current directory, and a symbolic link
// at it is followed, as Restore does. Inspect lists entries and reads their
// metadata but no file data, so it is as cheap as a `find`.
//
// It applies none of the Folder's Include and Exclude patterns: a restore
// replaces the whole target folder, so Inspect reports all of it. (A
// faithful restore of a snapshot holds just the snapshot's entries, so
// Inspect of it still equals the snapshot's Items.) Nothing at target, or
// an empty folder, gives an Info with no Items.
func (f *Folder) Inspect(ctx context.Context, target string) (source.Info, error) {
	p, err := f.targetPath(target)
	if err != nil {
		return source.Info{}, fmt.Errorf("dir: inspect: %w", err)
	}
	info := source.Info{Kind: Kind, Format: Format, Location: p}
	if err := ctx.Err(); err != nil {
		return info, fmt.Errorf("dir: inspect %s: %w", p, err)
	}
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return info, nil
	}
	s := &snapshot{ctx: ctx, f: f.plain(p), inspect: true}
	if err := s.run(); err != nil {
		return info, fmt.Errorf("dir: inspect %s: %w", p, err)
	}
	got := s.info()
	if s.files+s.dirs+s.symlinks == 0 {
		got.Items = nil
	}
	return got, nil
}

// plain returns a Folder at path p with f's restore settings and logger but
// no Include or Exclude patterns.
func (f *Folder) plain(p string) *Folder {
	return &Folder{path: p, allowEscaping: f.allowEscaping, log: f.log}
}

// targetPath returns the absolute, clean path target names ("" is the
// Folder's own path).
func (f *Folder) targetPath(target string) (string, error) {
	if target == "" {
		return f.path, nil
	}
	return filepath.Abs(target)
}

// TargetSource returns a Folder that snapshots the folder (or file) at
// target ("" means the Folder's own path), for a safety backup before a
// restore replaces it. It has the Folder's restore settings and logger but
// none of its Include and Exclude patterns, because Restore with
// DropExisting replaces the whole target, excluded entries included.
func (f *Folder) TargetSource(target string) (source.Source, error) {
	p, err := f.targetPath(target)
	if err != nil {
		return nil, fmt.Errorf("dir: target source: %w", err)
	}
	return f.plain(p), nil
}

// ScratchTarget returns the path of a new folder beside the Folder's own
// path (in the same parent folder, hence on the same file system), named
// ".backupkit-scratch-<hint>-<16 random hex digits>", where hint keeps only
// its first 40 ASCII letters, digits and '_' (other characters are
// dropped). It creates nothing: Restore creates the folder, and DropTarget
// removes it. The parent folder must be writable for a restore there.
func (f *Folder) ScratchTarget(ctx context.Context, hint string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("dir: scratch target: %w", err)
	}
	parent := filepath.Dir(f.path)
	for range 10 {
		p := filepath.Join(parent, setsum.ScratchName(scratchPrefix, hint, 40, "-"))
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
	}
	return "", fmt.Errorf("dir: scratch target: no unused name in %s", parent)
}

// DropTarget removes the scratch folder target and everything in it; a
// target that does not exist is not an error. Because it deletes files, it
// refuses, with an error and removing nothing, any target that is not
// exactly a name ScratchTarget could have returned for this Folder: it must
// be in the same parent folder as the Folder's path, its base name must
// have the scratch form (see ScratchTarget), and it must be a real folder,
// not a symbolic link nor a file, and not the Folder's own folder under
// another name (same device and inode). "" and the Folder's own path are
// refused.
func (f *Folder) DropTarget(ctx context.Context, target string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dir: drop target: %w", err)
	}
	if target == "" {
		return errors.New("dir: drop target: refusing to remove the source's own folder (empty target)")
	}
	p, err := filepath.Abs(target)
	if err != nil {
		return fmt.Errorf("dir: drop target: %w", err)
	}
	if p == f.path {
		return fmt.Errorf("dir: drop target: refusing to remove the source's own folder %s", p)
	}
	if filepath.Dir(p) != filepath.Dir(f.path) || !scratchName.MatchString(filepath.Base(p)) {
		return fmt.Errorf("dir: drop target: refusing to remove %s: not a scratch folder of this source (%s<hint>-<id> beside %s)",
			p, scratchPrefix, f.path)
	}
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("dir: drop target: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("dir: drop target: refusing to remove %s: not a folder (%v)", p, fi.Mode().Type())
	}
	if own, err := os.Stat(f.path); err == nil && os.SameFile(own, fi) {
		return fmt.Errorf("dir: drop target: refusing to remove %s: it is the source's own folder", p)
	}
	if err := removeAll(p); err != nil {
		return fmt.Errorf("dir: drop target: %w", err)
	}
	return syncDir(filepath.Dir(p))
}
