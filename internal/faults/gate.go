package faults

import (
	"context"
	"io"
	"sync"

	"github.com/backupkit/backupkit/destination"
)

// GateDestination wraps a destination.Destination so that a test can act in
// the middle of a backup: once a Put has read After bytes of its data, it
// closes Reached (once) and reads nothing more until Release is called (or its
// context ends). Everything else goes to the inner destination.
type GateDestination struct {
	destination.Destination
	After int64

	once    sync.Once
	reached chan struct{}
	release chan struct{}
	opened  sync.Once
}

// NewGateDestination returns a gate that holds every Put after `after` bytes.
func NewGateDestination(d destination.Destination, after int64) *GateDestination {
	return &GateDestination{Destination: d, After: after, reached: make(chan struct{}), release: make(chan struct{})}
}

// Reached is closed when a Put first reaches the gate.
func (g *GateDestination) Reached() <-chan struct{} { return g.reached }

// Release lets every held and future Put go on.
func (g *GateDestination) Release() { g.opened.Do(func() { close(g.release) }) }

// Put implements destination.Destination.
func (g *GateDestination) Put(ctx context.Context, key string, r io.Reader, opts *destination.PutOptions) (destination.Object, error) {
	return g.Destination.Put(ctx, key, &gateReader{g: g, r: r, left: g.After, ctx: ctx}, opts)
}

type gateReader struct {
	g    *GateDestination
	r    io.Reader
	left int64
	ctx  context.Context
}

func (gr *gateReader) Read(p []byte) (int, error) {
	if gr.left <= 0 {
		gr.g.once.Do(func() { close(gr.g.reached) })
		select {
		case <-gr.g.release:
		case <-gr.ctx.Done():
			return 0, gr.ctx.Err()
		}
		return gr.r.Read(p)
	}
	if int64(len(p)) > gr.left {
		p = p[:gr.left]
	}
	n, err := gr.r.Read(p)
	gr.left -= int64(n)
	return n, err
}
