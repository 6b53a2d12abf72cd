package dir

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/backupkit/backupkit/internal/tarstream"
	"github.com/backupkit/backupkit/source"
)

// ErrTargetNotEmpty is reported (errors.Is) when Restore without DropExisting
// finds something other than an empty folder at the target.
var ErrTargetNotEmpty = errors.New("target is not empty")

type notEmptyError struct{ path string }

func (e *notEmptyError) Error() string {
	return fmt.Sprintf("target %s is not empty; use DropExisting", e.path)
}

func (e *notEmptyError) Is(target error) bool { return target == ErrTargetNotEmpty }

// Restore unpacks the tar stream read from r, as written by Snapshot or by
// any tar program, into a folder, following the safety rules and the
// atomicity described in the package documentation. It reads r to io.EOF and
// does not close it.
//
// The target is the folder opts.Target (made absolute against the current
// directory), or the Folder's own path when opts.Target is empty. A stream
// holding just one regular file and no "./" entry (a single-file snapshot)
// restored with an empty opts.Target recreates that file at the Folder's own
// path if its name is the path's base name; in every other case the target is
// a folder that receives the stream's entries. A symbolic link at the target
// path is followed: the restore replaces what it points to.
//
// Without opts.DropExisting, Restore refuses with an error wrapping
// ErrTargetNotEmpty if anything but an empty folder exists at the target;
// with it, what exists there is replaced as a whole once the stream has been
// read successfully. With opts.DryRun, Restore reads and checks the whole
// stream (names, types, link targets, data, end marker) and touches nothing,
// not even to look at the target; it does not detect the few conflicts that
// depend on what earlier entries created (a duplicate name, a hard link to an
// entry missing from the stream), which streams written by Snapshot never
// contain.
//
// Canceling ctx makes Restore stop with an error wrapping ctx.Err(), leaving
// the target as it was; an error from r is wrapped the same way.
func (f *Folder) Restore(ctx context.Context, r io.Reader, opts source.RestoreOptions) (err error) {
	dst := f.path
	if opts.Target != "" {
		if dst, err = filepath.Abs(opts.Target); err != nil {
			return fmt.Errorf("dir: restore: %w", err)
		}
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("dir: restore into %s: %w", dst, err)
		}
	}()
	if err := ctx.Err(); err != nil {
		return err
	}
	if opts.DryRun {
		x := newExtractor(ctx, nil, "", f.allowEscaping)
		return x.run(r)
	}

	dst, err = resolveTarget(dst)
	if err != nil {
		return err
	}
	if !opts.DropExisting {
		if err := requireEmpty(dst); err != nil {
			return err
		}
	}
	parent := filepath.Dir(dst)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	staging, err := os.MkdirTemp(parent, ".backupkit-restore-*")
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			if rerr := removeAll(staging); rerr != nil {
				f.log.Warn("dir: restore: cannot remove staging folder", "path", staging, "err", rerr)
			}
		}
	}()
	root, err := os.OpenRoot(staging)
	if err != nil {
		return err
	}
	x := newExtractor(ctx, root, staging, f.allowEscaping)
	err = x.run(r)
	if err == nil {
		err = x.finish()
	}
	if cerr := root.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := syncTree(staging); err != nil {
		return fmt.Errorf("syncing restored data: %w", err)
	}

	src := staging
	if opts.Target == "" && x.singleFile() == filepath.Base(f.path) {
		src = filepath.Join(staging, x.single)
	}
	if err := commit(src, dst, opts.DropExisting, f); err != nil {
		return err
	}
	committed = src == staging
	return nil
}

// resolveTarget follows a symbolic link at dst.
func resolveTarget(dst string) (string, error) {
	if filepath.Dir(dst) == dst {
		return "", errors.New("cannot restore onto a file system root")
	}
	fi, err := os.Lstat(dst)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return dst, nil
	}
	resolved, err := filepath.EvalSymlinks(dst)
	if err != nil {
		return "", fmt.Errorf("target is a symbolic link that does not resolve: %w", err)
	}
	if filepath.Dir(resolved) == resolved {
		return "", errors.New("cannot restore onto a file system root")
	}
	return resolved, nil
}

// requireEmpty returns a notEmptyError unless nothing or an empty folder is at
// dst.
func requireEmpty(dst string) error {
	fi, err := os.Lstat(dst)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &notEmptyError{dst}
	}
	d, err := os.Open(dst)
	if err != nil {
		return err
	}
	defer d.Close()
	names, err := d.Readdirnames(1)
	if len(names) > 0 {
		return &notEmptyError{dst}
	}
	if err != nil && err != io.EOF {
		return err
	}
	return nil
}

// commit moves src onto dst, which is refused if it is not empty and drop is
// false. An existing dst is first renamed aside, within the same parent
// folder (moving a folder to another parent would need write permission on
// it), and put back if src cannot take its place.
func commit(src, dst string, drop bool, f *Folder) error {
	parent := filepath.Dir(dst)
	fi, err := os.Lstat(dst)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(src, dst); err != nil {
			return err
		}
		return syncDir(parent)
	} else if err != nil {
		return err
	}
	if !drop {
		// Check again: something may have appeared since the first check.
		if err := requireEmpty(dst); err != nil {
			return err
		}
	}
	// Reserve a unique name of the same kind (folder or file), which rename
	// may then replace.
	var aside string
	if fi.IsDir() {
		aside, err = os.MkdirTemp(parent, ".backupkit-old-*")
	} else {
		var tf *os.File
		if tf, err = os.CreateTemp(parent, ".backupkit-old-*"); err == nil {
			aside = tf.Name()
			err = tf.Close()
		}
	}
	if err != nil {
		return err
	}
	if err := renameOver(dst, aside); err != nil {
		_ = os.Remove(aside)
		return fmt.Errorf("moving the existing target aside: %w", err)
	}
	if err := os.Rename(src, dst); err != nil {
		if rerr := os.Rename(aside, dst); rerr != nil {
			return fmt.Errorf("%w; putting the previous data back failed too (%v): it is at %s", err, rerr, aside)
		}
		return err
	}
	if err := syncDir(parent); err != nil {
		return err
	}
	if err := removeAll(aside); err != nil {
		f.log.Warn("dir: restore: cannot remove the replaced data", "path", aside, "err", err)
	}
	return nil
}

// syncDir makes the entries of the folder at path durable.
func syncDir(path string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeAll is os.RemoveAll that also removes folders whose mode forbids
// removing their entries (restored folders may have such modes). It makes
// such folders writable through an os.Root, so that a folder replaced by a
// symbolic link meanwhile cannot make it change anything outside p.
func removeAll(p string) error {
	err := os.RemoveAll(p)
	if err == nil {
		return nil
	}
	root, rerr := os.OpenRoot(p)
	if rerr != nil {
		return err
	}
	_ = fs.WalkDir(root.FS(), ".", func(q string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			_ = root.Chmod(q, 0o700)
		}
		return nil
	})
	_ = root.Close()
	return os.RemoveAll(p)
}

// extractor unpacks one tar stream into root; with a nil root it only checks.
type extractor struct {
	ctx           context.Context
	root          *os.Root // nil for a dry run
	rootPath      string
	allowEscaping bool
	buf           []byte

	symlinks map[string]struct{} // names of symlinks created so far
	dirs     []dirAttr           // folders to give their mode and time at the end
	implicit map[string]int      // folders created as parents, index in dirs
	rootAttr *dirAttr            // the "./" entry
	entries  int                 // entries seen, all types
	single   string              // name of the only regular file so far
	regulars int                 // regular files seen
}

type dirAttr struct {
	name  string // OS form, relative to the root
	mode  os.FileMode
	mtime time.Time // zero: leave as is
}

func newExtractor(ctx context.Context, root *os.Root, rootPath string, allowEscaping bool) *extractor {
	return &extractor{
		ctx:           ctx,
		root:          root,
		rootPath:      rootPath,
		allowEscaping: allowEscaping,
		buf:           make([]byte, copyBufferSize),
		symlinks:      map[string]struct{}{},
		implicit:      map[string]int{},
	}
}

// singleFile returns the name of the stream's only entry if it is a regular
// file and there is no "./" entry, or "".
func (x *extractor) singleFile() string {
	if x.entries == 1 && x.regulars == 1 && x.rootAttr == nil {
		return x.single
	}
	return ""
}

// run reads the whole stream, entry by entry, then checks that it ended with
// tar's end marker and that only zero bytes follow it until EOF.
func (x *extractor) run(r io.Reader) error {
	tr := tarstream.NewReader(r, copyBufferSize)
	for {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading entry %d: %w", x.entries+1, err)
		}
		if err := x.entry(hdr, tr.Reader); err != nil {
			if hdr.Name != "" {
				return fmt.Errorf("entry %q: %w", hdr.Name, err)
			}
			return fmt.Errorf("entry %d: %w", x.entries, err)
		}
	}
	// Read to EOF: a reader that verifies a checksum reports it there.
	return tr.Finish(x.ctx)
}

func explainEOF(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("truncated stream: %w", err)
	}
	return err
}

// entry checks and unpacks one entry; tr yields its data.
func (x *extractor) entry(hdr *tar.Header, tr io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	x.entries++
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if err := x.notThroughSymlink(name); err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.dir(name, hdr)
	case tar.TypeReg:
		if sparse(hdr) {
			return errSparse
		}
		return x.file(name, hdr, tr)
	case tar.TypeGNUSparse:
		return errSparse
	case tar.TypeSymlink:
		return x.symlink(name, hdr)
	case tar.TypeLink:
		return x.hardlink(name, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return errors.New("device and named pipe entries are refused")
	default:
		return fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
	}
}

// errSparse refuses sparse files: tar.Reader expands their holes, so a tiny
// stream could demand terabytes of zeros. Snapshot never writes them.
var errSparse = errors.New("sparse file entries are refused")

// sparse reports whether hdr describes a GNU sparse file in PAX form.
func sparse(hdr *tar.Header) bool {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// cleanName checks an entry name and returns it slash-separated, without
// empty or "." segments; the root is ".".
func cleanName(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("empty name")
	}
	if strings.IndexByte(raw, 0) >= 0 {
		return "", errors.New("name contains a NUL byte")
	}
	if strings.HasPrefix(raw, "/") || filepath.IsAbs(raw) || filepath.VolumeName(raw) != "" {
		return "", errors.New("absolute name")
	}
	segs := strings.Split(raw, "/")
	keep := segs[:0]
	for _, s := range segs {
		switch s {
		case "", ".":
			continue
		case "..":
			return "", errors.New(`name has a ".." segment`)
		}
		keep = append(keep, s)
	}
	if len(keep) == 0 {
		return ".", nil
	}
	name := strings.Join(keep, "/")
	if _, err := filepath.Localize(name); err != nil {
		return "", fmt.Errorf("name is not a valid local path: %w", err)
	}
	return name, nil
}

// notThroughSymlink refuses a name below a symbolic link of the stream.
func (x *extractor) notThroughSymlink(name string) error {
	if len(x.symlinks) == 0 {
		return nil
	}
	for i := range len(name) {
		if name[i] == '/' {
			if _, ok := x.symlinks[name[:i]]; ok {
				return fmt.Errorf("lies below the symbolic link %q", name[:i])
			}
		}
	}
	return nil
}

// checkLinkTarget returns an error if the symbolic link named name (slash
// separated, relative to the root) with the given target could resolve
// outside the root: the target must be relative, and its ".." segments must
// all come first and be no more than the link's depth. ".." after a name could
// climb out through another link ("up" -> "../..", "x" -> "a/up/..").
func checkLinkTarget(name, target string) error {
	if target == "" {
		return errors.New("symbolic link with an empty target")
	}
	if strings.IndexByte(target, 0) >= 0 {
		return errors.New("symbolic link target contains a NUL byte")
	}
	if strings.HasPrefix(target, "/") || filepath.IsAbs(target) || filepath.VolumeName(target) != "" {
		return fmt.Errorf("symbolic link to the absolute path %q", target)
	}
	if runtime.GOOS == "windows" && strings.ContainsRune(target, '\\') {
		return fmt.Errorf("symbolic link target %q contains a backslash", target)
	}
	depth := strings.Count(name, "/")
	ups, named := 0, false
	for _, s := range strings.Split(target, "/") {
		switch s {
		case "", ".":
		case "..":
			if named {
				return fmt.Errorf("symbolic link target %q has \"..\" after a name, so it could resolve outside the target", target)
			}
			ups++
			if ups > depth {
				return fmt.Errorf("symbolic link target %q points outside the target", target)
			}
		default:
			named = true
		}
	}
	return nil
}

// permOf converts tar mode bits to the mode restored: permissions and the
// sticky bit, never setuid or setgid.
func permOf(mode int64) os.FileMode {
	m := os.FileMode(mode & 0o777)
	if mode&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

// withParents runs op, and if it fails because a parent folder of name is
// missing, creates the missing parents and runs it again.
func (x *extractor) withParents(name string, op func() error) error {
	err := op()
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if perr := x.mkParents(name); perr != nil {
		return perr
	}
	return op()
}

// mkParents creates the missing parent folders of name, to be given mode 0755.
func (x *extractor) mkParents(name string) error {
	for i := range len(name) {
		if name[i] != '/' {
			continue
		}
		p := filepath.FromSlash(name[:i])
		err := x.root.Mkdir(p, 0o700)
		if err == nil {
			x.implicit[p] = len(x.dirs)
			x.dirs = append(x.dirs, dirAttr{name: p, mode: 0o755})
			continue
		}
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
		fi, serr := x.root.Lstat(p)
		if serr != nil {
			return serr
		}
		if !fi.IsDir() {
			return fmt.Errorf("parent %q is not a folder", name[:i])
		}
	}
	return nil
}

// duplicate explains an fs.ErrExist error as a duplicate entry.
func duplicate(err error) error {
	if errors.Is(err, fs.ErrExist) {
		return errors.New("duplicate entry: the name was already restored from this stream")
	}
	return err
}

func (x *extractor) dir(name string, hdr *tar.Header) error {
	attr := dirAttr{name: filepath.FromSlash(name), mode: permOf(hdr.Mode), mtime: hdr.ModTime}
	if name == "." {
		if x.rootAttr != nil {
			return errors.New(`duplicate entry: a second "./" entry`)
		}
		x.rootAttr = &attr
		return nil
	}
	if x.root == nil {
		return nil
	}
	err := x.withParents(name, func() error { return x.root.Mkdir(attr.name, 0o700) })
	if errors.Is(err, fs.ErrExist) {
		// Allowed only for a folder created earlier as a parent.
		i, ok := x.implicit[attr.name]
		if !ok {
			return duplicate(err)
		}
		delete(x.implicit, attr.name)
		x.dirs[i] = attr
		return nil
	}
	if err != nil {
		return err
	}
	x.dirs = append(x.dirs, attr)
	return nil
}

// copyData copies the entry data from tr to w (io.Discard for a dry run)
// through the extractor's buffer, checking the context.
func (x *extractor) copyData(w io.Writer, tr io.Reader) error {
	for {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		n, err := tr.Read(x.buf)
		if n > 0 {
			if _, werr := w.Write(x.buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return explainEOF(err)
		}
	}
}

func (x *extractor) file(name string, hdr *tar.Header, tr io.Reader) error {
	if name == "." {
		return errors.New("the root must be a folder")
	}
	x.regulars++
	x.single = name
	if x.root == nil {
		return x.copyData(io.Discard, tr)
	}
	osName := filepath.FromSlash(name)
	var f *os.File
	err := x.withParents(name, func() (err error) {
		f, err = x.root.OpenFile(osName, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		return err
	})
	if err != nil {
		return duplicate(err)
	}
	err = x.copyData(struct{ io.Writer }{f}, tr) // hide ReadFrom: use our buffer
	if err == nil {
		err = f.Chmod(permOf(hdr.Mode))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return x.root.Chtimes(osName, time.Time{}, hdr.ModTime)
}

func (x *extractor) symlink(name string, hdr *tar.Header) error {
	if name == "." {
		return errors.New("the root must be a folder")
	}
	if !x.allowEscaping {
		if err := checkLinkTarget(name, hdr.Linkname); err != nil {
			return err
		}
	} else if hdr.Linkname == "" || strings.IndexByte(hdr.Linkname, 0) >= 0 {
		return errors.New("symbolic link with an empty target or a NUL byte")
	}
	x.symlinks[name] = struct{}{}
	if x.root == nil {
		return nil
	}
	osName := filepath.FromSlash(name)
	target := hdr.Linkname
	if runtime.GOOS == "windows" {
		target = filepath.FromSlash(target)
	}
	if err := x.withParents(name, func() error { return x.root.Symlink(target, osName) }); err != nil {
		return duplicate(err)
	}
	// Best effort: some systems cannot set a link's own time.
	_ = lchtimes(x.root, osName, hdr.ModTime)
	return nil
}

func (x *extractor) hardlink(name string, hdr *tar.Header) error {
	if name == "." {
		return errors.New("the root must be a folder")
	}
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hard link target: %w", err)
	}
	if target == "." {
		return errors.New("hard link to the root")
	}
	if err := x.notThroughSymlink(target); err != nil {
		return fmt.Errorf("hard link target %w", err)
	}
	if _, ok := x.symlinks[target]; ok {
		return fmt.Errorf("hard link to the symbolic link %q", target)
	}
	if x.root == nil {
		return nil
	}
	osTarget := filepath.FromSlash(target)
	fi, err := x.root.Lstat(osTarget)
	if err != nil {
		return fmt.Errorf("hard link to %q, which is not an earlier entry of the stream", target)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("hard link to %q, which is not a regular file", target)
	}
	if err := x.withParents(name, func() error { return x.root.Link(osTarget, filepath.FromSlash(name)) }); err != nil {
		return duplicate(err)
	}
	return nil
}

// finish gives folders their modes and times, deepest first, once all their
// entries exist.
func (x *extractor) finish() error {
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		if err := x.root.Chmod(d.name, d.mode); err != nil {
			return err
		}
		if !d.mtime.IsZero() {
			if err := x.root.Chtimes(d.name, time.Time{}, d.mtime); err != nil {
				return err
			}
		}
	}
	mode := os.FileMode(0o755)
	if x.rootAttr != nil {
		mode = x.rootAttr.mode
	}
	if err := os.Chmod(x.rootPath, mode); err != nil {
		return err
	}
	if x.rootAttr != nil && !x.rootAttr.mtime.IsZero() {
		return os.Chtimes(x.rootPath, time.Time{}, x.rootAttr.mtime)
	}
	return nil
}
