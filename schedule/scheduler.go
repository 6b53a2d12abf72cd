package schedule

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/store"
)

// Runner runs one backup job; *backup.Engine is one. The Scheduler always
// passes a run it claimed in opts.Claimed: the Runner must run that run (and
// not record another), renew its lease while it runs and record its final
// status fenced by its Owner and Attempt, as Engine.Run does.
type Runner interface {
	Run(ctx context.Context, job *backup.Job, opts backup.RunOptions) (*backup.Result, error)
}

// Overlap says what happens to a slot that comes due while the schedule's
// previous run is still going.
type Overlap string

// The overlap policies.
const (
	// OverlapSkip records the slot as skipped, with the reason (default).
	OverlapSkip Overlap = "skip"
	// OverlapQueue runs it after the current run, keeping at most
	// Policy.QueueLimit slots waiting; more are skipped.
	OverlapQueue Overlap = "queue"
	// OverlapReplace cancels the current run and runs the new slot.
	OverlapReplace Overlap = "replace"
)

// Missed says what happens to slots that passed while nobody ran them (the
// process was down, or the clock jumped forward).
type Missed string

// The missed-run policies.
const (
	// MissedSkip records them as missed and runs none.
	MissedSkip Missed = "skip"
	// MissedRunOnce runs the latest of them once, if it is within
	// Policy.MissedGrace, and records the others as missed (default).
	MissedRunOnce Missed = "run_once"
	// MissedAll runs the latest Policy.MissedCap of them within the grace
	// window, oldest first, and records the others as missed.
	MissedAll Missed = "all"
)

// Policy tunes how a schedule's slots are run. Zero fields take the
// defaults given.
type Policy struct {
	// Overlap: default OverlapSkip. QueueLimit bounds OverlapQueue's waiting
	// slots: default 1.
	Overlap    Overlap
	QueueLimit int
	// Missed: default MissedRunOnce. MissedGrace is how old a missed slot may
	// be and still run: default 7 days. MissedCap caps MissedAll: default 10.
	Missed      Missed
	MissedGrace time.Duration
	MissedCap   int
	// Retries is how many times a failed or interrupted run is tried again
	// (0: never). The first retry waits Backoff (default 1 min), each next
	// one twice as long, at most MaxBackoff (default 1 h).
	Retries    int
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Timeout cancels a run that takes longer (0: no limit beyond the job's
	// own Timeout).
	Timeout time.Duration
	// Jitter delays each slot by a deterministic amount in [0, Jitter),
	// derived from the schedule's ID and the slot; the slot's key (its
	// nominal time) does not change.
	Jitter time.Duration
}

func (p Policy) withDefaults() Policy {
	if p.Overlap == "" {
		p.Overlap = OverlapSkip
	}
	if p.QueueLimit <= 0 {
		p.QueueLimit = 1
	}
	if p.Missed == "" {
		p.Missed = MissedRunOnce
	}
	if p.MissedGrace <= 0 {
		p.MissedGrace = 7 * 24 * time.Hour
	}
	if p.MissedCap <= 0 {
		p.MissedCap = 10
	}
	if p.Backoff <= 0 {
		p.Backoff = time.Minute
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = time.Hour
	}
	return p
}

func (p Policy) validate() error {
	switch p.Overlap {
	case "", OverlapSkip, OverlapQueue, OverlapReplace:
	default:
		return fmt.Errorf("schedule: overlap policy %q: want skip, queue or replace", p.Overlap)
	}
	switch p.Missed {
	case "", MissedSkip, MissedRunOnce, MissedAll:
	default:
		return fmt.Errorf("schedule: missed-run policy %q: want skip, run_once or all", p.Missed)
	}
	if p.Retries < 0 || p.QueueLimit < 0 || p.MissedCap < 0 || p.Jitter < 0 || p.Timeout < 0 {
		return errors.New("schedule: policy values must not be negative")
	}
	return nil
}

// Entry is one schedule the Scheduler runs.
type Entry struct {
	// ID identifies the schedule; it is recorded as the runs' ScheduleID and
	// is part of each slot's key in the store. Required and unique.
	ID string
	// Job is what to run. Required.
	Job *backup.Job
	// Cron is the expression (see Parse) and Timezone the IANA zone it is
	// read in ("" means UTC).
	Cron     string
	Timezone string
	// Paused entries do not run until resumed.
	Paused bool
	// Source groups entries for Options.MaxPerSource ("" is no group).
	Source string
	// Policy tunes overlap, missed slots, retries, timeout and jitter.
	Policy Policy
}

// EventType names what an Event reports.
type EventType string

// The event types.
const (
	EventClaimed     EventType = "claimed"     // this replica won the slot
	EventClaimLost   EventType = "claim_lost"  // another replica holds the slot
	EventSkipped     EventType = "skipped"     // recorded as skipped (Reason says why)
	EventMissed      EventType = "missed"      // recorded as missed
	EventStarted     EventType = "started"     // the run began
	EventFinished    EventType = "finished"    // the run ended (Status, Err)
	EventLeaseLost   EventType = "lease_lost"  // the run's lease was lost: its result was refused
	EventInterrupted EventType = "interrupted" // a run whose lease expired was marked interrupted
	EventRetry       EventType = "retry"       // a retry is scheduled (Time is when)
)

// Event reports something the Scheduler did.
type Event struct {
	// Type says what happened; Time when, by the scheduler's clock (for
	// EventRetry: when the retry will run).
	Type EventType
	Time time.Time
	// ScheduleID and Job name the schedule and its job; Slot is the nominal
	// slot (zero for manual runs) and Attempt counts from 1.
	ScheduleID string
	Job        string
	Slot       time.Time
	Attempt    int
	// RunID is the stored run, when one was recorded; Status its status (for
	// EventFinished, EventLeaseLost, EventSkipped, EventMissed, EventInterrupted).
	RunID  string
	Status store.RunStatus
	// Reason explains skipped, missed, interrupted and failed runs;
	// TriggeredBy is who asked for a manual run; Err is the run's error.
	Reason      string
	TriggeredBy string
	Err         error
}

// Options configure a Scheduler. The zero value is usable.
type Options struct {
	// Owner identifies this replica in runs and leases. Default
	// "<hostname>:<pid>" (as backup.Engine's default).
	Owner string
	// Clock: default SystemClock().
	Clock Clock
	// Logger: default slog.Default().
	Logger *slog.Logger
	// MaxConcurrent limits runs at once in this replica, MaxPerSource runs
	// at once per Entry.Source (0: no limit).
	MaxConcurrent int
	MaxPerSource  int
	// Lease is the lease a claimed run gets from the store's clock; it should
	// equal the engine's. Default store.DefaultLease.
	Lease time.Duration
	// SweepInterval is how often expired leases are looked for
	// (store.InterruptExpired). Default Lease.
	SweepInterval time.Duration
	// ShutdownGrace is how long Stop waits for running backups before
	// canceling them (Stop's context may end it sooner). Default 30 s.
	ShutdownGrace time.Duration
	// Tolerance is how late a slot may be noticed and still count as on
	// time rather than missed. Default 1 min.
	Tolerance time.Duration
	// MaxSleep caps one wait, so that a wall-clock jump is noticed even when
	// the platform's timers follow the monotonic clock. Default 1 min.
	MaxSleep time.Duration
	// DefaultPolicy fills the zero fields of every Entry's Policy.
	DefaultPolicy Policy
	// OnEvent, when set, is called synchronously with every event; it must
	// be safe for concurrent use and must not block.
	OnEvent func(Event)
}

// Errors returned by the Scheduler's methods.
var (
	// ErrUnknownSchedule is matched by errors about an ID not added.
	ErrUnknownSchedule = errors.New("schedule: unknown schedule")
	// ErrBusy is returned by RunNow when the schedule is running and its
	// overlap policy is skip.
	ErrBusy = errors.New("schedule: the previous run is still running")
	// ErrStopped is returned after Stop.
	ErrStopped = errors.New("schedule: scheduler stopped")
)

var (
	errReplaced = errors.New("replaced by a newer slot (overlap policy replace)")
	errTimeout  = errors.New("run timed out (schedule policy)")
)

// Scheduler runs Entries' slots with a Runner, recording them in a store. Its
// methods are safe for concurrent use.
type Scheduler struct {
	runner Runner
	st     store.Store
	opts   Options

	mu         sync.Mutex
	cond       *sync.Cond // signaled when active changes
	entries    map[string]*entry
	heap       entryHeap
	started    bool
	stopping   bool
	active     int                       // executions in flight
	parked     map[*context.Context]bool // executions blocked in a test's runner (tests only)
	timer      Timer
	sweep      Timer
	wake       chan struct{}
	flushReq   chan chan struct{}
	quit       chan struct{}
	loopDone   chan struct{}
	global     chan struct{}
	perSource  map[string]chan struct{}
	runCtx     context.Context
	cancel     context.CancelCauseFunc
	wg         sync.WaitGroup
	graceArmed bool // Stop waits on its grace timer (for tests)
}

type entry struct {
	Entry
	cron    *Cron
	next    time.Time // next nominal slot; zero: none
	fire    time.Time // next + jitter
	index   int       // in the heap; -1 when not
	running *execution
	queue   []request
	removed bool
}

type request struct {
	slot    time.Time // zero: manual
	trigger store.Trigger
	by      string
	attempt int
}

type execution struct {
	cancel context.CancelCauseFunc
	runID  string // the claimed run, once claimed (s.mu)
}

// New returns a Scheduler that runs jobs with runner (a *backup.Engine) and
// claims slots in st. Add entries, then Start it.
func New(runner Runner, st store.Store, opts Options) *Scheduler {
	if opts.Owner == "" {
		host, _ := os.Hostname()
		opts.Owner = host + ":" + strconv.Itoa(os.Getpid())
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Lease <= 0 {
		opts.Lease = store.DefaultLease
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = opts.Lease
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = 30 * time.Second
	}
	if opts.Tolerance <= 0 {
		opts.Tolerance = time.Minute
	}
	if opts.MaxSleep <= 0 {
		opts.MaxSleep = time.Minute
	}
	s := &Scheduler{runner: runner, st: st, opts: opts, entries: map[string]*entry{},
		wake: make(chan struct{}, 1), flushReq: make(chan chan struct{}), perSource: map[string]chan struct{}{}}
	s.cond = sync.NewCond(&s.mu)
	if opts.MaxConcurrent > 0 {
		s.global = make(chan struct{}, opts.MaxConcurrent)
	}
	return s
}

func (s *Scheduler) emit(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = s.opts.Clock.Now()
	}
	if s.opts.OnEvent != nil {
		s.opts.OnEvent(ev)
	}
}

func (s *Scheduler) prepare(e Entry) (*entry, error) {
	if e.ID == "" {
		return nil, errors.New("schedule: entry without ID")
	}
	if e.Job == nil {
		return nil, fmt.Errorf("schedule %s: entry without Job", e.ID)
	}
	if err := e.Policy.validate(); err != nil {
		return nil, fmt.Errorf("schedule %s: %w", e.ID, err)
	}
	c, err := ParseInZone(e.Cron, e.Timezone)
	if err != nil {
		return nil, fmt.Errorf("schedule %s: %w", e.ID, err)
	}
	p := e.Policy
	d := s.opts.DefaultPolicy
	p.Overlap = cmp.Or(p.Overlap, d.Overlap)
	p.QueueLimit = cmp.Or(p.QueueLimit, d.QueueLimit)
	p.Missed = cmp.Or(p.Missed, d.Missed)
	p.MissedGrace = cmp.Or(p.MissedGrace, d.MissedGrace)
	p.MissedCap = cmp.Or(p.MissedCap, d.MissedCap)
	p.Retries = cmp.Or(p.Retries, d.Retries)
	p.Backoff = cmp.Or(p.Backoff, d.Backoff)
	p.MaxBackoff = cmp.Or(p.MaxBackoff, d.MaxBackoff)
	p.Timeout = cmp.Or(p.Timeout, d.Timeout)
	p.Jitter = cmp.Or(p.Jitter, d.Jitter)
	e.Policy = p.withDefaults()
	return &entry{Entry: e, cron: c, index: -1}, nil
}

// Add adds a schedule. Its first slot is the first one after now: adding
// never fires retroactively. An invalid expression, zone or policy, or a
// taken ID, is an error.
func (s *Scheduler) Add(e Entry) error {
	en, err := s.prepare(e)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[e.ID]; ok {
		return fmt.Errorf("schedule %s: %w: the ID is taken", e.ID, store.ErrConflict)
	}
	s.entries[e.ID] = en
	s.schedule(en, s.opts.Clock.Now())
	return nil
}

// Update replaces a schedule's definition. Its next slot is recomputed from
// now: slots of the new expression that passed do not fire. A run in
// progress is not disturbed.
func (s *Scheduler) Update(e Entry) error {
	en, err := s.prepare(e)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.entries[e.ID]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownSchedule, e.ID)
	}
	if old.index >= 0 {
		heap.Remove(&s.heap, old.index)
	}
	old.removed = true
	en.running, en.queue = old.running, old.queue
	s.entries[e.ID] = en
	if en.running != nil {
		en.running = &execution{cancel: old.running.cancel, runID: old.running.runID}
	}
	s.schedule(en, s.opts.Clock.Now())
	return nil
}

// Remove removes a schedule. A run in progress finishes; queued slots are
// dropped.
func (s *Scheduler) Remove(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	en, ok := s.entries[id]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownSchedule, id)
	}
	if en.index >= 0 {
		heap.Remove(&s.heap, en.index)
	}
	en.removed, en.queue = true, nil
	delete(s.entries, id)
	s.poke()
	return nil
}

// Pause stops a schedule's slots from running until Resume. A run in
// progress finishes.
func (s *Scheduler) Pause(id string) error { return s.setPaused(id, true) }

// Resume lets a paused schedule run again from its first slot after now: the
// slots that passed while it was paused do not fire (use RunNow for a
// catch-up).
func (s *Scheduler) Resume(id string) error { return s.setPaused(id, false) }

func (s *Scheduler) setPaused(id string, paused bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	en, ok := s.entries[id]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownSchedule, id)
	}
	if en.Paused == paused {
		return nil
	}
	en.Paused = paused
	s.schedule(en, s.opts.Clock.Now())
	return nil
}

// NextRun returns the schedule's next slot (nominal), zero when paused or
// when it has none.
func (s *Scheduler) NextRun(id string) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	en, ok := s.entries[id]
	if !ok {
		return time.Time{}, fmt.Errorf("%w %q", ErrUnknownSchedule, id)
	}
	if en.Paused {
		return time.Time{}, nil
	}
	return en.next, nil
}

// RunNow runs the schedule's job at once, as a manual run triggered by
// triggeredBy (a user). The overlap policy applies: with skip, a schedule
// that is running fails with ErrBusy.
func (s *Scheduler) RunNow(id, triggeredBy string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	en, ok := s.entries[id]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownSchedule, id)
	}
	if s.stopping {
		return ErrStopped
	}
	if en.running != nil && en.Policy.Overlap == OverlapSkip {
		return ErrBusy
	}
	s.submit(en, request{trigger: store.TriggerManual, by: triggeredBy, attempt: 1}, nil)
	return nil
}

// Cancel cancels the schedule's running backup, if any, on behalf of
// canceledBy; the engine records it as canceled, with the reason, and it is
// not retried. Queued slots still run. It reports whether a run was
// canceled.
func (s *Scheduler) Cancel(id, canceledBy string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	en, ok := s.entries[id]
	if !ok {
		return false, fmt.Errorf("%w %q", ErrUnknownSchedule, id)
	}
	if en.running == nil {
		return false, nil
	}
	en.running.cancel(fmt.Errorf("canceled by %s: %w", canceledBy, context.Canceled))
	return true, nil
}

// RunPauser is implemented by Runners whose running backups can be paused
// and resumed by run ID, as *backup.Engine's can (see backup.Engine.Pause).
type RunPauser interface {
	Pause(runID, who string) error
	Resume(runID, who string) error
}

var _ RunPauser = (*backup.Engine)(nil)

// ErrNotRunning is returned by PauseRun and ResumeRun when the schedule has
// no backup running (or its run is not yet claimed).
var ErrNotRunning = errors.New("schedule: no backup of the schedule is running")

// ErrPauseUnsupported is returned by PauseRun and ResumeRun when the
// Scheduler's Runner does not implement RunPauser.
var ErrPauseUnsupported = errors.New("schedule: the runner cannot pause runs")

// PauseRun pauses the schedule's running backup on behalf of pausedBy: its
// byte stream holds until ResumeRun, and the runner records the pause in the
// run's log (with backup.Engine: a pause longer than its Options.MaxPause
// cancels the run). It delegates to the Runner's RunPauser.Pause with the
// run's ID. Errors: ErrUnknownSchedule, ErrNotRunning, ErrPauseUnsupported,
// or the runner's (backup.ErrRunNotFound when the run just ended).
func (s *Scheduler) PauseRun(id, pausedBy string) error {
	p, runID, err := s.runningRun(id)
	if err != nil {
		return err
	}
	return p.Pause(runID, pausedBy)
}

// ResumeRun resumes the schedule's paused backup on behalf of resumedBy,
// delegating to the Runner's RunPauser.Resume; the runner records it in the
// run's log. Errors as for PauseRun.
func (s *Scheduler) ResumeRun(id, resumedBy string) error {
	p, runID, err := s.runningRun(id)
	if err != nil {
		return err
	}
	return p.Resume(runID, resumedBy)
}

// runningRun returns the runner as a RunPauser and the ID of schedule id's
// running run.
func (s *Scheduler) runningRun(id string) (RunPauser, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	en, ok := s.entries[id]
	if !ok {
		return nil, "", fmt.Errorf("%w %q", ErrUnknownSchedule, id)
	}
	p, ok := s.runner.(RunPauser)
	if !ok {
		return nil, "", ErrPauseUnsupported
	}
	if en.running == nil || en.running.runID == "" {
		return nil, "", fmt.Errorf("%w: %q", ErrNotRunning, id)
	}
	return p, en.running.runID, nil
}

// setRunID changes the claimed run of schedule id's execution from from to
// to ("" when none).
func (s *Scheduler) setRunID(id, from, to string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if en := s.entries[id]; en != nil && en.running != nil && en.running.runID == from {
		en.running.runID = to
	}
}

// schedule computes en's next slot after now and places it in the heap
// (s.mu held).
func (s *Scheduler) schedule(en *entry, now time.Time) {
	if en.index >= 0 {
		heap.Remove(&s.heap, en.index)
	}
	en.next, en.fire = time.Time{}, time.Time{}
	if en.Paused || en.removed {
		s.poke()
		return
	}
	s.setNext(en, en.cron.Next(now))
	s.poke()
}

func (s *Scheduler) setNext(en *entry, next time.Time) {
	en.next, en.fire = next, next
	if next.IsZero() {
		return
	}
	en.fire = next.Add(jitter(en.ID, next, en.Policy.Jitter))
	heap.Push(&s.heap, en)
}

// jitter is the deterministic delay of a slot.
func jitter(id string, slot time.Time, max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	h.Write([]byte(slot.UTC().Format(time.RFC3339Nano)))
	return time.Duration(h.Sum64() % uint64(max))
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Start begins running slots. For each entry it looks up the last slot
// recorded in the store for its ID: slots after it that passed while no
// scheduler ran are handled by the missed-run policy; an entry without
// history starts at its first slot after now. Start returns once the
// scheduler runs; ctx only bounds the store look-ups.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("schedule: already started")
	}
	s.started = true
	ids := make([]*entry, 0, len(s.entries))
	for _, en := range s.entries {
		ids = append(ids, en)
	}
	s.mu.Unlock()
	last := map[*entry]time.Time{}
	for _, en := range ids {
		runs, err := s.st.ListRuns(ctx, store.RunFilter{Job: en.Job.Name, ScheduleID: en.ID, Limit: 20})
		if err != nil {
			return fmt.Errorf("schedule %s: last run: %w", en.ID, err)
		}
		for _, r := range runs {
			if r.ScheduleID == en.ID && !r.Slot.IsZero() && r.Slot.After(last[en]) {
				last[en] = r.Slot
			}
		}
	}
	s.mu.Lock()
	now := s.opts.Clock.Now()
	for en, l := range last {
		if l.IsZero() || en.Paused || en.removed || !l.Before(now) {
			continue
		}
		if en.index >= 0 {
			heap.Remove(&s.heap, en.index)
		}
		s.setNext(en, en.cron.Next(l)) // the first tick sees the missed slots
	}
	s.runCtx, s.cancel = context.WithCancelCause(context.Background())
	s.quit, s.loopDone = make(chan struct{}), make(chan struct{})
	s.poke()
	s.armSweep()
	s.mu.Unlock()
	go s.loop()
	return nil
}

func (s *Scheduler) armSweep() {
	s.sweep = s.opts.Clock.AfterFunc(s.opts.SweepInterval, func() {
		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			return
		}
		s.active++
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.done()
			s.sweepExpired()
			s.mu.Lock()
			if !s.stopping {
				s.armSweep()
			}
			s.mu.Unlock()
		}()
	})
}

func (s *Scheduler) done() {
	s.mu.Lock()
	s.active--
	s.cond.Broadcast()
	s.mu.Unlock()
	s.wg.Done()
}

// sweepExpired marks runs whose lease expired as interrupted and retries
// those of this scheduler's entries whose policy says so.
func (s *Scheduler) sweepExpired() {
	runs, err := s.st.InterruptExpired(s.runCtx)
	if err != nil {
		s.opts.Logger.Warn("schedule: cannot interrupt expired runs", "err", err)
		return
	}
	for _, r := range runs {
		s.emit(Event{Type: EventInterrupted, ScheduleID: r.ScheduleID, Job: r.Job, Slot: r.Slot, Attempt: r.Attempt,
			RunID: r.ID, Status: store.RunInterrupted, Reason: "lease expired (owner " + r.Owner + ")"})
		s.opts.Logger.Warn("run interrupted: its lease expired", "job", r.Job, "run", r.ID, "owner", r.Owner)
		s.mu.Lock()
		en, ok := s.entries[r.ScheduleID]
		if ok && r.ScheduleID != "" && en.Job.Name == r.Job && r.Attempt <= en.Policy.Retries && !s.stopping {
			// A retry is owed: it waits for the current run, whatever the
			// overlap policy.
			req := request{slot: r.Slot, trigger: store.TriggerRetry, by: "scheduler", attempt: r.Attempt + 1}
			if en.running == nil {
				s.start(en, req)
			} else {
				en.queue = append(en.queue, req)
			}
		}
		s.mu.Unlock()
	}
}

// loop waits for the earliest slot or a change, and runs what is due.
func (s *Scheduler) loop() {
	defer close(s.loopDone)
	for {
		select {
		case <-s.quit:
			return
		case <-s.wake:
			s.tick()
		case ack := <-s.flushReq:
			s.tick()
			close(ack)
		}
	}
}

// record is a skipped or missed slot to write to the store.
type record struct {
	en     *entry
	slot   time.Time
	status store.RunStatus
	reason string
}

// tick runs the due slots and re-arms the timer.
func (s *Scheduler) tick() {
	var recs []record
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return
	}
	now := s.opts.Clock.Now()
	for len(s.heap) > 0 && !s.heap[0].fire.After(now) {
		en := heap.Pop(&s.heap).(*entry)
		recs = s.due(en, now, recs)
	}
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if len(s.heap) > 0 {
		d := min(s.heap[0].fire.Sub(now), s.opts.MaxSleep)
		s.timer = s.opts.Clock.AfterFunc(d, s.poke)
	}
	s.mu.Unlock()
	for _, r := range recs {
		s.record(r)
	}
}

// maxDue bounds the slots looked at in one tick for one entry.
const maxDue = 100000

// due handles en's slots that came due by now (s.mu held) and schedules
// its next one.
func (s *Scheduler) due(en *entry, now time.Time, recs []record) []record {
	var onTime time.Time
	var missed []time.Time
	n := 0
	sl := en.next
	for ; !sl.IsZero() && !sl.Add(jitter(en.ID, sl, en.Policy.Jitter)).After(now); sl = en.cron.Next(sl) {
		if now.Sub(sl.Add(jitter(en.ID, sl, en.Policy.Jitter))) <= s.opts.Tolerance {
			onTime = sl
		} else if len(missed) < maxDue {
			missed = append(missed, sl)
		}
		if n++; n >= maxDue {
			sl = en.cron.Next(now.Add(-s.opts.Tolerance))
			break
		}
	}
	p := en.Policy
	var run []time.Time
	if len(missed) > 0 {
		var eligible []time.Time
		for _, m := range missed {
			if now.Sub(m) <= p.MissedGrace {
				eligible = append(eligible, m)
			}
		}
		switch p.Missed {
		case MissedRunOnce:
			if onTime.IsZero() && len(eligible) > 0 {
				run = eligible[len(eligible)-1:]
			}
		case MissedAll:
			run = eligible[max(0, len(eligible)-p.MissedCap):]
		}
		ran := map[time.Time]bool{}
		for _, r := range run {
			ran[r] = true
		}
		const maxRecords = 100
		var skipped []time.Time
		for _, m := range missed {
			if !ran[m] {
				skipped = append(skipped, m)
			}
		}
		for _, m := range skipped[max(0, len(skipped)-maxRecords):] {
			recs = append(recs, record{en: en, slot: m, status: store.RunMissed, reason: fmt.Sprintf("missed: %s late (missed-run policy %s)", now.Sub(m).Round(time.Second), p.Missed)})
		}
	}
	// Catch-ups run one after the other whatever the overlap policy.
	for _, r := range run {
		req := request{slot: r, trigger: store.TriggerSchedule, by: "scheduler", attempt: 1}
		if en.running == nil {
			s.start(en, req)
		} else {
			en.queue = append(en.queue, req)
		}
	}
	if !onTime.IsZero() {
		recs = s.submit(en, request{slot: onTime, trigger: store.TriggerSchedule, by: "scheduler", attempt: 1}, recs)
	}
	if !en.removed && !en.Paused {
		s.setNext(en, sl)
	}
	return recs
}

// submit runs req for en now, or applies the overlap policy (s.mu held).
// Skip records are appended to recs, or written in the background when recs
// is nil.
func (s *Scheduler) submit(en *entry, req request, recs []record) []record {
	skip := func(reason string) {
		if req.slot.IsZero() {
			s.emit(Event{Type: EventSkipped, ScheduleID: en.ID, Job: en.Job.Name, Reason: reason, TriggeredBy: req.by})
			return
		}
		r := record{en: en, slot: req.slot, status: store.RunSkipped, reason: reason}
		if recs != nil || req.trigger == store.TriggerSchedule {
			recs = append(recs, r)
			return
		}
		s.active++
		s.wg.Add(1)
		go func() { defer s.done(); s.record(r) }()
	}
	if en.running == nil {
		s.start(en, req)
		return recs
	}
	switch en.Policy.Overlap {
	case OverlapQueue:
		if len(en.queue) >= en.Policy.QueueLimit {
			skip(fmt.Sprintf("overlap: the previous run is still running and %d slot(s) already wait (overlap policy queue)", len(en.queue)))
			break
		}
		en.queue = append(en.queue, req)
	case OverlapReplace:
		en.queue = []request{req}
		en.running.cancel(errReplaced)
	default:
		skip("overlap: the previous run is still running (overlap policy skip)")
	}
	return recs
}

// storeRetryBase is the first wait before a claim or record that failed
// with a store error is tried again; each next wait doubles, at most
// Options.MaxSleep.
const storeRetryBase = time.Second

// record writes a skipped or missed slot (never under s.mu). When the store
// cannot be reached it keeps trying in the background, with backoff, until
// the store answers or the scheduler is stopped: the slot's key makes the
// write exactly-once across replicas (ClaimRun).
func (s *Scheduler) record(r record) {
	err := s.tryRecord(r)
	if err == nil {
		return
	}
	s.opts.Logger.Warn("schedule: cannot record slot; retrying in the background", "job", r.en.Job.Name, "slot", r.slot.UTC(), "status", r.status, "err", err)
	s.mu.Lock()
	s.active++
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.done()
		for wait := storeRetryBase; ; wait = min(2*wait, s.opts.MaxSleep) {
			if !s.sleep(s.runCtx, wait) {
				s.opts.Logger.Error("schedule: slot not recorded: the scheduler stopped while the store was unreachable", "job", r.en.Job.Name, "slot", r.slot.UTC(), "status", r.status)
				return
			}
			if s.tryRecord(r) == nil {
				return
			}
		}
	}()
}

// tryRecord writes r once; it returns the store's error.
func (s *Scheduler) tryRecord(r record) error {
	now := s.opts.Clock.Now().UTC()
	run := store.Run{Job: r.en.Job.Name, ScheduleID: r.en.ID, Slot: r.slot.UTC(), Trigger: store.TriggerSchedule,
		TriggeredBy: "scheduler", Status: r.status, Reason: r.reason, Owner: s.opts.Owner, Attempt: 1,
		StartedAt: now, FinishedAt: now}
	ok, err := s.st.ClaimRun(context.WithoutCancel(s.runCtx), &run)
	switch {
	case err != nil:
		return err
	case !ok:
		s.emit(Event{Type: EventClaimLost, ScheduleID: r.en.ID, Job: run.Job, Slot: run.Slot, Attempt: 1})
		return nil
	}
	typ := EventSkipped
	if r.status == store.RunMissed {
		typ = EventMissed
	}
	s.opts.Logger.Warn("slot "+string(r.status), "job", run.Job, "slot", run.Slot.Format(time.RFC3339), "reason", r.reason)
	s.emit(Event{Type: typ, ScheduleID: r.en.ID, Job: run.Job, Slot: run.Slot, Attempt: 1, RunID: run.ID, Status: r.status, Reason: r.reason})
	return nil
}

// start begins an execution of req (s.mu held).
func (s *Scheduler) start(en *entry, req request) {
	ctx, cancel := context.WithCancelCause(s.runCtx)
	en.running = &execution{cancel: cancel}
	s.active++
	s.wg.Add(1)
	go func() {
		defer s.done()
		final := s.execute(ctx, en, req)
		cancel(nil)
		s.mu.Lock()
		cur := s.entries[en.ID]
		if cur == nil {
			cur = en
		}
		cur.running = nil
		if len(cur.queue) > 0 && !s.stopping && !cur.removed {
			next := cur.queue[0]
			cur.queue = cur.queue[1:]
			s.start(cur, next)
		}
		s.mu.Unlock()
		// The entry is free before its last event is seen: a listener that
		// reacts with RunNow (or a slot due now) is not refused as busy.
		if final != nil {
			s.emit(*final)
		}
	}()
}

// acquire takes the concurrency slots for en, or fails when ctx ends.
func (s *Scheduler) acquire(ctx context.Context, en *entry) (release func(), err error) {
	var held []chan struct{}
	release = func() {
		for _, c := range held {
			<-c
		}
	}
	sems := []chan struct{}{s.global}
	if s.opts.MaxPerSource > 0 && en.Source != "" {
		s.mu.Lock()
		c, ok := s.perSource[en.Source]
		if !ok {
			c = make(chan struct{}, s.opts.MaxPerSource)
			s.perSource[en.Source] = c
		}
		s.mu.Unlock()
		sems = append(sems, c)
	}
	for _, c := range sems {
		if c == nil {
			continue
		}
		select {
		case c <- struct{}{}:
			held = append(held, c)
		case <-ctx.Done():
			release()
			return nil, context.Cause(ctx)
		}
	}
	return release, nil
}

// execute claims req's slot and runs it, with retries. It returns the last
// attempt's final event (EventFinished or EventLeaseLost), if any, for the
// caller to emit once the entry is free.
func (s *Scheduler) execute(ctx context.Context, en *entry, req request) *Event {
	for {
		status, retryable, final := s.attempt(ctx, en, req)
		if !retryable || req.attempt > en.Policy.Retries || ctx.Err() != nil {
			return final
		}
		if final != nil {
			s.emit(*final)
		}
		wait := en.Policy.Backoff << (req.attempt - 1)
		if wait > en.Policy.MaxBackoff || wait <= 0 {
			wait = en.Policy.MaxBackoff
		}
		s.emit(Event{Type: EventRetry, Time: s.opts.Clock.Now().Add(wait), ScheduleID: en.ID, Job: en.Job.Name,
			Slot: req.slot, Attempt: req.attempt + 1, Status: status})
		if !s.sleep(ctx, wait) {
			return nil
		}
		req.attempt++
		req.trigger = store.TriggerRetry
	}
}

// sleep waits d on the clock, or until ctx ends (then it reports false).
// The wait counts as idle (see park) from when the timer is set until it
// fires.
func (s *Scheduler) sleep(ctx context.Context, d time.Duration) bool {
	fired := make(chan struct{})
	var mu sync.Mutex
	var idle func()
	done := false
	unpark := func() {
		mu.Lock()
		defer mu.Unlock()
		done = true
		if idle != nil {
			idle()
			idle = nil
		}
	}
	t := s.opts.Clock.AfterFunc(d, func() { unpark(); close(fired) })
	mu.Lock()
	if !done {
		idle = s.park(ctx)
	}
	mu.Unlock()
	select {
	case <-fired:
		return true
	case <-ctx.Done():
		unpark()
		t.Stop()
		return false
	}
}

// claimRetry tries again, with backoff, to claim the scheduled slot run
// whose claim failed with the store error err, for as long as the slot may
// still run: until slot + jitter + MissedGrace (missed-run policy run_once
// or all) or + Options.Tolerance (skip). It returns whether run was claimed,
// or the last error when the window passed or ctx ended.
func (s *Scheduler) claimRetry(ctx context.Context, en *entry, run *store.Run, err error) (bool, error) {
	window := s.opts.Tolerance
	if en.Policy.Missed != MissedSkip {
		window = max(window, en.Policy.MissedGrace)
	}
	deadline := run.Slot.Add(jitter(en.ID, run.Slot, en.Policy.Jitter) + window)
	tmpl := *run
	for wait := storeRetryBase; ; wait = min(2*wait, s.opts.MaxSleep) {
		now := s.opts.Clock.Now()
		if !now.Before(deadline) {
			return false, err
		}
		s.opts.Logger.Warn("schedule: cannot claim slot; retrying", "job", run.Job, "slot", run.Slot, "err", err)
		if !s.sleep(ctx, min(wait, deadline.Sub(now))) {
			return false, context.Cause(ctx)
		}
		*run = tmpl
		run.StartedAt = s.opts.Clock.Now().UTC()
		var ok bool
		if ok, err = s.st.ClaimRun(context.WithoutCancel(ctx), run); err == nil {
			return ok, nil
		}
	}
}

// attempt claims and runs one attempt. It reports the run's status, whether
// a retry may follow, and its final event, not yet emitted.
func (s *Scheduler) attempt(ctx context.Context, en *entry, req request) (store.RunStatus, bool, *Event) {
	release, err := s.acquire(ctx, en)
	if err != nil {
		return "", false, nil
	}
	defer release()
	if req.trigger == store.TriggerSchedule && !req.slot.IsZero() && en.Policy.Overlap == OverlapSkip {
		// Another replica may still run the previous slot.
		running, err := s.st.ListRuns(ctx, store.RunFilter{Job: en.Job.Name, ScheduleID: en.ID, Status: store.RunRunning, Limit: 1})
		if err == nil && len(running) > 0 && running[0].ScheduleID == en.ID && running[0].Slot.Before(req.slot) {
			s.record(record{en: en, slot: req.slot, status: store.RunSkipped,
				reason: "overlap: the previous run is still running on " + running[0].Owner + " (overlap policy skip)"})
			return "", false, nil
		}
	}
	now := s.opts.Clock.Now().UTC()
	run := store.Run{Job: en.Job.Name, ScheduleID: en.ID, Slot: req.slot.UTC(), Trigger: req.trigger, TriggeredBy: req.by,
		Status: store.RunRunning, Owner: s.opts.Owner, Attempt: req.attempt, StartedAt: now}
	if req.slot.IsZero() {
		run.Slot = time.Time{}
	}
	ev := Event{ScheduleID: en.ID, Job: en.Job.Name, Slot: run.Slot, Attempt: req.attempt, TriggeredBy: req.by}
	ok, err := s.st.ClaimRun(context.WithoutCancel(ctx), &run)
	if err != nil && req.trigger == store.TriggerSchedule && req.attempt == 1 && !req.slot.IsZero() {
		// The store is unreachable: the slot is not lost. Keep trying while
		// it may still run; then record it as missed (in the background
		// until the store answers).
		if ok, err = s.claimRetry(ctx, en, &run, err); err != nil {
			s.opts.Logger.Error("schedule: cannot claim slot: recording it as missed", "job", run.Job, "slot", run.Slot, "err", err)
			s.record(record{en: en, slot: req.slot, status: store.RunMissed,
				reason: "missed: the store was unreachable while the slot could run"})
			return "", false, nil
		}
	}
	if err != nil {
		s.opts.Logger.Error("schedule: cannot claim slot", "job", run.Job, "slot", run.Slot, "err", err)
		ev.Type, ev.Err = EventFinished, err
		return store.RunFailed, false, &ev
	}
	if !ok {
		ev.Type = EventClaimLost
		s.emit(ev)
		return "", false, nil
	}
	ev.RunID = run.ID
	ev.Type = EventClaimed
	s.emit(ev)
	s.setRunID(en.ID, "", run.ID)
	defer s.setRunID(en.ID, run.ID, "")
	if s.opts.Lease != store.DefaultLease {
		if err := s.st.RenewLease(context.WithoutCancel(ctx), run.ID, run.Owner, s.opts.Lease); err != nil {
			s.opts.Logger.Warn("schedule: cannot set the lease", "run", run.ID, "err", err)
		}
	}
	runCtx := ctx
	if en.Policy.Timeout > 0 {
		var cancel context.CancelCauseFunc
		runCtx, cancel = context.WithCancelCause(ctx)
		t := s.opts.Clock.AfterFunc(en.Policy.Timeout, func() { cancel(errTimeout) })
		defer t.Stop()
		defer cancel(nil)
	}
	ev.Type = EventStarted
	s.emit(ev)
	res, err := s.runner.Run(runCtx, en.Job, backup.RunOptions{Claimed: &run})
	status := store.RunFailed
	if res != nil {
		status = res.Run.Status
	} else if err != nil {
		// Not run at all (an invalid job): finish the claimed run.
		run.Status, run.Reason, run.FinishedAt = store.RunFailed, err.Error(), s.opts.Clock.Now().UTC()
		if uerr := s.st.UpdateRun(context.WithoutCancel(ctx), &run); uerr != nil {
			s.opts.Logger.Error("schedule: cannot record the failed run", "run", run.ID, "err", uerr)
		}
	}
	if errors.Is(err, store.ErrConflict) {
		ev.Type, ev.Err, ev.Status = EventLeaseLost, err, status
		s.opts.Logger.Error("schedule: the run's lease was lost; its result was refused", "job", run.Job, "run", run.ID)
		return status, false, &ev
	}
	ev.Type, ev.Err, ev.Status = EventFinished, err, status
	if res != nil {
		ev.Reason = res.Run.Reason
	}
	cause := context.Cause(runCtx)
	userStop := errors.Is(cause, errReplaced) || errors.Is(cause, backup.ErrInterrupted) || errors.Is(cause, context.Canceled)
	return status, !userStop && (status == store.RunFailed || status == store.RunInterrupted), &ev
}

// Stop stops claiming slots, waits for running backups up to
// Options.ShutdownGrace or until ctx ends, then cancels them (they are
// recorded as interrupted, see backup.ErrInterrupted) and waits for them to
// finish recording. Queued slots are dropped.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.started || s.stopping {
		s.mu.Unlock()
		return nil
	}
	s.stopping = true
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.sweep != nil {
		s.sweep.Stop()
	}
	for _, en := range s.entries {
		en.queue = nil
	}
	close(s.quit)
	s.mu.Unlock()
	<-s.loopDone

	finished := make(chan struct{})
	go func() { s.wg.Wait(); close(finished) }()
	grace := make(chan struct{})
	t := s.opts.Clock.AfterFunc(s.opts.ShutdownGrace, func() { close(grace) })
	defer t.Stop()
	s.mu.Lock()
	s.graceArmed = true
	s.mu.Unlock()
	select {
	case <-finished:
		return nil
	case <-grace:
	case <-ctx.Done():
	}
	s.opts.Logger.Warn("schedule: grace period over: interrupting running backups")
	s.cancel(backup.ErrInterrupted)
	<-finished
	return nil
}

// flush runs one tick in the loop and returns after it (for tests).
func (s *Scheduler) flush() {
	ack := make(chan struct{})
	select {
	case s.flushReq <- ack:
		<-ack
	case <-s.loopDone:
	}
}

// quiesce flushes and waits until no execution is in flight, except those
// parked (for tests).
func (s *Scheduler) quiesce() {
	s.flush()
	s.mu.Lock()
	for s.active > s.parkedLive() {
		s.cond.Wait()
	}
	s.mu.Unlock()
}

func (s *Scheduler) parkedLive() int {
	n := 0
	for ctx := range s.parked {
		if (*ctx).Err() == nil {
			n++
		}
	}
	return n
}

// park counts an execution whose run context is ctx as idle (waiting on the
// clock for a retry, or blocked on purpose in a test's runner) until unpark
// is called, for quiesce. A parked execution whose ctx ends counts as busy
// again.
func (s *Scheduler) park(ctx context.Context) (unpark func()) {
	s.mu.Lock()
	if s.parked == nil {
		s.parked = map[*context.Context]bool{}
	}
	key := &ctx
	s.parked[key] = true
	s.cond.Broadcast()
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.parked, key)
		s.cond.Broadcast()
		s.mu.Unlock()
	}
}

// entryHeap orders entries by their next fire time.
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].fire.Before(h[j].fire) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*h = old[:len(old)-1]
	return e
}
