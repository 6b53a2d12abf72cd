// Package local is the destination adapter for a folder on a local or mounted
// file system.
//
// A Folder maps each key to a file under its root: the key's slashes become
// folders, created on demand (mode 0750 before the umask), and the object is a
// regular file (mode 0640). A key may not be both an object and a folder of
// other objects, so Put("a") fails while "a/b" exists and vice versa.
//
// # Atomicity
//
// Put never writes to the final name. It creates a temporary file in the
// folder the object will live in, named
//
//	.backupkit-tmp-<24 hex digits>
//
// holds an exclusive flock(2) on it for the whole Put, writes the data, checks
// that it got exactly PutOptions.Size bytes when that is set, fsyncs the file,
// renames it over the final name and fsyncs the folder (and any folder the Put
// created). Rename within a folder is atomic, so readers see either the old
// object or the new one, whole. If anything fails (the reader, the context,
// the size check, a short write, a full disk), the temporary file is removed
// and the final name is left as it was. A Put that returns nil has its data on
// stable storage, as far as fsync promises.
//
// Names that begin with ".backupkit-tmp-" are reserved: a key with such a
// segment is refused with destination.ErrInvalidKey, and List never yields
// such files.
//
// # Cleanup
//
// A process killed during a Put leaves its temporary file behind. Folder
// implements destination.Cleaner: Cleanup removes every temporary file that no
// live process holds locked, so it is safe to run at any time, even while this
// or another process is writing to the same root. On platforms without flock
// (Windows, Solaris and a few others) it removes only temporary files not
// modified for 24 hours.
//
// # Symbolic links and foreign files
//
// Keys never pass through symbolic links: a key whose folders include a
// symbolic link is refused with destination.ErrInvalidKey by every method, and
// all access goes through an os.Root, so no race can make it reach a file
// outside root. List does not follow symbolic links, and yields only regular
// files whose names make valid keys; anything else found under root is
// ignored. The root itself may be a symbolic link.
//
// # Errors
//
// Errors name the operation, the key and the root. Full disks and quotas
// match destination.ErrNoSpace, missing rights and read-only file systems
// destination.ErrPermission, and missing objects destination.ErrNotExist; the
// underlying *fs.PathError and syscall.Errno stay reachable with errors.As.
// A key with a segment too long for the file system (usually 255 bytes) fails
// with destination.ErrInvalidKey. When PutOptions.Size is set, Put checks the
// space available to unprivileged users first (on Linux, macOS and FreeBSD)
// and fails with destination.ErrNoSpace before writing. No local error is
// marked retryable.
//
// # URLs
//
// Importing the package registers the "file" scheme with destination.Open:
//
//	file:///var/backups            absolute path
//	file:/var/backups              the same
//	file://localhost/var/backups   the same
//	file:backups/nightly           relative to the current directory
//
// Query parameters set Options: must_exist=true, file_mode=0600,
// dir_mode=0700. Any other host, parameter, user or fragment is an error.
package local
