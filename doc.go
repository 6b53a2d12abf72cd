// Package backupkit is an embeddable library for scheduled backups, with thin
// adapters and a small reference daemon, backupd.
//
// A host program plugs in sources (what to back up) and destinations (where to
// keep it), and the engine does the rest of one backup: it streams the source's
// snapshot through compression and a SHA-256 hash to every destination at once,
// writes a manifest beside each artifact, and records the run, the catalog entry
// and the run's log lines in a store. Nothing is held whole in memory or on a
// temporary disk, and nothing half-written is ever listed as a backup.
//
// The packages, from the bottom up:
//
//   - [github.com/backupkit/backupkit/source]: the Source, Restorer and Checker
//     interfaces and their URL registry; source/dir backs up files and folders.
//   - [github.com/backupkit/backupkit/destination]: the Destination interface,
//     its errors and URL registry; destination/local keeps backups on local disk
//     with atomic writes, destination/memory in memory for tests.
//   - [github.com/backupkit/backupkit/store]: run history, the backup catalog and
//     run logs; store/sqlstore persists them in SQLite (embedded, the default).
//   - [github.com/backupkit/backupkit/notify]: events and the Notifier interface.
//   - [github.com/backupkit/backupkit/backup]: the engine that runs a job, and
//     restores its backups.
//   - [github.com/backupkit/backupkit/config]: a YAML file turned into a wired
//     engine, used by backupd and by hosts that prefer a file.
//   - cmd/backupd: the reference daemon and CLI.
//
// Every adapter package runs its interface's conformance suite
// (destination/destinationtest, source/sourcetest, store/storetest); a new
// adapter is one small file plus one call to its suite.
//
// The design, its rules and the run lifecycle are described in the repository's
// docs; the README starts with the two commands a newcomer runs.
package backupkit
