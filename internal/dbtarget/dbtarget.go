// Package dbtarget parses the restore targets of sources made of databases
// (MySQL, MongoDB): where each database of a backup goes.
package dbtarget

import (
	"fmt"
	"strings"
)

// Spec is a parsed restore target: Raw as given, and exactly one of Name
// (one database), Renames (a map "a=a2,b=b2") and Pattern (a name with one
// '*', "*_copy"), or none of them for "" (each database under its own
// name).
type Spec struct {
	Raw     string
	Name    string
	Renames map[string]string
	Pattern string
}

// Parse parses a target. checkFrom checks the source names of a map and
// checkTo every name a target writes to (a pattern's with its '*' replaced
// by "x"); their errors are wrapped with the target and the name. A map
// that maps a name twice, or two names to one, is refused, as is a pattern
// without exactly one '*'.
func Parse(s string, checkFrom, checkTo func(string) error) (Spec, error) {
	ts := Spec{Raw: s}
	switch {
	case s == "":
	case strings.Contains(s, "="):
		ts.Renames = map[string]string{}
		seen := map[string]string{}
		for p := range strings.SplitSeq(s, ",") {
			from, to, _ := strings.Cut(p, "=")
			if err := checkFrom(from); err != nil {
				return ts, fmt.Errorf("target %q: database %q: %w", s, from, err)
			}
			if err := checkTo(to); err != nil {
				return ts, fmt.Errorf("target %q: database %q: %w", s, to, err)
			}
			if _, dup := ts.Renames[from]; dup {
				return ts, fmt.Errorf("target %q: %q is mapped twice", s, from)
			}
			if other, dup := seen[to]; dup {
				return ts, fmt.Errorf("target %q is ambiguous: %q and %q both map to %q", s, other, from, to)
			}
			ts.Renames[from], seen[to] = to, from
		}
	case strings.Contains(s, "*"):
		if strings.Count(s, "*") != 1 {
			return ts, fmt.Errorf("target %q: a pattern has exactly one '*'", s)
		}
		if err := checkTo(strings.Replace(s, "*", "x", 1)); err != nil {
			return ts, fmt.Errorf("target pattern %q: %w", s, err)
		}
		ts.Pattern = s
	default:
		if err := checkTo(s); err != nil {
			return ts, fmt.Errorf("target database %q: %w", s, err)
		}
		ts.Name = s
	}
	return ts, nil
}
