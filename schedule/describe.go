package schedule

import (
	"fmt"
	"math/bits"
	"strings"
	"time"
)

// Describe returns a human-readable description of the schedule with its
// zone, such as "daily at 02:30 Europe/Berlin" or "every 15 minutes UTC".
// Expressions without a simpler reading are described as "cron \"expr\"".
func (c *Cron) Describe() string {
	single := func(set uint64) (int, bool) {
		return bits.TrailingZeros64(set), bits.OnesCount64(set) == 1
	}
	zone := c.loc.String()
	all := func(set uint64, n int) bool { return bits.OnesCount64(set) == n }
	m, oneMin := single(c.min)
	h, oneHour := single(c.hour)
	sec0 := c.sec == 1
	anyDay := c.domStar && c.dowStar && all(c.month, 12)
	switch {
	case !sec0:
	case anyDay && all(c.hour, 24) && all(c.min, 60):
		return "every minute " + zone
	case anyDay && all(c.hour, 24) && oneMin:
		return fmt.Sprintf("hourly at :%02d %s", m, zone)
	case anyDay && all(c.hour, 24) && step(c.min, 60) > 1:
		return fmt.Sprintf("every %d minutes %s", step(c.min, 60), zone)
	case oneMin && oneHour && anyDay:
		return fmt.Sprintf("daily at %02d:%02d %s", h, m, zone)
	case oneMin && oneHour && c.domStar && all(c.month, 12) && !c.dowStar:
		var days []string
		for d := range 7 {
			if c.dow&(1<<d) != 0 {
				days = append(days, time.Weekday(d).String())
			}
		}
		return fmt.Sprintf("weekly on %s at %02d:%02d %s", strings.Join(days, ", "), h, m, zone)
	case oneMin && oneHour && c.dowStar && all(c.month, 12) && c.lastDOM && c.dom == 0:
		return fmt.Sprintf("monthly on the last day at %02d:%02d %s", h, m, zone)
	case oneMin && oneHour && c.dowStar && all(c.month, 12) && !c.lastDOM && bits.OnesCount64(c.dom) == 1:
		return fmt.Sprintf("monthly on day %d at %02d:%02d %s", bits.TrailingZeros64(c.dom), h, m, zone)
	}
	return fmt.Sprintf("cron %q %s", c.expr, zone)
}

// step returns n when set is exactly {0, n, 2n, ...} below size, else 0.
func step(set uint64, size int) int {
	if set&1 == 0 || bits.OnesCount64(set) < 2 {
		return 0
	}
	set2 := set &^ 1
	n := bits.TrailingZeros64(set2)
	for v := range size {
		if (set&(1<<v) != 0) != (v%n == 0) {
			return 0
		}
	}
	return n
}
