package web

import (
	"fmt"

	"github.com/backupkit/backupkit/store"
)

// sparkline is a job's last runs as bars of an inline SVG, oldest on the
// left: a succeeded run is a full-height green bar, a failed one a short red
// bar, so the picture's "fill" is the success rate.
type sparkline struct {
	Width, Height int
	Bars          []bar
	// Rate is the success rate in percent over the Counted finished runs
	// (running, skipped and missed ones are drawn but not counted).
	Rate    int
	Counted int
	Label   string
}

// bar is one run in a sparkline.
type bar struct {
	X, Y, W, H int
	Class      string
	Title      string
}

const (
	sparkBarW = 6
	sparkGap  = 2
	sparkH    = 24
)

// newSparkline draws runs, given newest first as the store lists them.
func newSparkline(runs []store.Run) sparkline {
	sp := sparkline{Width: sparkRuns * (sparkBarW + sparkGap), Height: sparkH}
	succeeded := 0
	// Right-aligned: the newest run is always at the right edge.
	x0 := sp.Width - len(runs)*(sparkBarW+sparkGap)
	for i := range runs {
		r := runs[len(runs)-1-i]
		h := sparkH / 3
		switch r.Status {
		case store.RunSucceeded:
			h = sparkH
			succeeded++
			sp.Counted++
		case store.RunPartial:
			h = sparkH * 2 / 3
			sp.Counted++
		case store.RunFailed, store.RunCanceled, store.RunInterrupted:
			sp.Counted++
		case store.RunRunning:
			h = sparkH / 2
		}
		sp.Bars = append(sp.Bars, bar{X: x0 + i*(sparkBarW+sparkGap), Y: sparkH - h, W: sparkBarW, H: h,
			Class: "st-" + string(r.Status), Title: fmt.Sprintf("%s %s", r.StartedAt.UTC().Format("2006-01-02 15:04"), r.Status)})
	}
	if sp.Counted > 0 {
		sp.Rate = succeeded * 100 / sp.Counted
		sp.Label = fmt.Sprintf("%d%% of the last %d finished runs succeeded", sp.Rate, sp.Counted)
	} else {
		sp.Label = "no finished runs yet"
	}
	return sp
}
