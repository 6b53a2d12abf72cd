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

	"github.com/backupkit/backupkit/internal/dbtarget"
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

// parseTarget parses a RestoreOptions.Target: "" (each database under its
// own name), a database name, a rename map "a=a2,b=b2" or a pattern with
// one '*' ("*_copy").
func parseTarget(s string) (dbtarget.Spec, error) { return dbtarget.Parse(s, checkName, checkName) }

// dest maps the database db (the archive's or the Source's name) to the
// database the target puts it in.
func dest(ts dbtarget.Spec, db string) (string, error) {
	to := db
	switch {
	case ts.Name != "":
		to = ts.Name
	case ts.Renames != nil:
		var ok bool
		if to, ok = ts.Renames[db]; !ok {
			return "", fmt.Errorf("target %q has no entry for database %q", ts.Raw, db)
		}
	case ts.Pattern != "":
		to = strings.Replace(ts.Pattern, "*", db, 1)
	}
	if err := checkName(to); err != nil {
		return "", fmt.Errorf("target %q for database %q: %w", ts.Raw, db, err)
	}
	return to, nil
}

// oneNameError is the error for a target that names one database when
// there are n (the names; none for a Source of every database).
func oneNameError(ts dbtarget.Spec, what string, dbs []string) error {
	have := fmt.Sprintf("%d databases (%s)", len(dbs), strings.Join(dbs, ", "))
	if len(dbs) == 0 {
		have = "every database"
	}
	return fmt.Errorf("target %q names one database, which renames exactly one database, but %s holds %s; give a map (a=a2,b=b2) or a pattern (*_copy)",
		ts.Raw, what, have)
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
		if ts.Name != "" && len(own) != 1 {
			return nil, oneNameError(*ts, "the source", own)
		}
		for _, db := range own {
			to, err := dest(*ts, db)
			if err != nil {
				return nil, err
			}
			out = append(out, dbPair{to, db})
		}
	case ts.Renames != nil:
		for from, to := range ts.Renames {
			out = append(out, dbPair{to, from})
		}
	case ts.Pattern != "":
		// The Source's databases are whatever exists: find the target's by
		// the pattern.
		pre, suf, _ := strings.Cut(ts.Pattern, "*")
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
func targetNames(dbs []string, ts dbtarget.Spec) (map[string]string, error) {
	m := map[string]string{}
	if ts.Raw == "" {
		for _, db := range dbs {
			m[db] = db
		}
		return m, nil
	}
	if ts.Name != "" && len(dbs) > 1 {
		return nil, fmt.Errorf("the archive holds %d databases (%s); a Target that names one database renames exactly one; give a map (a=a2,b=b2) or a pattern (*_copy)",
			len(dbs), strings.Join(dbs, ", "))
	}
	seen := map[string]string{}
	for _, db := range dbs {
		to, err := dest(ts, db)
		if err != nil {
			return nil, err
		}
		if other, dup := seen[to]; dup {
			return nil, fmt.Errorf("target %q puts databases %q and %q both into %q", ts.Raw, other, db, to)
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
