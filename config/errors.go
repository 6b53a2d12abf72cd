package config

import (
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is one problem found in a config file. Parse and Load return all of
// them at once, joined with errors.Join and sorted by Line; use errors.As to
// get the first one, or Unwrap() []error on the joined error to get them all.
type Error struct {
	// File is the name the config was parsed under, usually its path.
	File string
	// Line is the 1-based line the problem is on; 0 when it concerns the whole
	// file or the Config was not parsed from a file.
	Line int
	// Path is the key path of the setting, such as "jobs[0].schedule" or
	// "destinations.local.url"; empty when it concerns the whole file.
	Path string
	// Msg says what is wrong. It never contains secrets from URLs.
	Msg string
}

// Error formats e as "file:line: path: msg", leaving out empty parts.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

const (
	nullTag  = "!!null"
	mergeTag = "!!merge"
)

// describe names the kind of a YAML node for messages: "a mapping", "a number".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case nullTag:
		return "null"
	}
	return "a string"
}

// suggest returns the candidate closest to s within an edit distance of 2, or
// "" if there is none. Ties go to the earlier candidate.
func suggest(s string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes. Inputs
// longer than 64 bytes are never considered close.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// sortErrors orders errs by line, keeping the order of discovery within a line.
func sortErrors(errs []*Error) {
	slices.SortStableFunc(errs, func(a, b *Error) int { return a.Line - b.Line })
}
