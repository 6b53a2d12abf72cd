package mongodb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"golang.org/x/sync/errgroup"

	"github.com/backupkit/backupkit/internal/dbtarget"
	"github.com/backupkit/backupkit/internal/setsum"
	"github.com/backupkit/backupkit/source"
)

var (
	_ source.Inspector     = (*Source)(nil)
	_ source.Scratcher     = (*Source)(nil)
	_ source.TargetSourcer = (*Source)(nil)
)

// checksumPrefix starts every Item.Checksum of this adapter.
const checksumPrefix = "bson-set-sha256:"

// docSet is the order-independent digest of a collection's documents: the
// SHA-256 of each document's raw BSON, in a setsum.Set.
type docSet struct{ setsum.Set }

func (d *docSet) add(doc []byte) { d.Add(sha256.Sum256(doc)) }

// item returns p's Item named name, with its checksum.
func (p *planned) item(name string) source.Item {
	return source.Item{Name: name, Count: p.count.Load(), Bytes: p.bytes.Load(), Checksum: checksum(&p.docs, p.indexes)}
}

// checksum combines a collection's document digest, its document count and
// its indexes (name, key and unique flag of each, sorted by name) into an
// Item.Checksum. Other index options are left out: FerretDB does not keep
// all of them (see docs/mongodb.md).
func checksum(docs *docSet, indexes []bson.Raw) string {
	h := sha256.New()
	docs.HashInto(h) // with the document count
	specs := make([]string, 0, len(indexes))
	for _, ix := range indexes {
		name, _ := ix.Lookup("name").StringValueOK()
		key, _ := ix.Lookup("key").DocumentOK()
		unique, _ := ix.Lookup("unique").BooleanOK()
		specs = append(specs, strconv.Itoa(len(name))+":"+name+"\x00"+indexKey(key)+"\x00"+strconv.FormatBool(unique))
	}
	slices.Sort(specs)
	for _, sp := range specs {
		h.Write([]byte(sp))
		h.Write([]byte{'\n'})
	}
	return checksumPrefix + hex.EncodeToString(h.Sum(nil))
}

// indexKey renders an index key document with its numbers as decimal
// values, so that 1 as int32, int64 or double compare equal.
func indexKey(key bson.Raw) string {
	elems, err := key.Elements()
	if err != nil {
		return hex.EncodeToString(key)
	}
	var sb strings.Builder
	for _, e := range elems {
		sb.WriteString(strconv.Quote(e.Key()))
		sb.WriteByte('=')
		v := e.Value()
		if f, ok := v.AsFloat64OK(); ok {
			sb.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
		} else {
			sb.WriteString(v.String())
		}
		sb.WriteByte(';')
	}
	return sb.String()
}

// indexCount returns the number of indexes of the planned collections.
func indexCount(plan []*planned) int {
	n := 0
	for _, p := range plan {
		n += len(p.indexes)
	}
	return n
}

// Inspect reports what the restore target target holds ("" means the
// Source's own databases; otherwise RestoreOptions.Target syntax, see the
// package documentation), under the names Snapshot gives them: one Item per
// collection ("db.collection", where db is the Source's own database name
// even when another database is read), with its document count, the total
// size of its documents and a Checksum over its documents and indexes (see
// docs/mongodb.md), and Details["indexes"], the number of indexes. It reads
// every document, as a snapshot does. It applies the Source's collection
// patterns (Restore with DropExisting touches only those collections unless
// it drops whole databases) but not its Filters (Restore replaces whole
// collections). Views and system collections are left out, as in Snapshot.
// A target that names one database needs a Source of exactly one database;
// a Source of several takes a map ("a=a2,b=b2", with an entry for each of
// its databases) or a pattern ("*_copy"). Databases that do not exist or
// have no collections give no Items.
func (s *Source) Inspect(ctx context.Context, target string) (source.Info, error) {
	info := source.Info{Kind: Kind, Format: Format, Location: s.location, Details: map[string]string{}}
	if err := ctx.Err(); err != nil {
		return info, fmt.Errorf("mongodb: inspect: %w", err)
	}
	t, err := s.forTarget(target)
	if err != nil {
		return info, fmt.Errorf("mongodb: inspect %s: %w", target, err)
	}
	var own string
	if target != "" && len(s.databases) == 1 {
		own = s.databases[0]
	}
	info.Location = t.location
	c, err := s.connect(ctx)
	if err != nil {
		return info, fmt.Errorf("mongodb: inspect: %w", err)
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	fail := func(err error) (source.Info, error) {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			return info, fmt.Errorf("mongodb: inspect %s: %s: %w", t.location, s.scrub(err), ctx.Err())
		}
		return info, fmt.Errorf("mongodb: inspect %s: %w", t.location, s.scrub(err))
	}
	plan, _, err := t.plan(ctx, c)
	if err != nil {
		return fail(err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.parallel)
	for _, p := range plan {
		if p.data {
			g.Go(func() error { return readAll(gctx, c, p) })
		}
	}
	if err := g.Wait(); err != nil {
		return fail(err)
	}
	for _, p := range plan {
		if !p.data {
			continue
		}
		name := p.coll.Namespace()
		if own != "" {
			name = own + "." + p.coll.Collection
		}
		info.Items = append(info.Items, p.item(name))
	}
	info.Details["collections"] = strconv.Itoa(len(info.Items))
	info.Details["indexes"] = strconv.Itoa(indexCount(plan))
	return info, nil
}

// readAll reads every document of p's collection into its count, bytes and
// digest.
func readAll(ctx context.Context, c *mongo.Client, p *planned) error {
	cur, err := c.Database(p.db).Collection(p.coll.Collection).Find(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("%s: find: %w", p.coll.Namespace(), err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	for cur.Next(ctx) {
		p.docs.add(cur.Current)
		p.count.Add(1)
		p.bytes.Add(int64(len(cur.Current)))
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("%s: reading: %w", p.coll.Namespace(), err)
	}
	return nil
}

// forTarget returns a copy of s that reads the restore target target ("" means
// s's own databases) without Filters, matching collection patterns against
// s's own database names. For a Source of one database it reads the one
// database the target names (as before targets of several databases
// existed: the archive and Items name that database); for a Source of
// several (or all) databases it reads the target's databases under s's own
// names.
func (s *Source) forTarget(target string) (*Source, error) {
	t := *s
	t.filters = nil
	if target == "" {
		return &t, nil
	}
	ts, err := parseTarget(target)
	if err != nil {
		return nil, err
	}
	if len(s.databases) == 1 {
		real, err := dest(ts, s.databases[0])
		if err != nil {
			return nil, err
		}
		t.databases = []string{real}
		t.patternDB = s.databases[0]
		t.location = s.location[:strings.LastIndexByte(s.location, '/')+1] + real
		return &t, nil
	}
	if ts.Name != "" {
		own := slices.Clone(s.databases)
		slices.Sort(own)
		return nil, oneNameError(ts, "the source", slices.Compact(own))
	}
	t.target = &ts
	t.location = s.location[:strings.LastIndexByte(s.location, '/')+1] + target
	return &t, nil
}

// TargetSource returns a Source that snapshots the restore target target
// ("" means the Source's own databases; otherwise RestoreOptions.Target
// syntax, accepted as by Inspect) with the same connection and collection
// patterns but no Filters, so that a safety backup holds the whole of every
// collection a restore with DropExisting would replace. Collection patterns
// that name a database ("shop.orders*") are matched against the Source's own
// database names. For a Source of one database, the snapshot names the
// target database as it is; for a Source of several, its archive and Items
// name each database with the Source's name, so that Restore with the same
// Target puts it back where it was read.
func (s *Source) TargetSource(target string) (source.Source, error) {
	t, err := s.forTarget(target)
	if err != nil {
		return nil, fmt.Errorf("mongodb: target source %s: %w", target, err)
	}
	return t, nil
}

// ScratchTarget returns an unused RestoreOptions.Target for a test restore.
// For a Source of one database it is the name of a new database,
// "backupkit_scratch_<hint>_<16 random hex digits>", where hint keeps only
// its first 20 ASCII letters, digits and '_'. For a Source of several (or
// all) databases it is a pattern of such names,
// "backupkit_scratch_<hint>_<8 random hex digits>_*", whose expansion for
// each of the Source's databases is a valid database name (the hint is cut
// further to keep it within 63 bytes; a database name longer than 35 bytes
// leaves no room, which is an error) and such that no existing database
// starts with the pattern's prefix. It creates nothing.
func (s *Source) ScratchTarget(ctx context.Context, hint string) (string, error) {
	c, err := s.connect(ctx)
	if err != nil {
		return "", fmt.Errorf("mongodb: scratch target: %w", err)
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	existing, err := c.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		return "", fmt.Errorf("mongodb: scratch target: listDatabases on %s: %w", s.location, s.scrub(err))
	}
	if len(s.databases) == 1 {
		for range 10 {
			name := setsum.ScratchName(scratchPrefix, hint, scratchHintBytes, "_")
			if !slices.Contains(existing, name) {
				return name, nil
			}
		}
		return "", errors.New("mongodb: scratch target: no unused name")
	}
	own, err := s.dbPairs(ctx, c)
	if err != nil {
		return "", fmt.Errorf("mongodb: scratch target: %s: %w", s.location, s.scrub(err))
	}
	longest := 0
	for _, p := range own {
		longest = max(longest, len(p.label))
	}
	// prefix, hint, "_", 8 hex digits, "_", database name
	room := min(scratchHintBytes, maxNameBytes-len(scratchPrefix)-1-8-1-longest)
	if room < 0 {
		return "", fmt.Errorf("mongodb: scratch target: a database name of %d bytes leaves no room for a scratch name: names have at most %d bytes, %d with the scratch prefix",
			longest, maxNameBytes, maxNameBytes-len(scratchPrefix)-1-8-1)
	}
	for range 10 {
		name := setsum.ScratchName(scratchPrefix, hint, room, "_")
		name = name[:len(name)-8] + "_" // 8 of the 16 random hex digits: room for the names
		if !slices.ContainsFunc(existing, func(n string) bool { return strings.HasPrefix(n, name) }) {
			return name + "*", nil
		}
	}
	return "", errors.New("mongodb: scratch target: no unused name")
}

// DropTarget drops the scratch target target; databases that do not exist
// are not an error. target is a name ScratchTarget returns for a Source of
// one database ("backupkit_scratch_<hint>_<id>"), or a pattern it returns
// for a Source of several ("backupkit_scratch_<hint>_<id8>_*"), of which it
// drops the expansion for each of the Source's databases (for a Source of
// every database: each database whose name starts with the pattern's
// prefix). It refuses, dropping nothing, "", the Source's own databases
// and any other target.
func (s *Source) DropTarget(ctx context.Context, target string) error {
	if target == "" || slices.Contains(s.databases, target) {
		return fmt.Errorf("mongodb: drop target: refusing to drop the source's own database %q", target)
	}
	pattern := scratchPattern.MatchString(target)
	if !scratchName.MatchString(target) && !pattern {
		return fmt.Errorf("mongodb: drop target: refusing to drop %q: not a scratch database (%s<hint>_<id>, or %s<hint>_<id>_* for a source of several databases)",
			target, scratchPrefix, scratchPrefix)
	}
	c, err := s.connect(ctx)
	if err != nil {
		return fmt.Errorf("mongodb: drop target: %w", err)
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	drop := []string{target}
	if pattern {
		t := *s
		t.target = &dbtarget.Spec{Raw: target, Pattern: target}
		pairs, err := t.dbPairs(ctx, c)
		if err != nil {
			return fmt.Errorf("mongodb: drop target %s: %w", target, s.scrub(err))
		}
		drop = drop[:0]
		for _, p := range pairs {
			if slices.Contains(s.databases, p.real) || !strings.HasPrefix(p.real, strings.TrimSuffix(target, "*")) {
				return fmt.Errorf("mongodb: drop target %s: refusing to drop %q, one of the source's own databases", target, p.real)
			}
			drop = append(drop, p.real)
		}
	}
	for _, db := range drop {
		if err := c.Database(db).Drop(ctx); err != nil {
			return fmt.Errorf("mongodb: drop target %s: %w", db, s.scrub(err))
		}
	}
	return nil
}
