// Package s3 is the destination adapter for Amazon S3 and S3-compatible
// stores (MinIO, Cloudflare R2, DigitalOcean Spaces, Backblaze B2, ...).
//
// A Bucket keeps each key as the object "<prefix>/<key>" of one bucket.
// Open one in code with [New], or from a URL once this package is imported:
//
//	b, err := s3.New(ctx, s3.Options{Bucket: "backups", Prefix: "prod", Region: "eu-west-1"})
//	d, err := destination.Open(ctx, "s3://backups/prod?region=eu-west-1&storage_class=STANDARD_IA")
//
// # URLs
//
// "s3://BUCKET/PREFIX?PARAMS", where PARAMS set the fields of [Options]:
// region, endpoint (an http:// or https:// URL), path_style=true,
// access_key_id, secret_access_key, session_token, storage_class, sse
// (AES256 or aws:kms), sse_kms_key_id, tag=KEY:VALUE (repeatable),
// part_size (bytes, or with a KiB, MiB or GiB suffix), concurrency,
// checksum (CRC32, CRC32C, SHA1, SHA256 or none), max_attempts,
// cleanup_age (a Go duration such as 48h) and stall_timeout (a duration;
// 0 turns the check off). Unknown parameters are errors.
// Secrets never appear in errors: destination.Open redacts the URL, and
// this package never prints credentials. docs/s3.md has the details, the
// settings MinIO, R2 and Spaces need, and the IAM permissions.
//
// # Uploads
//
// Put streams data of unknown length. It fills one buffer of PartSize
// bytes (default 8 MiB); if the data ends there, it is sent with a single
// PutObject. Otherwise a multipart upload starts and up to Concurrency
// parts (default 4) are in flight while the next is read, so a Put holds
// at most PartSize × Concurrency bytes. Past 2,000 parts (16 GiB with the
// default part size) the part size doubles every 2,000 parts, so that data
// of unknown length up to about 484 GiB fits S3's 10,000 parts, and the
// memory bound doubles with it. Every request carries a checksum
// (CRC32 by default) that S3 verifies, and the multipart upload is
// completed with the part checksums. An object becomes visible only when
// PutObject or CompleteMultipartUpload succeeds, so a failed Put never
// leaves a partial object, and replaces nothing.
//
// When a Put fails for any reason (its reader fails, its context is
// canceled, a part fails after its retries, the data is longer or shorter
// than PutOptions.Size, the upload would exceed 10,000 parts), it aborts
// its multipart upload before returning, even when the context is canceled
// (with a separate one-minute deadline), so no parts are left behind and
// billed. A Put that sent CreateMultipartUpload more than once (its answer
// was lost and the SDK retried), or that failed, also aborts the other
// incomplete uploads of its key that no Put of this process runs. Only a
// process that dies mid-Put, a failing abort or listing, or another process
// writing the same key, leaves an incomplete upload; [Bucket.Cleanup]
// removes those.
//
// A request on which nothing moves for StallTimeout (default one minute;
// URL parameter stall_timeout, 0 turns it off) fails as a timeout and is
// retried; a slow transfer that still moves is never cut.
//
// # Errors and retries
//
// Requests are retried by the SDK with exponential backoff and jitter on
// throttling, 5xx answers, timeouts and dropped connections, up to
// MaxAttempts (default 5) attempts; 4xx answers are not retried. Errors
// that remain transient after that are marked with destination.Retryable.
// 403 answers and credential errors match destination.ErrPermission;
// missing objects (404, NoSuchKey) match destination.ErrNotExist; the SDK
// error stays reachable with errors.As.
//
// Keys are checked with destination.ValidateKey, and must fit S3's limit
// of 1024 bytes together with the prefix. Keys whose first segment begins
// with ".backupkit-check-" are reserved for Check's probe object.
//
// MinIO stores objects as folders on its disks, so on MinIO a key cannot be
// both an object and the prefix of other objects ("a" and "a/b"); the
// keys the backup engine writes never are.
package s3
