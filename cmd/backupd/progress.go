package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/backupkit/backupkit/internal/units"
	"github.com/backupkit/backupkit/notify"
)

// progressPrinter draws a one-line progress display for a run: redrawn in
// place on a terminal, one line every lineEvery otherwise (logs, CI).
type progressPrinter struct {
	w         io.Writer
	tty       bool
	lineEvery time.Duration

	mu       sync.Mutex
	last     time.Time
	frame    int
	drawn    bool
	finished bool
}

func newProgressPrinter(w *os.File) *progressPrinter {
	fi, err := w.Stat()
	tty := err == nil && fi.Mode()&os.ModeCharDevice != 0
	return &progressPrinter{w: w, tty: tty, lineEvery: 10 * time.Second}
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// event handles an engine event; it is safe for concurrent use.
func (p *progressPrinter) event(e notify.Event) {
	if e.Type != notify.RunProgress {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	line := fmt.Sprintf("%s %s  %s read → %s written  %s/s  %s", spinner[p.frame%len(spinner)], e.Job,
		units.FormatBinary(e.BytesRead), units.FormatBinary(e.BytesWritten), units.FormatBinary(int64(e.Rate)), clock(e.Elapsed))
	p.frame++
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.drawn = true
		return
	}
	if time.Since(p.last) >= p.lineEvery {
		p.last = time.Now()
		fmt.Fprintln(p.w, strings.TrimPrefix(line, spinner[(p.frame-1)%len(spinner)]+" "))
	}
}

// done clears the progress line.
func (p *progressPrinter) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finished = true
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func clock(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}
