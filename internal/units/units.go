// Package units parses the byte sizes written in URLs and config files.
package units

import (
	"fmt"
	"strconv"
	"strings"
)

var sizeUnits = map[string]int64{
	"b":  1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// ParseSize parses a size with a unit: B, kB/KB, MB, GB, TB (powers of 1000)
// or KiB, MiB, GiB, TiB (powers of 1024), case-insensitively for the letters
// after the first, optionally with a space and a decimal fraction ("1.5GiB").
// "0" alone is allowed. A number without a unit is refused, because MB and
// MiB differ by 5%.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.TrimSpace(s[i:])
	if num == "" || unit == "" {
		return 0, fmt.Errorf("invalid size %q (want a number with a unit, such as \"5000MB\" or \"5GiB\")", s)
	}
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q (want B, kB, MB, GB, TB, KiB, MiB, GiB or TiB)", s, unit)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q (want a number with a unit, such as \"5000MB\" or \"5GiB\")", s)
	}
	v := f * float64(mult)
	if v >= 1<<63 {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return int64(v), nil
}

// ParsePositive parses a size greater than zero: a plain number of bytes, or
// a number with a unit as ParseSize reads it ("8MiB").
func ParsePositive(s string) (int64, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		n, err = ParseSize(s)
	}
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid size %q (want bytes, or a number with a unit such as \"16MiB\")", s)
	}
	return n, nil
}

// FormatBinary writes n bytes in binary units with one decimal, as people
// read them: "512 B", "1.5 KiB", "10.0 MiB", up to EiB.
func FormatBinary(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("KMGTPE"[exp]) + "iB"
}
