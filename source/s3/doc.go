// Package s3 is the source adapter for the objects of an S3 bucket (AWS or
// an S3-compatible store such as MinIO, R2 or Spaces), or of a prefix of
// one. Its snapshot is a tar stream; its Restore writes such a stream back
// into a bucket and prefix.
//
// Open a source in code with [New], or from a URL once this package is
// imported; the URL takes the connection parameters of destination/s3
// (region, endpoint, path_style, access_key_id, secret_access_key,
// session_token, max_attempts) plus concurrency and part_size:
//
//	src, err := s3.New(ctx, s3.Options{Bucket: "assets", Prefix: "uploads"})
//	src, err := source.Open(ctx, "s3://assets/uploads?region=eu-west-1&concurrency=16")
//
// # Tar layout
//
// [Bucket.Snapshot] writes a POSIX.1-2001 (PAX) tar stream with one
// regular-file entry per object, in lexical key order, named by the key
// relative to the prefix ("photos/2024/a.jpg" under prefix "assets"). The
// header's size is the object's, its mode 0644 and its modification time
// the object's Last-Modified (whole seconds). PAX records carry the object
// attributes:
//
//	BACKUPKIT.s3.content-type          Content-Type
//	BACKUPKIT.s3.content-encoding      Content-Encoding
//	BACKUPKIT.s3.cache-control         Cache-Control
//	BACKUPKIT.s3.content-disposition   Content-Disposition
//	BACKUPKIT.s3.content-language      Content-Language
//	BACKUPKIT.s3.last-modified         Last-Modified, RFC 3339
//	BACKUPKIT.s3.meta.NAME             user metadata x-amz-meta-NAME
//
// The stream ends with tar's end-of-archive marker. Info has Kind "s3",
// Format "tar", one item "objects" with the object count, total bytes and
// a checksum (see below),
// and PointInTime false: objects are read one after another, and one
// changed meanwhile may appear in either version, whole; one deleted
// between listing and reading is left out and counted in
// Info.Details["vanished"] (with up to 10 keys in "vanished_keys"). An object whose
// key is exactly the prefix plus "/" (a console "folder" marker) is left
// out. A key that would not be a safe entry name (see Restore) fails the
// snapshot with an error naming it, rather than produce a backup that
// cannot be restored.
//
// Reading is concurrent but the output is in order: up to Concurrency
// (default 8) objects are requested ahead of the one being written.
// Objects of up to 256 KiB are read whole by those requests; larger ones
// are streamed into the tar stream when their turn comes. Memory stays
// below Concurrency × 256 KiB plus the SDK's buffers, whatever the sizes.
//
// # Restore
//
// [Bucket.Restore] treats the stream as hostile: an entry that is not a
// regular file, whose name is empty, absolute, has a "." or ".." segment, a
// backslash or a NUL byte, or that repeats an earlier name, fails the whole
// restore, so no key can escape the target prefix. The target
// (RestoreOptions.Target) is the source's own bucket and prefix when empty,
// "s3://bucket/prefix" for another bucket reachable with the same
// credentials, or otherwise a prefix in the source's bucket. A target that
// already holds objects is refused unless DropExisting is set; then the
// objects the stream does not contain are deleted after the whole stream is
// restored. A failed restore (a refused entry, a truncated stream, a reader
// error even at the very end, a canceled context) deletes the objects it
// wrote; objects it replaced under DropExisting are not brought back.
// Objects are uploaded as destination/s3 does, with bounded memory,
// per-request checksums and aborted multipart uploads on failure. DryRun
// reads and checks the whole stream and writes nothing.
//
// Objects are written as they arrive, not staged and copied: S3 has no
// rename, so staging would still commit object by object, at the cost of a
// second write of every byte. docs/s3.md ("The restore guarantee") has the
// reasons and a table of what each failure leaves at the target.
//
// # Inspect, scratch prefixes and safety backups
//
// A Bucket implements [source.Inspector], [source.Scratcher] and
// [source.TargetSourcer]. The "objects" item's Checksum is
// "content-set-sha256:<hex>", an order-independent digest of each object's
// name, size and content SHA-256, plus the count; [Bucket.Inspect]
// downloads every object at the target to compute it.
// [Bucket.ScratchTarget] names a prefix ".backupkit-scratch-<hint>-<id>" at
// the root of the bucket; Snapshot and Inspect leave out entries whose name
// starts with such a prefix, and Restore with DropExisting does not delete
// them. [Bucket.DropTarget] deletes only such a prefix. See docs/s3.md.
package s3
