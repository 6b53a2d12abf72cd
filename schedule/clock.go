package schedule

import (
	"sort"
	"sync"
	"time"
)

// Clock is the scheduler's source of time. The Scheduler reads the wall
// clock with Now and waits with AfterFunc only; tests inject a FakeClock.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f (in its own goroutine or synchronously, but never
	// with a lock of the caller held) once d has passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not happened; it reports whether it
	// did prevent it.
	Stop() bool
}

type systemClock struct{}

func (systemClock) Now() time.Time                            { return time.Now() }
func (systemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// SystemClock returns the real clock (time.Now and time.AfterFunc).
func SystemClock() Clock { return systemClock{} }

// FakeClock is a Clock that only moves when told to, for tests: Set and
// Advance call the functions of every timer that has come due, synchronously,
// in due order. Its zero value is not usable; use NewFakeClock. It is safe for
// concurrent use.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers map[int]*fakeTimer
}

type fakeTimer struct {
	c   *FakeClock
	id  int
	at  time.Time
	f   func()
	seq int
}

// NewFakeClock returns a FakeClock reading t.
func NewFakeClock(t time.Time) *FakeClock {
	return &FakeClock{now: t, timers: map[int]*fakeTimer{}}
}

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc registers f to be called when the clock reaches Now()+d (at once,
// on the next Set or Advance, when d <= 0).
func (c *FakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, id: c.seq, at: c.now.Add(d), f: f, seq: c.seq}
	c.timers[t.id] = t
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, ok := t.c.timers[t.id]
	delete(t.c.timers, t.id)
	return ok
}

// Advance moves the clock forward by d and fires the timers that came due.
func (c *FakeClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Set moves the clock to t, forward or back (a clock jump), and fires the
// timers due at t. Timers keep their deadline in clock time: after a jump
// back they fire when the clock reaches it again.
func (c *FakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	var due []*fakeTimer
	for id, tm := range c.timers {
		if !tm.at.After(t) {
			due = append(due, tm)
			delete(c.timers, id)
		}
	}
	c.mu.Unlock()
	sort.Slice(due, func(i, j int) bool {
		if !due[i].at.Equal(due[j].at) {
			return due[i].at.Before(due[j].at)
		}
		return due[i].seq < due[j].seq
	})
	for _, tm := range due {
		tm.f()
	}
}

// Pending returns how many timers are waiting.
func (c *FakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}
