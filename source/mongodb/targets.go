package mongodb

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// maxNameBytes is the longest database name MongoDB accepts.
const maxNameBytes = 63

// checkName accepts the database names a restore may write to: not empty,
// at most 63 bytes, without '/', '\\', '.', ' ', '"', '$' or NUL.
func checkName(n string) error {
	switch {
	case n == "":
		return errors.New("empty database name")
	case len(n) > maxNameBytes:
		return fmt.Errorf("database name %q is longer than %d bytes", n, maxNameBytes)
	case strings.ContainsAny(n, "/\\. \"$\x00"):
		return fmt.Errorf("invalid database name %q", n)
	}
	return nil
}

// targetSpec is a parsed RestoreOptions.Target; see the package
// documentation.
type targetSpec struct {
	raw     string
	name    string            // one database name
	renames map[string]string // "a=a2,b=b2"
	pattern string            // with exactly one '*'
}

// parseTarget parses a RestoreOptions.Target: "" (each database under its
// own name), a database name, a rename map "a=a2,b=b2" or a pattern with
// one '*' ("*_copy").
func parseTarget(s string) (targetSpec, error) {
	ts := targetSpec{raw: s}
	switch {
	case s == "":
	case strings.Contains(s, "="):
		ts.renames = map[string]string{}
		seen := map[string]string{}
		for p := range strings.SplitSeq(s, ",") {
			from, to, _ := strings.Cut(p, "=")
			if err := checkName(from); err != nil {
				return ts, fmt.Errorf("target %q: %w", s, err)
			}
			if err := checkName(to); err != nil {
				return ts, fmt.Errorf("target %q: %w", s, err)
			}
			if _, dup := ts.renames[from]; dup {
				return ts, fmt.Errorf("target %q: %q is mapped twice", s, from)
			}
			if other, dup := seen[to]; dup {
				return ts, fmt.Errorf("target %q is ambiguous: %q and %q both map to %q", s, other, from, to)
			}
			ts.renames[from], seen[to] = to, from
		}
	case strings.Contains(s, "*"):
		if strings.Count(s, "*") != 1 {
			return ts, fmt.Errorf("target %q: a pattern has exactly one '*'", s)
		}
		if err := checkName(strings.Replace(s, "*", "x", 1)); err != nil {
			return ts, fmt.Errorf("target pattern %q: %w", s, err)
		}
		ts.pattern = s
	default:
		if err := checkName(s); err != nil {
			return ts, fmt.Errorf("target: %w", err)
		}
		ts.name = s
	}
	return ts, nil
}

// dest maps the database db (the archive's or the Source's name) to the
// database the target puts it in.
func (ts targetSpec) dest(db string) (string, error) {
	to := db
	switch {
	case ts.name != "":
		to = ts.name
	case ts.renames != nil:
		var ok bool
		if to, ok = ts.renames[db]; !ok {
			return "", fmt.Errorf("target %q has no entry for database %q", ts.raw, db)
		}
	case ts.pattern != "":
		to = strings.Replace(ts.pattern, "*", db, 1)
	}
	if err := checkName(to); err != nil {
		return "", fmt.Errorf("target %q for database %q: %w", ts.raw, db, err)
	}
	return to, nil
}

// oneNameError is the error for a target that names one database when
// there are n (the names; none for a Source of every database).
func oneNameError(ts targetSpec, what string, dbs []string) error {
	have := fmt.Sprintf("%d databases (%s)", len(dbs), strings.Join(dbs, ", "))
	if len(dbs) == 0 {
		have = "every database"
	}
	return fmt.Errorf("target %q names one database, which renames exactly one database, but %s holds %s; give a map (a=a2,b=b2) or a pattern (*_copy)",
		ts.raw, what, have)
}

// dbPair is one database plan reads: real is its name on the server, label
// the name the archive and Info.Items give it (the Source's own name).
type dbPair struct{ real, label string }

// dbPairs lists the databases plan reads, sorted by label: the Source's
// own, or with s.target those of that restore target, labeled with the
// Source's names. Scratch databases are never among every database.
func (s *Source) dbPairs(ctx context.Context, c *mongo.Client) ([]dbPair, error) {
	own := slices.Clone(s.databases)
	slices.Sort(own)
	own = slices.Compact(own)
	ts := s.target
	var out []dbPair
	switch {
	case ts == nil && len(own) > 0:
		for _, db := range own {
			out = append(out, dbPair{db, db})
		}
	case ts == nil:
		names, err := c.ListDatabaseNames(ctx, bson.D{})
		if err != nil {
			return nil, fmt.Errorf("listDatabases: %w", err)
		}
		for _, n := range names {
			if !slices.Contains(systemDatabases, n) && !strings.HasPrefix(n, scratchPrefix) {
				out = append(out, dbPair{n, n})
			}
		}
	case len(own) > 0:
		if ts.name != "" && len(own) != 1 {
			return nil, oneNameError(*ts, "the source", own)
		}
		for _, db := range own {
			to, err := ts.dest(db)
			if err != nil {
				return nil, err
			}
			out = append(out, dbPair{to, db})
		}
	case ts.renames != nil:
		for from, to := range ts.renames {
			out = append(out, dbPair{to, from})
		}
	case ts.pattern != "":
		// The Source's databases are whatever exists: find the target's by
		// the pattern.
		pre, suf, _ := strings.Cut(ts.pattern, "*")
		names, err := c.ListDatabaseNames(ctx, bson.D{})
		if err != nil {
			return nil, fmt.Errorf("listDatabases: %w", err)
		}
		for _, n := range names {
			if len(n) > len(pre)+len(suf) && strings.HasPrefix(n, pre) && strings.HasSuffix(n, suf) {
				out = append(out, dbPair{n, n[len(pre) : len(n)-len(suf)]})
			}
		}
	default:
		return nil, oneNameError(*ts, "the source", nil)
	}
	slices.SortFunc(out, func(a, b dbPair) int { return strings.Compare(a.label, b.label) })
	return out, nil
}

// targetNames maps the archive's databases to the restore's, refusing a
// target that does not give each a valid database of its own.
func targetNames(dbs []string, ts targetSpec) (map[string]string, error) {
	m := map[string]string{}
	if ts.raw == "" {
		for _, db := range dbs {
			m[db] = db
		}
		return m, nil
	}
	if ts.name != "" && len(dbs) > 1 {
		return nil, fmt.Errorf("the archive holds %d databases (%s); a Target that names one database renames exactly one; give a map (a=a2,b=b2) or a pattern (*_copy)",
			len(dbs), strings.Join(dbs, ", "))
	}
	seen := map[string]string{}
	for _, db := range dbs {
		to, err := ts.dest(db)
		if err != nil {
			return nil, err
		}
		if other, dup := seen[to]; dup {
			return nil, fmt.Errorf("target %q puts databases %q and %q both into %q", ts.raw, other, db, to)
		}
		m[db], seen[to] = to, db
	}
	return m, nil
}

// scratchPrefix starts every scratch database name.
const scratchPrefix = "backupkit_scratch_"

// scratchHintBytes is the most of a hint a scratch name keeps.
const scratchHintBytes = 20

// scratchName matches the names ScratchTarget makes for a Source of one
// database, and nothing else.
var scratchName = regexp.MustCompile(`^backupkit_scratch_[A-Za-z0-9_]{0,20}_[0-9a-f]{16}$`)

// scratchPattern matches the patterns ScratchTarget makes for a Source of
// several databases, and nothing else.
var scratchPattern = regexp.MustCompile(`^backupkit_scratch_[A-Za-z0-9_]{0,20}_[0-9a-f]{8}_\*$`)
