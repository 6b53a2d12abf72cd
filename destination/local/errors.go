package local

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/backupkit/backupkit/destination"
)

// errEscapesText is the text of the error os.Root returns when a name would
// leave the root; os does not export the error itself.
const errEscapesText = "path escapes from parent"

// errConflict reports a key that would need a file and a folder at one name.
var errConflict = errors.New("an object and a folder cannot share a name")

// errSymlink reports a key whose folders include a symbolic link.
var errSymlink = errors.New("passes through a symbolic link")

// kind returns the destination sentinel that err should match, or nil.
func kind(err error) error {
	switch {
	case errors.Is(err, destination.ErrInvalidKey), errors.Is(err, destination.ErrNotExist),
		errors.Is(err, destination.ErrPermission), errors.Is(err, destination.ErrNoSpace):
		return nil // already classified
	case errors.Is(err, errSymlink), escapes(err):
		return destination.ErrInvalidKey
	}
	if k := sysKind(err); k != nil {
		return k
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return destination.ErrNotExist
	case errors.Is(err, fs.ErrPermission):
		return destination.ErrPermission
	}
	return nil
}

// escapes reports whether err is os.Root's refusal of a name outside root.
func escapes(err error) bool {
	var pe *fs.PathError
	for errors.As(err, &pe) {
		if pe.Err != nil && pe.Err.Error() == errEscapesText {
			return true
		}
		err = pe.Err
	}
	return false
}

// wrap returns err annotated with the operation, key and root, matching the
// destination sentinel for its cause. The native error stays reachable.
func (f *Folder) wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	where := fmt.Sprintf("local: %s %q in %s", op, key, f.root)
	if key == "" {
		where = fmt.Sprintf("local: %s %s", op, f.root)
	}
	if k := kind(err); k != nil {
		return fmt.Errorf("%s: %w: %w", where, k, err)
	}
	return fmt.Errorf("%s: %w", where, err)
}

// wrapRead annotates an error from the caller's reader. It is deliberately not
// classified: a reader's ENOSPC is not the destination being full.
func (f *Folder) wrapRead(key string, err error) error {
	return fmt.Errorf("local: put %q in %s: reading the data: %w", key, f.root, err)
}
