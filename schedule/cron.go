package schedule

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // schedules name IANA zones; do not depend on the host's tzdata

	"github.com/adhocore/gronx"
)

// ErrNeverFires is matched (errors.Is) by the error Parse returns for an
// expression that is valid field by field but matches no date, such as
// "0 0 30 2 *".
var ErrNeverFires = errors.New("schedule never fires")

// Cron is a parsed cron expression bound to a time zone. It is immutable and
// safe for concurrent use.
type Cron struct {
	expr     string
	loc      *time.Location
	sec      uint64 // bit i: second i
	min      uint64
	hour     uint64
	dom      uint64 // bit d: day of month d (1..31)
	month    uint64 // bit m: month m (1..12)
	dow      uint64 // bit w: weekday w (0 = Sunday)
	lastDOM  bool   // "L" in the day-of-month field
	domStar  bool   // day-of-month field starts with * or ?
	dowStar  bool
	hourWild bool // hour field is * or a step: no slots in a DST gap, both occurrences in a repeated hour
	seconds  bool // 6-field expression
}

var fieldNames = [6]string{"second", "minute", "hour", "day-of-month", "month", "day-of-week"}

var fieldBounds = [6][2]int{{0, 59}, {0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 7}}

var monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6,
	"JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}

var dayNames = map[string]int{"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}

var macros = map[string]string{
	"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
	"@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}

// ParseInZone is Parse with the zone given by its IANA name ("" means UTC).
// An unknown zone fails with an error naming it.
func ParseInZone(expr, zone string) (*Cron, error) {
	if zone == "" {
		zone = "UTC"
	}
	if zone == "Local" {
		return nil, fmt.Errorf(`schedule: time zone "Local" is not allowed (want an IANA name such as "Europe/Berlin")`)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("schedule: unknown time zone %q (want an IANA name such as \"Europe/Berlin\")", zone)
	}
	return Parse(expr, loc)
}

// Parse parses expr, read in loc (nil means UTC). It accepts:
//
//   - 5 fields "minute hour day-of-month month day-of-week", or 6 fields with
//     a leading second; each field is *, ? (day fields), a number, a range
//     a-b, a step */n, a-b/n or a/n, or a comma list of those; months and
//     weekdays may be named (JAN, MON); weekday 7 is Sunday; "L" in the
//     day-of-month field is the last day of the month;
//   - @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly;
//   - the presets "hourly", "daily", "daily at HH:MM", "weekly on DAY at
//     HH:MM", "monthly on N at HH:MM" (N a day or "last").
//
// Errors name the field at fault. An expression that can never fire (such as
// "0 0 30 2 *") fails with ErrNeverFires. Field syntax is checked with
// github.com/adhocore/gronx as well, so that every expression accepted here is
// also one gronx accepts.
func Parse(expr string, loc *time.Location) (*Cron, error) {
	if loc == nil {
		loc = time.UTC
	}
	orig := strings.TrimSpace(expr)
	norm, err := expand(orig)
	if err != nil {
		return nil, err
	}
	fields := strings.Fields(norm)
	if len(fields) != 5 && len(fields) != 6 {
		return nil, fmt.Errorf("schedule: %q: want 5 fields (minute hour day-of-month month day-of-week) or 6 (with a leading second), got %d", orig, len(fields))
	}
	c := &Cron{expr: orig, loc: loc, seconds: len(fields) == 6}
	if !c.seconds {
		fields = append([]string{"0"}, fields...)
	}
	sets := [6]*uint64{&c.sec, &c.min, &c.hour, &c.dom, &c.month, &c.dow}
	for i, f := range fields {
		v, err := parseField(f, i)
		if err != nil {
			return nil, fmt.Errorf("schedule: %s field %q: %w", fieldNames[i], f, err)
		}
		*sets[i] = v
	}
	if c.dow&(1<<7) != 0 {
		c.dow = c.dow&^(1<<7) | 1
	}
	c.lastDOM = c.dom&1 != 0 // bit 0 marks L
	c.dom &^= 1
	c.domStar = strings.HasPrefix(fields[3], "*") || fields[3] == "?"
	c.dowStar = strings.HasPrefix(fields[5], "*") || fields[5] == "?"
	c.hourWild = strings.HasPrefix(fields[2], "*") || strings.Contains(fields[2], "/")
	g := strings.Join(fields[1:], " ")
	if c.seconds {
		g = strings.Join(fields, " ")
	}
	if !gronx.IsValid(strings.ReplaceAll(g, "?", "*")) {
		return nil, fmt.Errorf("schedule: %q: not a valid cron expression", orig)
	}
	if c.never() {
		return nil, fmt.Errorf("schedule: %q: %w", orig, ErrNeverFires)
	}
	return c, nil
}

// expand turns macros and presets into cron fields.
func expand(s string) (string, error) {
	if s == "" {
		return "", errors.New("schedule: empty expression")
	}
	low := strings.ToLower(strings.Join(strings.Fields(s), " "))
	if strings.HasPrefix(low, "@") {
		if m, ok := macros[low]; ok {
			return m, nil
		}
		return "", fmt.Errorf("schedule: unknown macro %q (want @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)", s)
	}
	if low[0] < 'a' || low[0] > 'z' {
		return s, nil
	}
	w := strings.Fields(low)
	hhmm := func(x string) (int, int, error) {
		h, m, ok := strings.Cut(x, ":")
		hh, err1 := strconv.Atoi(h)
		mm, err2 := strconv.Atoi(m)
		if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
			return 0, 0, fmt.Errorf("schedule: %q: time %q: want HH:MM (00:00 to 23:59)", s, x)
		}
		return hh, mm, nil
	}
	switch {
	case low == "hourly":
		return "0 * * * *", nil
	case low == "daily":
		return "0 0 * * *", nil
	case low == "weekly":
		return "0 0 * * 0", nil
	case low == "monthly":
		return "0 0 1 * *", nil
	case len(w) == 3 && w[0] == "daily" && w[1] == "at":
		h, m, err := hhmm(w[2])
		return fmt.Sprintf("%d %d * * *", m, h), err
	case len(w) == 5 && w[0] == "weekly" && w[1] == "on" && w[3] == "at":
		day, ok := -1, false
		for name, n := range dayNames {
			if strings.HasPrefix(strings.ToUpper(w[2]), name) && len(w[2]) >= 3 {
				day, ok = n, true
			}
		}
		if !ok {
			return "", fmt.Errorf("schedule: %q: unknown weekday %q", s, w[2])
		}
		h, m, err := hhmm(w[4])
		return fmt.Sprintf("%d %d * * %d", m, h, day), err
	case len(w) == 5 && w[0] == "monthly" && w[1] == "on" && w[3] == "at":
		day := strings.TrimRight(w[2], "stndrh")
		if w[2] == "last" {
			day = "L"
		} else if n, err := strconv.Atoi(day); err != nil || n < 1 || n > 31 {
			return "", fmt.Errorf("schedule: %q: day of month %q: want 1 to 31 or \"last\"", s, w[2])
		}
		h, m, err := hhmm(w[4])
		return fmt.Sprintf("%d %d %s * *", m, h, day), err
	}
	return "", fmt.Errorf("schedule: %q: not a cron expression or a preset (hourly, daily at HH:MM, weekly on DAY at HH:MM, monthly on N at HH:MM)", s)
}

// parseField returns the bit set of field i. For the day-of-month field,
// bit 0 means L.
func parseField(f string, i int) (uint64, error) {
	lo, hi := fieldBounds[i][0], fieldBounds[i][1]
	var set uint64
	for item := range strings.SplitSeq(f, ",") {
		if item == "" {
			return 0, errors.New("empty list item")
		}
		if item == "?" && (i == 3 || i == 5) {
			item = "*"
		}
		if item == "L" || item == "l" {
			if i != 3 {
				return 0, errors.New("L is only allowed in the day-of-month field")
			}
			set |= 1
			continue
		}
		rng, stepText, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 {
				return 0, fmt.Errorf("step %q: want a positive number", stepText)
			}
			step = n
		}
		a, b := lo, hi
		switch {
		case rng == "*":
			if i == 5 {
				b = 6
			}
		default:
			x, y, isRange := strings.Cut(rng, "-")
			var err error
			if a, err = value(x, i); err != nil {
				return 0, err
			}
			b = a
			if isRange {
				if b, err = value(y, i); err != nil {
					return 0, err
				}
				if b < a {
					return 0, fmt.Errorf("range %s: start after end", rng)
				}
			} else if hasStep {
				b = hi
			}
		}
		for v := a; v <= b; v += step {
			set |= 1 << v
		}
	}
	return set, nil
}

func value(s string, i int) (int, error) {
	lo, hi := fieldBounds[i][0], fieldBounds[i][1]
	n, err := strconv.Atoi(s)
	if err != nil {
		names := dayNames
		if i == 4 {
			names = monthNames
		}
		if v, ok := names[strings.ToUpper(s)]; ok && (i == 4 || i == 5) {
			return v, nil
		}
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is out of range %d-%d", n, lo, hi)
	}
	return n, nil
}

// never reports whether no date matches.
func (c *Cron) never() bool {
	if c.sec == 0 || c.min == 0 || c.hour == 0 || c.month == 0 {
		return true
	}
	if !c.dowStar && c.dow != 0 {
		return false // some weekday of every month matches (ORed, or ANDed with *)
	}
	if c.domStar || c.lastDOM {
		return false
	}
	maxDays := [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	for m := 1; m <= 12; m++ {
		if c.month&(1<<m) != 0 && bits.TrailingZeros64(c.dom) <= maxDays[m] {
			return false
		}
	}
	return true
}

// String returns the expression as given to Parse.
func (c *Cron) String() string { return c.expr }

// Location returns the zone the expression is read in.
func (c *Cron) Location() *time.Location { return c.loc }

// dayMatches applies Vixie cron's rule: when both day fields are restricted
// (neither starts with *), a day matches if either does.
func (c *Cron) dayMatches(y int, m time.Month, d int) bool {
	if c.month&(1<<uint(m)) == 0 {
		return false
	}
	domOK := c.dom&(1<<uint(d)) != 0 || c.lastDOM && d == daysIn(y, m)
	dowOK := c.dow&(1<<uint(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Weekday())) != 0
	switch {
	case c.domStar && c.dowStar:
		return true
	case c.domStar:
		return dowOK
	case c.dowStar:
		return domOK
	}
	return domOK || dowOK
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// horizon bounds the search for a next slot, in civil years.
const horizon = 12

// nextCivil returns the first civil time >= c (a wall-clock time represented
// in UTC) that matches, or false past the horizon.
func (c *Cron) nextCivil(t time.Time) (time.Time, bool) {
	limit := t.Year() + horizon
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	for y <= limit {
		if c.month&(1<<uint(mo)) == 0 {
			mo++
			if mo > 12 {
				mo, y = 1, y+1
			}
			d, h, mi, s = 1, 0, 0, 0
			continue
		}
		if d > daysIn(y, mo) || !c.dayMatches(y, mo, d) {
			d++
			if d > daysIn(y, mo) {
				d, mo = 1, mo+1
				if mo > 12 {
					mo, y = 1, y+1
				}
			}
			h, mi, s = 0, 0, 0
			continue
		}
		nh := nextBit(c.hour, h)
		if nh < 0 {
			d, h, mi, s = d+1, 0, 0, 0
			if d > daysIn(y, mo) {
				d, mo = 1, mo+1
				if mo > 12 {
					mo, y = 1, y+1
				}
			}
			continue
		}
		if nh != h {
			h, mi, s = nh, 0, 0
		}
		nm := nextBit(c.min, mi)
		if nm < 0 {
			h, mi, s = h+1, 0, 0
			if h > 23 {
				h, d = 0, d+1
				if d > daysIn(y, mo) {
					d, mo = 1, mo+1
					if mo > 12 {
						mo, y = 1, y+1
					}
				}
			}
			continue
		}
		if nm != mi {
			mi, s = nm, 0
		}
		ns := nextBit(c.sec, s)
		if ns < 0 {
			mi, s = mi+1, 0
			if mi > 59 {
				mi, h = 0, h+1
				if h > 23 {
					h, d = 0, d+1
					if d > daysIn(y, mo) {
						d, mo = 1, mo+1
						if mo > 12 {
							mo, y = 1, y+1
						}
					}
				}
			}
			continue
		}
		return time.Date(y, mo, d, h, mi, ns, 0, time.UTC), true
	}
	return time.Time{}, false
}

// nextBit returns the lowest set bit >= from, or -1.
func nextBit(set uint64, from int) int {
	if from > 63 {
		return -1
	}
	rest := set >> uint(from) << uint(from)
	if rest == 0 {
		return -1
	}
	return bits.TrailingZeros64(rest)
}

// offsetAt returns the zone offset in effect at unix second u.
func offsetAt(loc *time.Location, u int64) int64 {
	_, off := time.Unix(u, 0).In(loc).Zone()
	return int64(off)
}

// instants maps a civil time to the instants it names in loc, under the DST
// rules: a wall time that exists once gives one instant; one that occurs
// twice gives both (first first) when the hour is wild, else the first; one
// that does not exist gives the instant the gap ends when the hour is fixed,
// else none.
func (c *Cron) instants(civil time.Time) (out [2]int64, n int) {
	cu := civil.Unix() // civil seconds as if UTC
	o0 := offsetAt(c.loc, cu-86400)
	o1 := offsetAt(c.loc, cu)
	o2 := offsetAt(c.loc, cu+86400)
	cands := [3]int64{o0, o1, o2}
	var found [3]int64
	k := 0
	for i, o := range cands {
		dup := false
		for j := range i {
			if cands[j] == o {
				dup = true
			}
		}
		if dup {
			continue
		}
		if u := cu - o; offsetAt(c.loc, u) == o {
			found[k] = u
			k++
		}
	}
	if k == 0 {
		if c.hourWild {
			return out, 0
		}
		// In a gap: the earlier offset puts cu-oEarlier after the
		// transition; the zone that starts there is the gap's end.
		early := max(o0, o1, o2)
		for _, o := range cands {
			early = min(early, o)
		}
		start, _ := time.Unix(cu-early, 0).In(c.loc).ZoneBounds()
		out[0] = start.Unix()
		return out, 1
	}
	if k > 1 && found[1] < found[0] {
		found[0], found[1] = found[1], found[0]
	}
	if k > 2 {
		k = 2
	}
	if k == 2 && !c.hourWild {
		k = 1
	}
	copy(out[:], found[:k])
	return out, k
}

// Next returns the first slot strictly after t, or the zero Time when there
// is none within 12 years. Matching is on wall-clock time in the Cron's zone,
// with the DST rules of the package documentation.
func (c *Cron) Next(t time.Time) time.Time {
	u := t.Unix()
	if t.Nanosecond() != 0 && t.Unix() < 0 {
		u-- // floor
	}
	best, ok := c.walk(c.civilOf(u)+1, u)
	// A fall-back between t and the candidate repeats wall times that the
	// walk from t's wall time has passed: walk again from each.
	from := u
	for i := 0; i < 4; i++ {
		_, end := time.Unix(from, 0).In(c.loc).ZoneBounds()
		if end.IsZero() || (ok && end.Unix() > best) {
			break
		}
		e := end.Unix()
		if e > u+horizon*366*86400 {
			break
		}
		if offsetAt(c.loc, e) < offsetAt(c.loc, e-1) {
			if b2, ok2 := c.walk(c.civilOf(e), u); ok2 && (!ok || b2 < best) {
				best, ok = b2, true
			}
		}
		from = e
	}
	if !ok {
		return time.Time{}
	}
	return time.Unix(best, 0).In(c.loc)
}

func (c *Cron) civilOf(u int64) int64 { return u + offsetAt(c.loc, u) }

// walk returns the first slot instant > after among civil times >= from
// (civil unix seconds).
func (c *Cron) walk(from, after int64) (int64, bool) {
	civ := time.Unix(from, 0).UTC()
	for range 1 << 20 {
		next, ok := c.nextCivil(civ)
		if !ok {
			return 0, false
		}
		ins, n := c.instants(next)
		for i := range n {
			if ins[i] > after {
				return ins[i], true
			}
		}
		civ = next.Add(time.Second)
	}
	return 0, false
}

// NextN returns the next n slots strictly after t (fewer if the schedule
// ends within the horizon), for display.
func (c *Cron) NextN(t time.Time, n int) []time.Time {
	var out []time.Time
	for range n {
		t = c.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}
