package faults_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/destination/memory"
	"github.com/backupkit/backupkit/internal/faults"
)

func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(addr string, msg []byte) ([]byte, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	got := make([]byte, len(msg))
	_, err = io.ReadFull(c, got)
	return got, err
}

func TestProxyForwardsCutsAndRestores(t *testing.T) {
	p, err := faults.NewProxy(echoServer(t))
	require.NoError(t, err)
	defer p.Close()

	got, err := roundTrip(p.Addr(), []byte("hello"))
	require.NoError(t, err)
	assert.Equal(t, "hello", string(got))

	// An open connection dies when the proxy is cut.
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	_, _ = c.Write([]byte("x"))
	buf := make([]byte, 1)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	p.Cut()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(buf)
	assert.Error(t, err, "a connection open across a cut must fail")
	_, err = roundTrip(p.Addr(), []byte("while cut"))
	assert.Error(t, err, "new connections fail while cut")

	p.Restore()
	got, err = roundTrip(p.Addr(), []byte("back"))
	require.NoError(t, err)
	assert.Equal(t, "back", string(got))
}

func TestProxyStallAndRate(t *testing.T) {
	p, err := faults.NewProxy(echoServer(t))
	require.NoError(t, err)
	defer p.Close()
	p.Stall(true)
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("held"))
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 4)
	_, err = io.ReadFull(c, buf)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "nothing may pass while stalled: %v", err)
	p.Stall(false)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	assert.Equal(t, "held", string(buf))

	p.SetRate(1000)
	got, err := roundTrip(p.Addr(), bytes.Repeat([]byte("z"), 300))
	require.NoError(t, err)
	assert.Len(t, got, 300)
}

func TestTransportFaults(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	tr := faults.NewTransport(
		faults.Rule{Fault: faults.Fault{Status: 503}, Times: 1},
		faults.Rule{Fault: faults.Fault{Drop: true}, Times: 1},
		faults.Rule{Fault: faults.Fault{Trickle: 2000}, Times: 1},
		faults.Rule{Fault: faults.Fault{Stall: -1}, Times: 1},
	)
	client := &http.Client{Transport: tr}

	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 503, resp.StatusCode)

	_, err = client.Get(srv.URL)
	require.Error(t, err)
	assert.ErrorIs(t, err, syscall.ECONNRESET)

	resp, err = client.Post(srv.URL, "text/plain", bytes.NewReader(make([]byte, 500)))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	_, err = client.Do(req)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	resp, err = client.Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode, "rules used up: requests pass")
	n, injected := tr.Counts()
	assert.Equal(t, 5, n)
	assert.Equal(t, 4, injected)
	assert.Equal(t, "status 503", faults.Fault{Status: 503}.String())
}

func TestNoSpaceWriter(t *testing.T) {
	var buf bytes.Buffer
	w := &faults.NoSpaceWriter{W: &buf, Limit: 5}
	n, err := w.Write([]byte("abc"))
	assert.Equal(t, 3, n)
	require.NoError(t, err)
	n, err = w.Write([]byte("defg"))
	assert.Equal(t, 2, n)
	assert.ErrorIs(t, err, syscall.ENOSPC)
	assert.Equal(t, "abcde", buf.String())
}

func TestNoSpaceDestination(t *testing.T) {
	ctx := context.Background()
	d := &faults.NoSpaceDestination{Destination: memory.New(), Limit: 10, Skip: 1}
	_, err := d.Put(ctx, "a", bytes.NewReader(make([]byte, 100)), nil)
	require.NoError(t, err, "the first Put is skipped")
	_, err = d.Put(ctx, "b", bytes.NewReader(make([]byte, 100)), nil)
	assert.ErrorIs(t, err, syscall.ENOSPC)
	_, err = d.Stat(ctx, "b")
	assert.Error(t, err, "a failed Put leaves nothing")
	_, err = d.Put(ctx, "c", bytes.NewReader(make([]byte, 5)), nil)
	assert.NoError(t, err, "what fits is stored")
}

func TestGateDestination(t *testing.T) {
	ctx := context.Background()
	g := faults.NewGateDestination(memory.New(), 4)
	done := make(chan error, 1)
	go func() {
		_, err := g.Put(ctx, "k", bytes.NewReader([]byte("0123456789")), nil)
		done <- err
	}()
	<-g.Reached()
	select {
	case <-done:
		t.Fatal("Put went past the gate")
	case <-time.After(50 * time.Millisecond):
	}
	g.Release()
	require.NoError(t, <-done)
	obj, err := g.Stat(ctx, "k")
	require.NoError(t, err)
	assert.EqualValues(t, 10, obj.Size)
}
