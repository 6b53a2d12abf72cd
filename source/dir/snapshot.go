package dir

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/backupkit/backupkit/source"
)

// Snapshot writes the file or folder as a tar stream to w (see the package
// documentation for the layout) and reports what it holds: Info.Items "files"
// (Count and total Bytes of regular files), "dirs" (folders below the root)
// and "symlinks", each with the Checksum described under "Inspect, scratch
// targets and safety backups" in the package documentation; Info.Details
// lists entries skipped or changed while being read. It does not close w. It fails, naming the path, on anything it cannot
// read; a vanished entry is not a failure. Memory use is bounded by two
// 1 MiB buffers plus the names of one folder's entries at each level being
// walked.
func (f *Folder) Snapshot(ctx context.Context, w io.Writer) (source.Info, error) {
	if err := ctx.Err(); err != nil {
		return source.Info{}, fmt.Errorf("dir: snapshot %s: %w", f.path, err)
	}
	bw := &errWriter{w: w}
	buf := bufio.NewWriterSize(bw, copyBufferSize)
	s := &snapshot{
		ctx: ctx,
		f:   f,
		tw:  tar.NewWriter(buf),
		buf: make([]byte, copyBufferSize),
	}
	if err := s.run(); err != nil {
		// An error from w is reported as is (wrapped), whatever layer saw it.
		if bw.err != nil {
			err = bw.err
		}
		return source.Info{}, fmt.Errorf("dir: snapshot %s: %w", f.path, err)
	}
	if err := s.tw.Close(); err != nil {
		return source.Info{}, fmt.Errorf("dir: snapshot %s: %w", f.path, err)
	}
	if err := buf.Flush(); err != nil {
		return source.Info{}, fmt.Errorf("dir: snapshot %s: %w", f.path, err)
	}
	return s.info(), nil
}

// errWriter remembers the first error of w.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	e.err = err
	return n, err
}

// snapshot is the state of one Snapshot call.
type snapshot struct {
	ctx context.Context
	f   *Folder
	tw  *tar.Writer
	buf []byte

	files, fileBytes, dirs, symlinks     int64
	changed, skipped, vanished, escaping pathList

	// digests of the files, dirs and symlinks written (see record), and
	// the buffer records are built in.
	digests [3]hash.Hash
	rec     []byte
	// inspect makes the walk count and digest entries without writing a
	// tar stream or reading file data (Inspect); tw is nil then.
	inspect bool

	// pending are headers of folders not yet written: with Include, a folder
	// is written only when an entry below it is.
	pending []*tar.Header
}

// pathList counts entries and keeps the first few names.
type pathList struct {
	n     int
	names []string
}

const pathListMax = 10

func (l *pathList) add(name string) {
	l.n++
	if len(l.names) < pathListMax {
		l.names = append(l.names, name)
	}
}

func (l *pathList) put(details map[string]string, key string) {
	if l.n == 0 {
		return
	}
	details[key] = strconv.Itoa(l.n)
	q := make([]string, len(l.names))
	for i, n := range l.names {
		q[i] = strconv.Quote(n)
	}
	s := strings.Join(q, ", ")
	if l.n > len(l.names) {
		s += fmt.Sprintf(" (and %d more)", l.n-len(l.names))
	}
	details[key+"_paths"] = s
}

func (s *snapshot) info() source.Info {
	details := map[string]string{}
	s.changed.put(details, "changed")
	s.skipped.put(details, "skipped")
	s.vanished.put(details, "vanished")
	s.escaping.put(details, "escaping_symlinks")
	if len(details) == 0 {
		details = nil
	}
	return source.Info{
		Kind:        Kind,
		Format:      Format,
		Location:    s.f.path,
		PointInTime: false,
		Items: []source.Item{
			{Name: "files", Count: s.files, Bytes: s.fileBytes, Checksum: s.sum(digestFiles, s.files)},
			{Name: "dirs", Count: s.dirs, Checksum: s.sum(digestDirs, s.dirs)},
			{Name: "symlinks", Count: s.symlinks, Checksum: s.sum(digestSymlinks, s.symlinks)},
		},
		Details: details,
	}
}

func (s *snapshot) run() error {
	fi, err := os.Stat(s.f.path) // a link at the root is followed
	if err != nil {
		return err
	}
	switch {
	case fi.Mode().IsRegular():
		name := filepath.Base(s.f.path)
		return s.file(s.f.path, name, fi)
	case fi.IsDir():
		if err := s.write(header("./", fi, tar.TypeDir)); err != nil {
			return err
		}
		return s.walk(s.f.path, "", false)
	default:
		return fmt.Errorf("%s is neither a regular file nor a folder (%v)", s.f.path, fi.Mode().Type())
	}
}

// walk writes the entries of the folder at abs, whose name relative to the
// root is rel ("" for the root). included reports whether an ancestor matched
// an Include pattern.
func (s *snapshot) walk(abs, rel string, included bool) error {
	entries, err := os.ReadDir(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && rel != "" {
			s.vanish(rel + "/")
			return nil
		}
		return err
	}
	for _, e := range entries {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		name := e.Name()
		childRel, childAbs := name, filepath.Join(abs, name)
		if rel != "" {
			childRel = rel + "/" + name
		}
		if s.f.matches(s.f.exclude, childRel) {
			continue
		}
		inc := included || len(s.f.include) == 0 || s.f.matches(s.f.include, childRel)
		fi, err := e.Info() // lstat
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				s.vanish(childRel)
				continue
			}
			return err
		}
		switch mode := fi.Mode(); {
		case mode.IsDir():
			h := header(childRel+"/", fi, tar.TypeDir)
			if inc {
				if err := s.write(h); err != nil {
					return err
				}
			} else {
				s.pending = append(s.pending, h)
			}
			if err := s.walk(childAbs, childRel, inc); err != nil {
				return err
			}
			if n := len(s.pending); n > 0 && s.pending[n-1] == h {
				s.pending = s.pending[:n-1] // nothing below it was included
			}
		case !inc:
			continue
		case mode.IsRegular():
			if err := s.file(childAbs, childRel, fi); err != nil {
				return err
			}
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(childAbs)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EINVAL) {
					s.vanish(childRel) // gone, or no longer a link
					continue
				}
				return err
			}
			h := header(childRel, fi, tar.TypeSymlink)
			h.Linkname = target
			if err := s.write(h); err != nil {
				return err
			}
			if checkLinkTarget(childRel, target) != nil {
				s.escaping.add(childRel)
				s.f.log.Warn("dir: snapshot: symbolic link points outside the folder; Restore refuses it unless AllowEscapingSymlinks",
					"path", childAbs, "target", target)
			}
		default:
			s.skipped.add(childRel)
			s.f.log.Warn("dir: snapshot: skipping special file", "path", childAbs, "type", mode.Type().String())
		}
	}
	return nil
}

func (s *snapshot) vanish(rel string) {
	s.vanished.add(rel)
	s.f.log.Warn("dir: snapshot: entry vanished while being read", "path", filepath.Join(s.f.path, filepath.FromSlash(rel)))
}

// matches reports whether the entry at rel (slash-separated, relative to the
// root) matches one of patterns.
func (f *Folder) matches(patterns []string, rel string) bool {
	base := path.Base(rel)
	for _, p := range patterns {
		subject := base
		if strings.Contains(p, "/") {
			subject = rel
		}
		if ok, _ := path.Match(p, subject); ok {
			return true
		}
	}
	return false
}

// write writes the pending folder headers, then h, and counts them.
func (s *snapshot) write(h *tar.Header) error {
	for _, p := range s.pending {
		if err := s.writeHeader(p); err != nil {
			return err
		}
	}
	s.pending = s.pending[:0]
	return s.writeHeader(h)
}

// writeHeader writes h (unless inspecting), counts it and adds it to its
// digest.
func (s *snapshot) writeHeader(h *tar.Header) error {
	if !s.inspect {
		if err := s.tw.WriteHeader(h); err != nil {
			return err
		}
	}
	switch h.Typeflag {
	case tar.TypeDir:
		if h.Name == "./" {
			return nil
		}
		s.dirs++
		s.record(digestDirs, h)
	case tar.TypeSymlink:
		s.symlinks++
		s.record(digestSymlinks, h)
	case tar.TypeReg:
		s.files++
		s.fileBytes += h.Size
		s.record(digestFiles, h)
	}
	return nil
}

// Indexes of snapshot.digests.
const (
	digestFiles = iota
	digestDirs
	digestSymlinks
)

// checksumPrefix starts every Item.Checksum of this adapter, naming what it
// digests (entry metadata) and how.
const checksumPrefix = "meta-sha256:"

// record adds the entry h to digest i: its name (length-prefixed), then what Restore
// restores of it, in decimal: permission and sticky bits (never setuid or
// setgid, which Restore clears), and for files the size and modification
// time in nanoseconds, for folders the modification time, for symbolic
// links the target (their time is restored only where the system can).
// Owners are left out: Restore does not restore them.
func (s *snapshot) record(i int, h *tar.Header) {
	r := strconv.AppendInt(s.rec[:0], int64(len(h.Name)), 10)
	r = append(r, ':')
	r = append(r, h.Name...)
	r = append(r, 0)
	r = strconv.AppendInt(r, h.Mode&0o1777, 8)
	r = append(r, 0)
	switch h.Typeflag {
	case tar.TypeReg:
		r = strconv.AppendInt(r, h.Size, 10)
		r = append(r, 0)
		r = strconv.AppendInt(r, h.ModTime.UnixNano(), 10)
	case tar.TypeDir:
		r = strconv.AppendInt(r, h.ModTime.UnixNano(), 10)
	case tar.TypeSymlink:
		r = strconv.AppendInt(r, int64(len(h.Linkname)), 10)
		r = append(r, ':')
		r = append(r, h.Linkname...)
	}
	r = append(r, '\n')
	if s.digests[i] == nil {
		s.digests[i] = sha256.New()
	}
	s.digests[i].Write(r)
	s.rec = r
}

// sum returns digest i as an Item.Checksum, or "" when it covers no entry.
func (s *snapshot) sum(i int, n int64) string {
	if n == 0 {
		return ""
	}
	return checksumPrefix + hex.EncodeToString(s.digests[i].Sum(nil))
}

// file writes the regular file at abs, named name, whose lstat is fi. It
// writes exactly fi.Size() bytes of data, padding or cutting the file if its
// size changed.
func (s *snapshot) file(abs, name string, fi fs.FileInfo) error {
	if s.inspect {
		h := header(name, fi, tar.TypeReg)
		h.Size = fi.Size()
		return s.write(h)
	}
	r, err := openFile(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ELOOP) {
			s.vanish(name) // gone, or replaced by a link
			return nil
		}
		return err
	}
	defer r.Close()
	h := header(name, fi, tar.TypeReg)
	h.Size = fi.Size()
	if err := s.write(h); err != nil {
		return err
	}
	remaining := h.Size
	for remaining > 0 {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		n, err := r.Read(s.buf[:min(int64(len(s.buf)), remaining)])
		if n > 0 {
			if _, werr := s.tw.Write(s.buf[:n]); werr != nil {
				return werr
			}
			remaining -= int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if remaining > 0 {
		// The file shrank: pad with zeros so the stream stays valid.
		clear(s.buf[:min(int64(len(s.buf)), remaining)])
		for remaining > 0 {
			n := min(int64(len(s.buf)), remaining)
			if _, err := s.tw.Write(s.buf[:n]); err != nil {
				return err
			}
			remaining -= n
		}
		s.change(abs, name, "shrank")
		return nil
	}
	// Detect growth with one more read, as tar does to find EOF anyway.
	n, err := r.Read(s.buf[:1])
	if n > 0 {
		s.change(abs, name, "grew")
	} else if err != nil && err != io.EOF {
		return err
	}
	return nil
}

func (s *snapshot) change(abs, name, how string) {
	s.changed.add(name)
	s.f.log.Warn("dir: snapshot: file changed size while being read; stored with its size at listing time",
		"path", abs, "change", how)
}

// header returns a PAX header for the entry name whose lstat is fi.
func header(name string, fi fs.FileInfo, typ byte) *tar.Header {
	m := fi.Mode()
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	h := &tar.Header{
		Typeflag: typ,
		Name:     name,
		Mode:     mode,
		ModTime:  fi.ModTime(),
		Format:   tar.FormatPAX,
	}
	h.Uid, h.Gid = owner(fi)
	return h
}
