// Package schedule runs backup jobs on cron schedules: the Scheduler that host
// applications embed (New, then Add, Start and Stop), and the cron parser it
// uses (Parse, Cron).
//
// # Expressions
//
// Parse accepts 5 fields (minute hour day-of-month month day-of-week) or 6
// with a leading second, the macros @yearly, @annually, @monthly, @weekly,
// @daily, @midnight and @hourly, and the presets "hourly", "daily at HH:MM",
// "weekly on DAY at HH:MM" and "monthly on N at HH:MM" (N a day or "last").
// "L" in the day-of-month field is the last day of the month. Field syntax is
// also checked with github.com/adhocore/gronx. Errors name the field or the
// zone; an expression that matches no date ("0 0 30 2 *") fails with
// ErrNeverFires.
//
// When both the day-of-month and the day-of-week fields are restricted
// (neither starts with * or ?), a day matches if either matches, as in Vixie
// cron: "0 0 13 * 5" runs on every 13th and on every Friday.
//
// # Time zones and daylight saving time
//
// Each schedule is read in its IANA zone (time/tzdata is embedded), on
// wall-clock time, with the rules of Vixie cron. The hour field is "wild"
// when it starts with * or holds a step (*, */2, 0-23/4); otherwise it is
// fixed.
//
//   - Spring forward (a wall time that does not exist): a fixed-hour schedule
//     runs once, at the instant the gap ends ("30 2 * * *" in New York on
//     2026-03-08 runs at 03:00 EDT). A wild-hour schedule has no slots in the
//     gap: no burst of catch-up runs.
//   - Fall back (a wall time that occurs twice): a fixed-hour schedule runs
//     once, at the first occurrence. A wild-hour schedule runs in both
//     occurrences, so its interval in real time stays regular.
//
// Next computes slots with these rules itself (it does not rely on a cron
// library's DST handling); a property test compares it with a brute-force
// minute-by-minute oracle of the rules over a year, for random expressions
// and zones.
//
// # Slots, replicas and leases
//
// A slot is identified by its nominal instant. Before running a slot, the
// Scheduler claims it in the store (store.Runs.ClaimRun, unique on job,
// schedule ID, slot and attempt), so each slot runs at most once across
// restarts and across replicas sharing a store; a replica that loses the
// claim does nothing. The run's lease is kept by the Runner (backup.Engine
// renews it); every Options.SweepInterval the Scheduler marks runs whose
// lease expired as interrupted (store.Runs.InterruptExpired) and, when the
// schedule's Policy.Retries allows, claims and runs the next attempt. A
// replica whose run was interrupted cannot record its result: the store
// fences updates by owner and attempt (EventLeaseLost).
//
// # Policies
//
// Policy sets, per schedule: what happens to a slot due while the previous
// run still runs (Overlap: skip, the default, records it as skipped with the
// reason; queue, bounded; replace), to slots that passed while no scheduler
// ran or the clock jumped forward (Missed: skip; run_once, the default, runs
// the latest within a grace window; all, capped), retries with exponential
// backoff, a per-run timeout and a deterministic jitter that leaves the slot
// key nominal. Options set global and per-source concurrency limits.
// Adding, editing and resuming a schedule never fire retroactively: its
// next slot is the first after now. A clock jump back never runs a slot
// twice: the Scheduler only moves forward from the last slot it handled.
//
// # Waiting
//
// The Scheduler keeps the next due time of every schedule in a heap and
// sleeps until the earliest one or until a change; it does not poll the store.
// On waking it reads the wall clock again, and it never sleeps longer than
// Options.MaxSleep, so that wall-clock jumps are noticed. An injected Clock
// (FakeClock in tests) makes all of this testable without sleeping.
//
// # Shutdown
//
// Stop stops claiming, waits for running backups up to Options.ShutdownGrace
// (or its context), then cancels them with backup.ErrInterrupted, so that
// they are recorded as interrupted.
package schedule
