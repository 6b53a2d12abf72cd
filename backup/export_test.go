package backup

import "time"

// SetOnHold makes the engine call fn whenever a source's write blocks in the
// pause gate of run runID. Set it before starting runs.
func SetOnHold(e *Engine, fn func(runID string)) { e.onHold = fn }

// SetAbandonGrace sets how long a run waits for an abandoned destination's
// Put to return, until the test ends.
func SetAbandonGrace(t interface{ Cleanup(func()) }, d time.Duration) {
	old := abandonGrace
	abandonGrace = d
	t.Cleanup(func() { abandonGrace = old })
}
