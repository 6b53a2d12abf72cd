// Package gdrive is the destination adapter for a folder in Google Drive (My
// Drive or a shared drive), through the Drive v3 API.
//
// A Drive maps key "a/b/c" to the file "c" in folder "b" in folder "a" under
// its root folder. Folders are created on demand and cached; creating one
// path is serialised within the process, and after creating a folder the
// adapter lists again and settles on the oldest folder of that name, so that
// two processes racing to create it converge (and the newer, still empty
// duplicate is removed). Drive allows a file and a folder of the same name,
// so "a" and "a/b" can both be objects. Keys with a segment that begins with
// TempPrefix are refused with destination.ErrInvalidKey.
//
// # Atomicity
//
// Drive has no atomic rename over an existing file, and allows several files
// of one name. Put therefore:
//
//  1. uploads the data with a resumable upload session, in chunks of
//     Options.ChunkSize (default 8 MiB) read from the reader as they come, to
//     a new file named TempPrefix + random hex in the key's folder. Drive
//     creates that file only once its last byte has arrived; a Put that fails
//     or is canceled earlier leaves nothing;
//  2. renames the temporary file to the key's name;
//  3. deletes the other files of that name.
//
// Readers (Stat, Open, List) ignore temporary names and, when a name is held
// by several files, take the one created last (ties broken by ID) as the
// object, so between steps 2 and 3 they already see the new object, whole.
// If Put fails after step 1, it deletes its temporary file; a process killed
// between steps 1 and 2 leaves one, which Cleanup removes once it is older
// than Options.CleanupAge (default one hour). Renames of one key are
// serialised within the process.
//
// # Uploads
//
// Each chunk is one PUT to the upload session with a Content-Range header.
// When a chunk fails with a 5xx answer, 429, 403 userRateLimitExceeded or
// rateLimitExceeded, a dropped connection, or stalls for longer than
// Options.ChunkTimeout (default 5 minutes), Put waits (Options.Backoff,
// exponential by default), asks the session how many bytes it has (the Range
// header of its "308 Resume Incomplete" answer) and sends the rest of the
// chunk from there, up to Options.MaxAttempts failures per chunk. A Put holds
// one chunk in memory (plus one byte of read-ahead, to know which chunk is
// the last), whatever the object's size. PutOptions.Size, when set, is
// checked: a reader that yields more or fewer bytes fails the Put before the
// last chunk is sent, so nothing is stored. PutOptions.ContentType becomes
// the file's MIME type and PutOptions.Metadata its appProperties (Drive
// limits each key plus value to 124 bytes).
//
// # Authentication
//
// Three kinds of credentials work:
//
//   - a service account's JSON key (Options.CredentialsFile or
//     CredentialsJSON with "type": "service_account"), optionally acting as
//     a Workspace user through domain-wide delegation (Options.Subject);
//   - an OAuth client and a refresh token: the authorised-user JSON file
//     that gcloud or oauth2l write ("type": "authorized_user"), or
//     Options.ClientID, ClientSecret and RefreshToken;
//   - any oauth2.TokenSource (Options.TokenSource).
//
// The scope requested is drive.file (ScopeFile) unless Options.Scope says
// drive (ScopeDrive). With drive.file the credentials see only the files and
// folders they created (or that a user opened with the app): create the root
// folder with the same credentials (see docs/gdrive.md), or use the drive
// scope for a folder made in the web interface.
//
// Access tokens are cached and renewed before they expire. When Drive
// answers 401 to a token anyway (it expired early or was revoked), the token
// is dropped, a new one is fetched, and the request is sent again once; an
// upload then resumes where the session is. When the token endpoint refuses
// the credentials themselves (invalid_grant: a revoked or expired refresh
// token, a deleted key), the error matches ErrReauthorize, and
// destination.ErrPermission: someone must authorise again.
//
// # Errors
//
// Missing objects match destination.ErrNotExist; refused credentials and
// missing rights destination.ErrPermission; a full Drive (403
// storageQuotaExceeded) destination.ErrNoSpace; 5xx answers, 429, 403 rate
// limits and dropped connections are marked retryable
// (destination.IsRetryable) once Options.MaxAttempts tries are spent. The
// *googleapi.Error stays reachable with errors.As.
//
// # URLs
//
// Importing the package registers the "gdrive" scheme with destination.Open:
//
//	gdrive://FOLDER_ID?credentials_file=/etc/backupkit/sa.json
//	gdrive://FOLDER_ID?credentials_file=/etc/backupkit/sa.json&shared_drive=DRIVE_ID&chunk_size=16MiB
//	gdrive://FOLDER_ID?client_id=ID&client_secret=SECRET&refresh_token=TOKEN
//
// Parameters: credentials_file, client_id, client_secret, refresh_token,
// impersonate (Options.Subject), scope (drive.file or drive), shared_drive,
// chunk_size (a multiple of 256KiB, with KiB, MiB or GiB), max_attempts,
// cleanup_age (a Go duration), endpoint and token_url (for tests against a
// fake). Without credentials in the URL, the file named by
// GOOGLE_APPLICATION_CREDENTIALS is used. Secrets in the URL are redacted
// from every error and log.
//
// # Testing
//
// No real Drive is reachable from this project's test machines. The tests run
// against internal/fakedrive, an in-repo FAKE of the Drive v3 endpoints this
// package uses, with injected faults (5xx, 429, 403 rate limits, dropped
// connections, expired and revoked tokens). See docs/gdrive.md.
package gdrive
