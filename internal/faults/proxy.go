package faults

import (
	"net"
	"sync"
	"time"
)

// Proxy is a TCP proxy on 127.0.0.1 in front of one target address. While
// it is cut, it closes every open connection and every new one at once (as
// a server restart does); while it is stalled, it stops forwarding bytes in
// both directions (connections stay open); with a rate set, it forwards at
// most that many bytes per second in each direction.
type Proxy struct {
	target string
	ln     net.Listener

	mu      sync.Mutex
	cut     bool
	stalled bool
	rate    int // bytes per second per direction; 0: unlimited
	conns   map[net.Conn]struct{}
	changed chan struct{} // closed and replaced on every setting change
	closed  bool
	wg      sync.WaitGroup
	accepts int
}

// NewProxy listens on a free port of 127.0.0.1 and forwards every connection
// to target ("host:port"). Close stops it.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, ln: ln, conns: map[net.Conn]struct{}{}, changed: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Accepted returns the number of client connections accepted so far.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepts
}

// Cut closes every open connection and, until Restore, every new one as soon
// as it is accepted.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.notifyLocked()
	p.mu.Unlock()
}

// Restore undoes Cut and Stall: new connections are forwarded again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut, p.stalled = false, false
	p.notifyLocked()
	p.mu.Unlock()
}

// Stall stops (true) or resumes (false) forwarding bytes on every
// connection, without closing any.
func (p *Proxy) Stall(on bool) {
	p.mu.Lock()
	p.stalled = on
	p.notifyLocked()
	p.mu.Unlock()
}

// SetRate limits forwarding to bytesPerSecond in each direction of each
// connection; zero or less removes the limit.
func (p *Proxy) SetRate(bytesPerSecond int) {
	p.mu.Lock()
	p.rate = max(bytesPerSecond, 0)
	p.notifyLocked()
	p.mu.Unlock()
}

func (p *Proxy) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Close stops listening, closes every connection and waits for the
// forwarding goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.notifyLocked()
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.accepts++
		if p.cut || p.closed {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut || p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) forget(cs ...net.Conn) {
	p.mu.Lock()
	for _, c := range cs {
		delete(p.conns, c)
	}
	p.mu.Unlock()
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer client.Close()
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		p.forget(client)
		return
	}
	defer server.Close()
	if !p.track(server) {
		p.forget(client, server)
		return
	}
	defer p.forget(client, server)
	done := make(chan struct{}, 2)
	go func() { p.pipe(server, client); done <- struct{}{} }()
	go func() { p.pipe(client, server); done <- struct{}{} }()
	<-done
	// One direction ended: close both so the other ends too.
	_ = client.Close()
	_ = server.Close()
	<-done
}

// pipe copies src to dst, honouring stall and rate.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for off := 0; off < n; {
			chunk, ok := p.allow(n - off)
			if !ok {
				return
			}
			if _, werr := dst.Write(buf[off : off+chunk]); werr != nil {
				return
			}
			off += chunk
		}
		if err != nil {
			return // EOF or a closed connection: serve closes both sides
		}
	}
}

// allow waits while stalled and, with a rate, paces writes; it returns how
// many of want bytes may go now, or false when the proxy was cut or closed.
func (p *Proxy) allow(want int) (int, bool) {
	for {
		p.mu.Lock()
		cut, stalled, rate, changed := p.cut || p.closed, p.stalled, p.rate, p.changed
		p.mu.Unlock()
		if cut {
			return 0, false
		}
		if stalled {
			<-changed
			continue
		}
		if rate == 0 {
			return want, true
		}
		// Send a tenth of a second's worth at a time.
		chunk := max(min(want, rate/10), 1)
		select {
		case <-time.After(time.Duration(chunk) * time.Second / time.Duration(rate)):
		case <-changed:
			continue
		}
		return chunk, true
	}
}
