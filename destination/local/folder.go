package local

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/backupkit/backupkit/destination"
)

// TempPrefix begins the name of every temporary file that Put writes before
// renaming it to its key. Keys with a segment that begins with it are refused.
const TempPrefix = ".backupkit-tmp-"

const (
	defaultFileMode fs.FileMode = 0o640
	defaultDirMode  fs.FileMode = 0o750

	// maxAttempts bounds the retries of Put when a concurrent Delete removes
	// the folder it is about to write into, or a Cleanup in another process
	// removes its new temporary file before Put could lock it.
	maxAttempts = 16
	// copyBufferSize is the size of Put's read buffer.
	copyBufferSize = 256 << 10
)

// Options are settings for New. A nil *Options means the defaults.
type Options struct {
	// FileMode is the permission of the files Put creates, before the umask.
	// Zero means 0640. Only permission bits are allowed.
	FileMode fs.FileMode
	// DirMode is the permission of the folders Put creates (including root,
	// unless MustExist is set), before the umask. Zero means 0750.
	DirMode fs.FileMode
	// MustExist makes New fail if root is not an existing folder, and makes
	// later calls fail rather than create it again. Set it when root is on a
	// removable or network mount, so that backups never fill the empty mount
	// point when the disk is missing.
	MustExist bool
}

// Folder is a destination.Destination that keeps each object as a file under
// a root folder. It also implements destination.Checker and
// destination.Cleaner. It is safe for concurrent use by multiple goroutines,
// and by multiple processes sharing the same root. See the package
// documentation for how writes are made atomic.
type Folder struct {
	root      string
	fileMode  fs.FileMode
	dirMode   fs.FileMode
	mustExist bool

	// wrapWriter, when tests set it, wraps the temporary file Put writes to,
	// so that they can inject write errors.
	wrapWriter func(io.Writer) io.Writer
}

var (
	_ destination.Destination = (*Folder)(nil)
	_ destination.Checker     = (*Folder)(nil)
	_ destination.Cleaner     = (*Folder)(nil)
)

// New returns a Folder that keeps objects under root. A relative root is
// taken relative to the current directory at the time of the call. A nil
// opts means the defaults. Unless opts.MustExist is set, New does not touch
// the disk: root is created, with its parents, by the first Put or Check.
func New(root string, opts *Options) (*Folder, error) {
	if root == "" {
		return nil, errors.New("local: root folder path is empty")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("local: root folder %q: %w", root, err)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	f := &Folder{
		root:      abs,
		fileMode:  cmp.Or(o.FileMode, defaultFileMode),
		dirMode:   cmp.Or(o.DirMode, defaultDirMode),
		mustExist: o.MustExist,
	}
	if f.fileMode&^fs.ModePerm != 0 || f.dirMode&^fs.ModePerm != 0 {
		return nil, fmt.Errorf("local: root folder %s: file mode %v and folder mode %v must have only permission bits", abs, f.fileMode, f.dirMode)
	}
	if f.mustExist {
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, f.wrap("open", "", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("local: open %s: %w: not a folder", abs, destination.ErrNotExist)
		}
	}
	return f, nil
}

// Root returns the absolute path of the folder that holds the objects.
func (f *Folder) Root() string { return f.root }

// String returns a description of f for logs: the scheme and the root path.
func (f *Folder) String() string {
	return (&url.URL{Scheme: Scheme, Path: filepath.ToSlash(f.root)}).String()
}

// Put stores the bytes read from r under key, replacing any object there, as
// destination.Destination requires: atomically, durably when it returns nil,
// and leaving no trace when it fails. It fails with ErrNoSpace before writing
// when opts.Size is set and the file system has less room, and with an
// unclassified error when key or one of its folders is already used the other
// way (an object where a folder is needed, or the reverse). Put checks ctx
// between reads but cannot interrupt a Read that blocks; it does not close r.
func (f *Folder) Put(ctx context.Context, key string, r io.Reader, opts *destination.PutOptions) (destination.Object, error) {
	name, err := objectName(key)
	if err != nil {
		return destination.Object{}, f.wrap("put", key, err)
	}
	var size int64
	if opts != nil {
		size = opts.Size
	}
	if err := ctx.Err(); err != nil {
		return destination.Object{}, f.wrap("put", key, err)
	}
	root, err := f.openRoot(true)
	if err != nil {
		return destination.Object{}, f.wrap("put", key, err)
	}
	defer root.Close()
	return f.put(ctx, root, key, name, r, size)
}

func (f *Folder) put(ctx context.Context, root *os.Root, key, name string, r io.Reader, size int64) (obj destination.Object, err error) {
	fail := func(err error) (destination.Object, error) { return destination.Object{}, f.wrap("put", key, err) }

	if fi, err := root.Lstat(name); err == nil && fi.IsDir() {
		return fail(fmt.Errorf("%w: %q is a folder of other objects", errConflict, key))
	}
	dir := parent(key)
	tmp, tmpName, created, err := f.createTemp(root, dir)
	if err != nil {
		for _, d := range slices.Backward(created) {
			removeEmptyFolder(root, d)
		}
		return fail(err)
	}
	renamed := false
	defer func() {
		if !renamed {
			// Remove while still holding the lock, so no Cleanup races us,
			// then the folders this Put created, if still empty.
			_ = root.Remove(tmpName)
			for _, d := range slices.Backward(created) {
				removeEmptyFolder(root, d)
			}
		}
		_ = tmp.Close() // releases the lock
	}()

	if size > 0 {
		if avail, ok := freeSpace(tmp); ok && avail < size {
			return fail(fmt.Errorf("%w: %d bytes needed, %d available", destination.ErrNoSpace, size, avail))
		}
	}
	w := writeback(tmp)
	if f.wrapWriter != nil {
		w = f.wrapWriter(w)
	}
	n, err := copyData(ctx, w, r, size)
	if err != nil {
		if re, ok := errors.AsType[*readError](err); ok {
			return destination.Object{}, f.wrapRead(key, re.err)
		}
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	fi, err := tmp.Stat()
	if err != nil {
		return fail(err)
	}
	if fi.Size() != n {
		return fail(fmt.Errorf("wrote %d bytes but the file holds %d: %w", n, fi.Size(), io.ErrShortWrite))
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if err := root.Rename(tmpName, name); err != nil {
		if fi, lerr := root.Lstat(name); lerr == nil && fi.IsDir() {
			err = fmt.Errorf("%w: %q is a folder of other objects: %w", errConflict, key, err)
		}
		return fail(err)
	}
	renamed = true
	if err := f.syncFolders(root, dir, created); err != nil {
		// The object is visible but may not survive a crash. The contract
		// says a failed Put leaves nothing under key, so take it back.
		if cur, lerr := root.Lstat(name); lerr == nil && os.SameFile(cur, fi) {
			_ = root.Remove(name)
		}
		return fail(err)
	}
	return destination.Object{Key: key, Size: n, ModTime: fi.ModTime()}, nil
}

// createTemp creates the folders of dir and a new temporary file in it,
// locked. It returns the file, its name relative to root, and the folders it
// created (as slash-separated keys), which it also returns on error.
func (f *Folder) createTemp(root *os.Root, dir string) (*os.File, string, []string, error) {
	var created []string
	for attempt := 1; ; attempt++ {
		c, err := f.mkdirs(root, dir)
		created = append(created, c...)
		if err == nil {
			name := filepath.Join(filepath.FromSlash(dir), TempPrefix+randomHex())
			var tmp *os.File
			if tmp, err = f.openTemp(root, name); err == nil {
				return tmp, name, created, nil
			}
		}
		// A concurrent Delete may have removed an emptied folder we need,
		// or a Cleanup the file we had just created: try again.
		if !errors.Is(err, fs.ErrNotExist) || attempt == maxAttempts {
			return nil, "", created, err
		}
	}
}

// openTemp creates the temporary file name and locks it. If a Cleanup
// removed the file before the lock was taken, it fails with an error that
// matches fs.ErrNotExist.
func (f *Folder) openTemp(root *os.Root, name string) (*os.File, error) {
	tmp, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.fileMode)
	if err != nil {
		return nil, err
	}
	if err := lockExclusive(tmp); err != nil {
		_ = root.Remove(name)
		_ = tmp.Close()
		return nil, err
	}
	same, err := sameFile(root, name, tmp)
	if err == nil && !same {
		err = fmt.Errorf("temporary file %s was removed as it was created: %w", name, fs.ErrNotExist)
	}
	if err != nil {
		_ = tmp.Close()
		return nil, err
	}
	return tmp, nil
}

// mkdirs creates the folders of the slash-separated path dir that do not
// exist, and returns those it created. It refuses to pass through a symbolic
// link or a file.
func (f *Folder) mkdirs(root *os.Root, dir string) ([]string, error) {
	var created []string
	if dir == "" {
		return nil, nil
	}
	for i := 0; i <= len(dir); i++ {
		if i < len(dir) && dir[i] != '/' {
			continue
		}
		d := dir[:i]
		name := filepath.FromSlash(d)
		fi, err := root.Lstat(name)
		if errors.Is(err, fs.ErrNotExist) {
			err = root.Mkdir(name, f.dirMode)
			if err == nil {
				created = append(created, d)
				continue
			}
			if !errors.Is(err, fs.ErrExist) {
				return created, err
			}
			fi, err = root.Lstat(name) // created meanwhile by someone else
		}
		switch {
		case err != nil:
			return created, err
		case fi.Mode()&fs.ModeSymlink != 0:
			return created, fmt.Errorf("folder %q %w", d, errSymlink)
		case !fi.IsDir():
			return created, fmt.Errorf("%w: %q is an object, so it cannot also be a folder", errConflict, d)
		}
	}
	return created, nil
}

// syncFolders fsyncs dir, which holds a new entry, and the parent of every
// folder in created.
func (f *Folder) syncFolders(root *os.Root, dir string, created []string) error {
	dirs := []string{dir}
	for _, c := range created {
		dirs = append(dirs, parent(c))
	}
	slices.Sort(dirs)
	for _, d := range slices.Compact(dirs) {
		if err := syncDir(root, d); err != nil {
			return err
		}
	}
	return nil
}

// syncDir fsyncs the folder dir, a slash-separated path relative to root.
func syncDir(root *os.Root, dir string) error {
	d, err := root.Open(osName(dir))
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !syncUnsupported(err) {
		return err
	}
	return nil
}

// readError marks an error from the caller's reader.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// errSizeMismatch reports a reader that did not yield PutOptions.Size bytes.
var errSizeMismatch = errors.New("size mismatch")

// copyData copies r to w until io.EOF, checking ctx before every read, and,
// when size > 0, that r yields exactly size bytes. Errors from r come back as
// *readError.
func copyData(ctx context.Context, w io.Writer, r io.Reader, size int64) (int64, error) {
	buf := make([]byte, copyBufferSize)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, rerr := r.Read(buf)
		if m > 0 {
			if size > 0 && n+int64(m) > size {
				return n, fmt.Errorf("%w: the data is longer than PutOptions.Size %d", errSizeMismatch, size)
			}
			wm, werr := w.Write(buf[:m])
			n += int64(wm)
			if werr != nil {
				return n, werr
			}
			if wm != m {
				return n, io.ErrShortWrite
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if err := ctx.Err(); err != nil {
				return n, err
			}
			return n, &readError{rerr}
		}
	}
	if err := ctx.Err(); err != nil {
		return n, err
	}
	if size > 0 && n != size {
		return n, fmt.Errorf("%w: read %d bytes, PutOptions.Size is %d", errSizeMismatch, n, size)
	}
	return n, nil
}

// Open returns the object's file, open for reading; the caller must close it.
// A missing key, or one that names a folder or anything but a regular file,
// fails with ErrNotExist. The reader is not affected by a later Put or Delete
// of the same key.
func (f *Folder) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	name, err := objectName(key)
	if err != nil {
		return nil, f.wrap("open", key, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, f.wrap("open", key, err)
	}
	root, err := f.openRoot(false)
	if err != nil {
		return nil, f.wrap("open", key, err)
	}
	defer root.Close()
	if _, err := lstatObject(root, key); err != nil {
		return nil, f.wrap("open", key, err)
	}
	file, err := root.Open(name)
	if err != nil {
		return nil, f.wrap("open", key, err)
	}
	fi, err := file.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = notObject(key)
	}
	if err != nil {
		file.Close()
		return nil, f.wrap("open", key, err)
	}
	return file, nil
}

// Stat describes the object: its size and the time its Put wrote it. A
// missing key, or one that names a folder or anything but a regular file,
// fails with ErrNotExist.
func (f *Folder) Stat(ctx context.Context, key string) (destination.Object, error) {
	if _, err := objectName(key); err != nil {
		return destination.Object{}, f.wrap("stat", key, err)
	}
	if err := ctx.Err(); err != nil {
		return destination.Object{}, f.wrap("stat", key, err)
	}
	root, err := f.openRoot(false)
	if err != nil {
		return destination.Object{}, f.wrap("stat", key, err)
	}
	defer root.Close()
	fi, err := lstatObject(root, key)
	if err != nil {
		return destination.Object{}, f.wrap("stat", key, err)
	}
	return destination.Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete removes the object, then every folder on its path that it left
// empty, up to but not including root. Deleting a missing key, or a key that
// names a folder or anything but a regular file, does nothing and returns nil.
func (f *Folder) Delete(ctx context.Context, key string) error {
	name, err := objectName(key)
	if err != nil {
		return f.wrap("delete", key, err)
	}
	if err := ctx.Err(); err != nil {
		return f.wrap("delete", key, err)
	}
	root, err := f.openRoot(false)
	if err != nil {
		if isNotExist(err) && !f.mustExist {
			return nil
		}
		return f.wrap("delete", key, err)
	}
	defer root.Close()
	if _, err := lstatObject(root, key); err != nil {
		if isNotExist(err) {
			return nil
		}
		return f.wrap("delete", key, err)
	}
	if err := root.Remove(name); err != nil && !isNotExist(err) {
		return f.wrap("delete", key, err)
	}
	for dir := parent(key); dir != ""; dir = parent(dir) {
		if !removeEmptyFolder(root, dir) {
			break // not empty, already gone, or not a folder
		}
	}
	return nil
}

// removeEmptyFolder removes the folder dir (a slash-separated path) if it is
// an empty folder, and reports whether it did.
func removeEmptyFolder(root *os.Root, dir string) bool {
	name := filepath.FromSlash(dir)
	fi, err := root.Lstat(name)
	return err == nil && fi.IsDir() && root.Remove(name) == nil
}

// List yields the objects whose keys begin with prefix, in lexical (byte)
// order of their keys, with their sizes and modification times. It walks only
// the folders that can hold such keys, does not follow symbolic links, and
// skips temporary files and anything that is not a regular file with a valid
// key for a name. Objects deleted during the walk may or may not be yielded;
// errors end the sequence after being yielded once.
func (f *Folder) List(ctx context.Context, prefix string) iter.Seq2[destination.Object, error] {
	return func(yield func(destination.Object, error) bool) {
		// Every key that begins with prefix lies in the folder named by
		// prefix up to its last slash; if that is not a valid key, no
		// valid key begins with prefix.
		start := ""
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			start = prefix[:i]
			if _, err := objectName(start); err != nil {
				return
			}
		}
		if err := ctx.Err(); err != nil {
			yield(destination.Object{}, f.wrap("list", prefix, err))
			return
		}
		root, err := f.openRoot(false)
		if err != nil {
			if !isNotExist(err) || f.mustExist {
				yield(destination.Object{}, f.wrap("list", prefix, err))
			}
			return
		}
		defer root.Close()
		if start != "" {
			fi, err := lstatFolders(root, start+"/")
			if err == nil && !fi.IsDir() {
				return
			}
			if err != nil {
				if !isNotExist(err) && !errors.Is(err, errSymlink) {
					yield(destination.Object{}, f.wrap("list", prefix, err))
				}
				return
			}
		}
		f.walk(ctx, root, start, prefix, yield)
	}
}

// walk yields, in key order, the objects under the folder dir (a slash
// separated path, "" for root) whose keys begin with prefix. It returns false
// if the walk must stop.
func (f *Folder) walk(ctx context.Context, root *os.Root, dir, prefix string, yield func(destination.Object, error) bool) bool {
	entries, err := readDir(root, dir)
	if err != nil {
		if isNotExist(err) {
			return true // removed since we saw it
		}
		return yield(destination.Object{}, f.wrap("list", prefix, err))
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			yield(destination.Object{}, f.wrap("list", prefix, err))
			return false
		}
		key := e.Name()
		if dir != "" {
			key = dir + "/" + key
		}
		if _, err := objectName(key); err != nil {
			continue // a temporary file, or a name that is not a valid key
		}
		switch {
		case e.IsDir():
			sub := key + "/"
			if !strings.HasPrefix(sub, prefix) && !strings.HasPrefix(prefix, sub) {
				continue
			}
			if !f.walk(ctx, root, key, prefix, yield) {
				return false
			}
		case e.Type().IsRegular():
			if !strings.HasPrefix(key, prefix) {
				continue
			}
			fi, err := root.Lstat(filepath.FromSlash(key))
			if err != nil {
				if isNotExist(err) {
					continue
				}
				return yield(destination.Object{}, f.wrap("list", prefix, err))
			}
			if !fi.Mode().IsRegular() {
				continue
			}
			if !yield(destination.Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil) {
				return false
			}
		}
	}
	return true
}

// readDir returns the entries of the folder dir sorted so that walking them
// in order yields keys in lexical order: a folder sorts as its name followed
// by a slash, since every key under it continues that way.
func readDir(root *os.Root, dir string) ([]fs.DirEntry, error) {
	d, err := root.Open(osName(dir))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	sortName := func(e fs.DirEntry) string {
		if e.IsDir() {
			return e.Name() + "/"
		}
		return e.Name()
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(sortName(a), sortName(b)) })
	return entries, nil
}

// Cleanup removes the temporary files that killed writers left anywhere under
// root, and returns how many it removed. It never removes the temporary file
// of a Put still running in this or another process: each Put holds an
// exclusive flock on its file, and Cleanup removes only files it can lock
// without waiting. On platforms without flock it removes only temporary files
// not modified for 24 hours. It does not follow symbolic links. It goes on
// after an error and returns all of them joined.
func (f *Folder) Cleanup(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, f.wrap("cleanup", "", err)
	}
	root, err := f.openRoot(false)
	if err != nil {
		if isNotExist(err) && !f.mustExist {
			return 0, nil
		}
		return 0, f.wrap("cleanup", "", err)
	}
	defer root.Close()
	now := time.Now()
	removed := 0
	var errs []error
	var walk func(dir string) bool
	walk = func(dir string) bool {
		entries, err := readDir(root, dir)
		if err != nil {
			if !isNotExist(err) {
				errs = append(errs, f.wrap("cleanup", "", err))
			}
			return true
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				errs = append(errs, f.wrap("cleanup", "", err))
				return false
			}
			name := path.Join(dir, e.Name())
			switch {
			case e.IsDir():
				if !walk(name) {
					return false
				}
			case e.Type().IsRegular() && strings.HasPrefix(e.Name(), TempPrefix):
				ok, err := removeIfAbandoned(root, filepath.FromSlash(name), now)
				if err != nil {
					errs = append(errs, f.wrap("cleanup", "", err))
				}
				if ok {
					removed++
				}
			}
		}
		return true
	}
	walk("")
	return removed, errors.Join(errs...)
}

// Check verifies that root is a folder (creating it unless Options.MustExist
// is set) in which a file can be created, written, fsynced and removed. It
// returns nil if so. The probe file is a temporary file, so List never shows
// it and Cleanup removes it if Check is killed.
func (f *Folder) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return f.wrap("check", "", err)
	}
	root, err := f.openRoot(true)
	if err != nil {
		return f.wrap("check", "", err)
	}
	defer root.Close()
	name := TempPrefix + randomHex()
	probe, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.fileMode)
	if err != nil {
		return f.wrap("check", "", err)
	}
	err = lockExclusive(probe)
	if err == nil {
		_, err = io.WriteString(probe, "backupkit write probe\n")
	}
	if err == nil {
		err = probe.Sync()
	}
	rerr := root.Remove(name)
	cerr := probe.Close()
	if err = cmp.Or(err, rerr, cerr); err != nil {
		return f.wrap("check", "", err)
	}
	return nil
}

// openRoot opens root, creating it first when create is set, it is missing
// and MustExist is not set.
func (f *Folder) openRoot(create bool) (*os.Root, error) {
	r, err := os.OpenRoot(f.root)
	if err == nil || !create || f.mustExist || !errors.Is(err, fs.ErrNotExist) {
		return r, err
	}
	if err := f.mkdirRoot(); err != nil {
		return nil, err
	}
	return os.OpenRoot(f.root)
}

// mkdirRoot creates root and its missing parents, and fsyncs the folders
// that gained an entry, so that root survives a crash with the first object.
func (f *Folder) mkdirRoot() error {
	existing := filepath.Dir(f.root)
	for {
		if _, err := os.Stat(existing); err == nil || filepath.Dir(existing) == existing {
			break
		}
		existing = filepath.Dir(existing)
	}
	if err := os.MkdirAll(f.root, f.dirMode); err != nil {
		return err
	}
	for d := filepath.Dir(f.root); ; d = filepath.Dir(d) {
		if err := syncPath(d); err != nil {
			return err
		}
		if d == existing || filepath.Dir(d) == d {
			return nil
		}
	}
}

// syncPath fsyncs the folder at path p.
func syncPath(p string) error {
	d, err := os.Open(p)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !syncUnsupported(err) {
		return err
	}
	return nil
}

// objectName validates key and returns the name of its file relative to
// root, in the operating system's form. Keys refused by
// destination.ValidateKey are refused, and so are keys with a segment that
// begins with TempPrefix.
func objectName(key string) (string, error) {
	if err := destination.ValidateKey(key); err != nil {
		return "", err
	}
	for seg := range strings.SplitSeq(key, "/") {
		if strings.HasPrefix(seg, TempPrefix) {
			return "", fmt.Errorf("%w %q: names beginning with %q are reserved for temporary files", destination.ErrInvalidKey, key, TempPrefix)
		}
	}
	return filepath.FromSlash(key), nil
}

// lstatObject returns the file information of key if it is an object: a
// regular file, reached through folders that are not symbolic links.
func lstatObject(root *os.Root, key string) (fs.FileInfo, error) {
	fi, err := lstatFolders(root, key)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, notObject(key)
	}
	return fi, nil
}

// lstatFolders checks the folders on the path of key, which must be real
// folders, then returns the file information of key itself, not following a
// symbolic link. A trailing slash in key checks key as a folder too.
func lstatFolders(root *os.Root, key string) (fs.FileInfo, error) {
	for i := range len(key) {
		if key[i] != '/' {
			continue
		}
		d := key[:i]
		fi, err := root.Lstat(filepath.FromSlash(d))
		switch {
		case err != nil:
			return nil, err
		case fi.Mode()&fs.ModeSymlink != 0:
			return nil, fmt.Errorf("folder %q %w", d, errSymlink)
		case !fi.IsDir():
			return nil, fmt.Errorf("%q is not a folder: %w", d, destination.ErrNotExist)
		}
	}
	return root.Lstat(osName(strings.TrimSuffix(key, "/")))
}

// notObject is the error for a key whose name holds something other than a
// regular file.
func notObject(key string) error {
	return fmt.Errorf("%q is not a regular file: %w", key, destination.ErrNotExist)
}

// isNotExist reports whether err means that something is missing.
func isNotExist(err error) bool {
	return errors.Is(err, destination.ErrNotExist) || kind(err) == destination.ErrNotExist
}

// sameFile reports whether name still refers to the open file f.
func sameFile(root *os.Root, name string, f *os.File) (bool, error) {
	open, err := f.Stat()
	if err != nil {
		return false, err
	}
	cur, err := root.Lstat(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	return os.SameFile(open, cur), nil
}

// removeSame removes name if it still refers to the open file f, and reports
// whether it did.
func removeSame(root *os.Root, name string, f *os.File) (bool, error) {
	same, err := sameFile(root, name, f)
	if err != nil || !same {
		return false, err
	}
	if err := root.Remove(name); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// parent returns the slash-separated folder of key, "" for root.
func parent(key string) string {
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		return key[:i]
	}
	return ""
}

// osName turns a slash-separated path relative to root, "" for root itself,
// into a name for os.Root.
func osName(p string) string {
	if p == "" {
		return "."
	}
	return filepath.FromSlash(p)
}

// randomHex returns 24 random hexadecimal digits.
func randomHex() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
