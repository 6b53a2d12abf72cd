package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// DefaultMaxPause is how long a run may stay paused when Options.MaxPause is
// zero.
const DefaultMaxPause = time.Hour

var (
	// ErrRunNotFound is wrapped by the errors of Pause and Resume for a run
	// ID that is not running in this engine (never started here, not yet
	// started or already finished).
	ErrRunNotFound = errors.New("backup: no such run is running in this engine")
	// ErrPausedTooLong is wrapped by the cause of a run canceled because it
	// stayed paused longer than its maximum (Options.MaxPause); the cause
	// also wraps context.Canceled, so the run is recorded as canceled.
	// Resume of such a run returns an error wrapping it.
	ErrPausedTooLong = errors.New("backup: paused longer than the maximum")
)

// control is how Pause, Resume and the pipeline's gate reach a running run.
type control struct {
	e        *Engine
	runID    string
	ctx      context.Context // the run's context
	cancel   context.CancelCauseFunc
	log      runLog
	maxPause time.Duration

	mu       sync.Mutex
	resume   chan struct{} // non-nil while paused; closed by Resume
	pausedAt time.Time
	pausedBy string
	timer    *time.Timer // cancels the run at the end of the allowed pause
	expired  bool        // the timer fired
}

// register makes the run reachable by Pause and Resume until the returned
// function is called.
func (e *Engine) register(runID string, ctx context.Context, cancel context.CancelCauseFunc, log runLog) (*control, func()) {
	c := &control{e: e, runID: runID, ctx: ctx, cancel: cancel, log: log, maxPause: e.opts.MaxPause}
	e.mu.Lock()
	if e.runs == nil {
		e.runs = map[string]*control{}
	}
	e.runs[runID] = c
	e.mu.Unlock()
	return c, func() {
		e.mu.Lock()
		delete(e.runs, runID)
		e.mu.Unlock()
		c.mu.Lock()
		if c.timer != nil {
			c.timer.Stop()
		}
		c.mu.Unlock()
	}
}

func (e *Engine) control(runID string) (*control, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.runs[runID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrRunNotFound, runID)
	}
	return c, nil
}

// Pause holds the byte stream of the running run runID on behalf of who (a
// user or component, recorded in the run's log as "run paused"): from the
// source's next write on, no byte reaches the compressor, the encryption or
// the destinations until Resume; a write already past the gate completes.
// The run's lease keeps being renewed and its timeouts keep running. If the
// run stays paused longer than Options.MaxPause it is canceled: its cause
// wraps ErrPausedTooLong and context.Canceled, and it is recorded as
// canceled. Pausing a paused run changes nothing and returns nil. A run ID
// that is not running in this engine gives an error wrapping
// ErrRunNotFound.
func (e *Engine) Pause(runID, who string) error {
	c, err := e.control(runID)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.resume != nil {
		return nil
	}
	if c.ctx.Err() != nil {
		return fmt.Errorf("%w: %q is ending", ErrRunNotFound, runID)
	}
	c.resume = make(chan struct{})
	c.pausedAt, c.pausedBy, c.expired = e.opts.Now(), who, false
	maxPause := c.maxPause
	c.timer = time.AfterFunc(maxPause, func() {
		c.mu.Lock()
		c.expired = true
		c.mu.Unlock()
		c.log.error("paused longer than the maximum: canceling the run", "max_pause", maxPause.String(), "paused_by", who)
		c.cancel(fmt.Errorf("%w (%s, paused by %s): %w", ErrPausedTooLong, maxPause, who, context.Canceled))
	})
	c.log.info("run paused", "by", who, "max_pause", maxPause.String())
	return nil
}

// Resume lets the byte stream of the paused run runID flow again on behalf
// of who, recorded in the run's log as "run resumed" with how long it was
// paused. Resuming a run that is not paused changes nothing and returns nil.
// A run ID that is not running in this engine gives an error wrapping
// ErrRunNotFound; a run already being canceled for pausing too long gives
// an error wrapping ErrPausedTooLong.
func (e *Engine) Resume(runID, who string) error {
	c, err := e.control(runID)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.resume == nil {
		if c.expired {
			return fmt.Errorf("%w: run %q was canceled", ErrPausedTooLong, runID)
		}
		return nil
	}
	stopped := c.timer.Stop()
	close(c.resume)
	c.resume, c.timer = nil, nil
	if !stopped || c.expired {
		c.expired = true
		return fmt.Errorf("%w: run %q was canceled", ErrPausedTooLong, runID)
	}
	c.log.info("run resumed", "by", who, "paused_by", c.pausedBy,
		"paused_for", e.opts.Now().Sub(c.pausedAt).Round(time.Millisecond).String())
	return nil
}

// gate is the pipeline stage between the source and the compressor that
// holds writes while the run is paused.
type gate struct {
	c *control
	w io.Writer
}

func (g gate) Write(p []byte) (int, error) {
	g.c.mu.Lock()
	ch := g.c.resume
	g.c.mu.Unlock()
	if ch != nil {
		if h := g.c.e.onHold; h != nil {
			h(g.c.runID)
		}
		select {
		case <-ch:
		case <-g.c.ctx.Done():
			return 0, context.Cause(g.c.ctx)
		}
	}
	return g.w.Write(p)
}
