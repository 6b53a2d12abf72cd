package backup

// SetOnHold makes the engine call fn whenever a source's write blocks in the
// pause gate of run runID. Set it before starting runs.
func SetOnHold(e *Engine, fn func(runID string)) { e.onHold = fn }
