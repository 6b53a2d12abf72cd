package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Target is a notifier with the events it gets.
type Target struct {
	// Name identifies the notifier in log lines; default "notifier-<index>".
	// Never put a URL with secrets here.
	Name string
	// Notifier delivers the events. Required.
	Notifier Notifier
	// Events are the event types it gets; nil or empty means DefaultEvents.
	Events []EventType
}

// DispatcherOptions configure a Dispatcher. The zero value is usable.
type DispatcherOptions struct {
	// Logger receives drops, retries and give-ups. Default slog.Default().
	Logger *slog.Logger
	// LinkTemplate builds Event.Link for events without one (see ExpandLink),
	// such as "https://backupd.example/runs/{run}". Empty: no links.
	LinkTemplate string
	// QueueSize bounds each notifier's queue of undelivered events. When it
	// is full, a progress event is dropped first (the new one or a queued
	// one), else the oldest queued event; every drop is logged. Default 100.
	QueueSize int
	// Timeout bounds one delivery attempt. A notifier still busy after it is
	// abandoned (the attempt counts as failed). Default 30s.
	Timeout time.Duration
	// MaxAttempts is how often delivery of one event to one notifier is tried
	// before it is given up (and logged). Default 5.
	MaxAttempts int
	// Backoff is the wait after the n-th failed attempt (n from 1). Default
	// DefaultBackoff.
	Backoff func(n int) time.Duration
	// Sleep waits d or until ctx ends (then it returns ctx's error); for
	// tests. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Secrets are strings masked wherever they appear in events and logged
	// errors, in addition to what Redact masks (URL passwords, secret query
	// parameters, "password=..." values).
	Secrets []string
}

// DefaultBackoff waits 1s after the first failure and doubles the wait after
// each further failure, up to 5 minutes.
func DefaultBackoff(n int) time.Duration {
	d := time.Second
	for i := 1; i < n && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// Dispatcher routes published events to notifiers. Publish never blocks on a
// notifier and never fails: each notifier has a bounded queue and its own
// goroutine, which delivers with a per-attempt timeout and retries with
// backoff. Health events are deduplicated per job: HealthUnhealthy passes
// only when the job was not already unhealthy, HealthRecovered only when it
// was. A Dispatcher is safe for concurrent use.
type Dispatcher struct {
	opts    DispatcherOptions
	log     *slog.Logger
	workers []*worker
	ctx     context.Context // canceled when Close gives up waiting
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	unhealthy map[string]bool // job -> last health event passed was unhealthy
}

// NewDispatcher starts a Dispatcher delivering to targets. A nil opts means
// the defaults. Targets without a Notifier are ignored. Call Close to flush
// and stop it.
func NewDispatcher(targets []Target, opts *DispatcherOptions) *Dispatcher {
	var o DispatcherOptions
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 100
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	d := &Dispatcher{opts: o, log: o.Logger, unhealthy: map[string]bool{}}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for i, t := range targets {
		if t.Notifier == nil {
			continue
		}
		if t.Name == "" {
			t.Name = "notifier-" + strconv.Itoa(i)
		}
		evs := t.Events
		if len(evs) == 0 {
			evs = DefaultEvents
		}
		w := &worker{d: d, t: t, wake: make(chan struct{}, 1), events: map[EventType]bool{}}
		for _, ev := range evs {
			w.events[ev] = true
		}
		d.workers = append(d.workers, w)
		d.wg.Go(w.run)
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Publish queues e for every notifier that wants its type and returns at
// once. It fills e.Link from the LinkTemplate when empty and redacts e (see
// Event.Redacted). After Close it drops e. Its signature fits
// backup.Engine.Subscribe.
func (d *Dispatcher) Publish(e Event) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	switch e.Type {
	case HealthUnhealthy:
		if d.unhealthy[e.Job] {
			d.mu.Unlock()
			return
		}
		d.unhealthy[e.Job] = true
	case HealthRecovered:
		if !d.unhealthy[e.Job] {
			d.mu.Unlock()
			return
		}
		delete(d.unhealthy, e.Job)
	}
	d.mu.Unlock()
	if e.Link == "" {
		e.Link = ExpandLink(d.opts.LinkTemplate, e)
	}
	e = e.Redacted(d.opts.Secrets...)
	for _, w := range d.workers {
		if w.events[e.Type] {
			w.enqueue(e)
		}
	}
}

// Close stops accepting events and waits until every queued event was
// delivered or given up, or until ctx ends: then it abandons what is left
// (logging it) and returns ctx's error. Close is idempotent.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	for _, w := range d.workers {
		w.mu.Lock()
		w.closing = true
		w.mu.Unlock()
		w.signal()
	}
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		d.cancel()
		<-done
		return fmt.Errorf("notify: close: undelivered events abandoned: %w", ctx.Err())
	}
}

// worker delivers one target's events in order.
type worker struct {
	d      *Dispatcher
	t      Target
	events map[EventType]bool
	wake   chan struct{}

	mu      sync.Mutex
	queue   []Event
	closing bool
}

func (w *worker) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) enqueue(e Event) {
	w.mu.Lock()
	var dropped *Event
	if len(w.queue) >= w.d.opts.QueueSize {
		i := slices.IndexFunc(w.queue, func(q Event) bool { return q.Type == RunProgress })
		switch {
		case e.Type == RunProgress:
			w.mu.Unlock()
			w.d.log.Debug("notification queue full: progress event dropped", "notifier", w.t.Name, "job", e.Job)
			return
		case i < 0:
			i = 0
		}
		q := w.queue[i]
		dropped = &q
		w.queue = slices.Delete(w.queue, i, i+1)
	}
	w.queue = append(w.queue, e)
	w.mu.Unlock()
	w.signal()
	if dropped != nil {
		w.d.log.Warn("notification queue full: event dropped", "notifier", w.t.Name,
			"event", string(dropped.Type), "job", dropped.Job, "run", dropped.RunID)
	}
}

func (w *worker) run() {
	for {
		w.mu.Lock()
		for len(w.queue) == 0 {
			if w.closing {
				w.mu.Unlock()
				return
			}
			w.mu.Unlock()
			select {
			case <-w.wake:
			case <-w.d.ctx.Done():
				return
			}
			w.mu.Lock()
		}
		e := w.queue[0]
		w.queue = w.queue[1:]
		w.mu.Unlock()
		if w.d.ctx.Err() != nil {
			w.d.log.Warn("notification abandoned at close", "notifier", w.t.Name, "event", string(e.Type), "job", e.Job)
			continue
		}
		w.deliver(e)
	}
}

// deliver tries e up to MaxAttempts times.
func (w *worker) deliver(e Event) {
	o := w.d.opts
	for n := 1; ; n++ {
		err := w.attempt(e)
		if err == nil {
			return
		}
		if w.d.ctx.Err() != nil {
			w.d.log.Warn("notification abandoned at close", "notifier", w.t.Name, "event", string(e.Type), "job", e.Job)
			return
		}
		msg := Redact(err.Error(), o.Secrets...)
		args := []any{"notifier", w.t.Name, "event", string(e.Type), "job", e.Job, "run", e.RunID, "attempt", n, "err", msg}
		if n >= o.MaxAttempts {
			w.d.log.Error("notification not delivered: giving up", args...)
			return
		}
		wait := o.Backoff(n)
		w.d.log.Warn("notification failed: retrying", append(args, "retry_in", wait)...)
		if o.Sleep(w.d.ctx, wait) != nil {
			w.d.log.Warn("notification abandoned at close", "notifier", w.t.Name, "event", string(e.Type), "job", e.Job)
			return
		}
	}
}

var errTimeout = errors.New("notifier did not answer in time")

// attempt runs one Notify with the timeout; a notifier that ignores its
// context is abandoned when the timeout passes.
func (w *worker) attempt(e Event) error {
	ctx, cancel := context.WithTimeoutCause(w.d.ctx, w.d.opts.Timeout, fmt.Errorf("%w (%s)", errTimeout, w.d.opts.Timeout))
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("notifier panicked: %v", r)
			}
		}()
		done <- w.t.Notifier.Notify(ctx, e)
	}()
	select {
	case err := <-done:
		if err != nil && ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return err
	case <-ctx.Done():
		select {
		case err := <-done: // answered just in time
			if err == nil {
				return nil
			}
		default:
		}
		return context.Cause(ctx)
	}
}

// Channel returns a callback for backup.Engine.Subscribe (or
// Dispatcher-like fan-in) that sends every event to the returned channel,
// which holds up to buffer events. The callback never blocks: when the
// channel is full the event is dropped. Call stop, after unsubscribing the
// callback, to close the channel.
func Channel(buffer int) (fn func(Event), ch <-chan Event, stop func()) {
	c := make(chan Event, max(buffer, 0))
	var mu sync.RWMutex
	closed := false
	fn = func(e Event) {
		mu.RLock()
		defer mu.RUnlock()
		if closed {
			return
		}
		select {
		case c <- e:
		default:
		}
	}
	stop = func() {
		mu.Lock()
		defer mu.Unlock()
		if !closed {
			closed = true
			close(c)
		}
	}
	return fn, c, stop
}
