// Package reliability holds backupkit's fault and stress suite (issue 14);
// it has no code of its own, only tests:
//
//   - crash_test.go: the real backupd binary killed (SIGKILL) at random points
//     of a backup to local disk and to MinIO, then restarted;
//   - destination_test.go: destinations that drop connections, stall, answer
//     429/500/503, trickle, or run out of space;
//   - source_test.go: a table dropped, credentials revoked and the server's
//     connection cut mid-dump (MariaDB), a collection growing while dumped
//     (FerretDB); restart_test.go: a throwaway MariaDB restarted mid-dump;
//   - store_test.go: three scheduler replicas on PostgreSQL behind a proxy
//     that is cut and restored;
//   - load_test.go: 500 jobs on a one-minute schedule on a fake clock.
//
// Servers come from internal/testenv: a test whose server is absent skips
// with one line (and fails under scripts/test-all). The short variants run
// by default; BACKUPKIT_LONG=1 runs the long ones. docs/reliability.md lists
// every fault tried and its outcome.
package reliability
