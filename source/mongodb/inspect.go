package mongodb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"golang.org/x/sync/errgroup"

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

// oneDatabase returns the Source's database when it names exactly one.
func (s *Source) oneDatabase() (string, error) {
	if len(s.databases) != 1 {
		return "", errors.New("the source must name exactly one database (a restore target renames one database)")
	}
	return s.databases[0], nil
}

// Inspect reports what the database target holds ("" means the Source's own
// databases), under the names Snapshot gives them: one Item per collection
// ("db.collection", where db is the Source's own database even for another
// target), with its document count, the total size of its documents and a
// Checksum over its documents and indexes (see docs/mongodb.md), and
// Details["indexes"], the number of indexes. It reads every document, as a
// snapshot does. It applies the Source's collection patterns (Restore with
// DropExisting touches only those collections unless it drops whole
// databases) but not its Filters (Restore replaces whole collections).
// Views and system collections are left out, as in Snapshot. A target
// other than "" needs a Source of exactly one database. A database that does
// not exist or has no collections gives an Info with no Items.
func (s *Source) Inspect(ctx context.Context, target string) (source.Info, error) {
	info := source.Info{Kind: Kind, Format: Format, Location: s.location, Details: map[string]string{}}
	if err := ctx.Err(); err != nil {
		return info, fmt.Errorf("mongodb: inspect: %w", err)
	}
	t := s.forTarget(target)
	var own string
	if target != "" {
		var err error
		if own, err = s.oneDatabase(); err != nil {
			return info, fmt.Errorf("mongodb: inspect %s: %w", target, err)
		}
		if err := Databases(target)(&Source{}); err != nil {
			return info, fmt.Errorf("mongodb: inspect: target: %w", err)
		}
		info.Location = t.location
	}
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
	cur, err := c.Database(p.coll.DB).Collection(p.coll.Collection).Find(ctx, bson.D{})
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

// forTarget returns a copy of s that reads the database target ("" means
// s's own databases) without Filters, matching collection patterns against
// s's own database name.
func (s *Source) forTarget(target string) *Source {
	t := *s
	t.filters = nil
	if target != "" {
		t.databases = []string{target}
		if len(s.databases) == 1 {
			t.patternDB = s.databases[0]
		}
		t.location = s.location[:strings.LastIndexByte(s.location, '/')+1] + target
	}
	return &t
}

// TargetSource returns a Source that snapshots the database target ("" means
// the Source's own databases) with the same connection and collection
// patterns but no Filters, so that a safety backup holds the whole of every
// collection a restore with DropExisting would replace. Collection patterns
// that name a database ("shop.orders*") are matched against the Source's own
// database name.
func (s *Source) TargetSource(target string) (source.Source, error) {
	if target != "" {
		if _, err := s.oneDatabase(); err != nil {
			return nil, fmt.Errorf("mongodb: target source %s: %w", target, err)
		}
		if err := Databases(target)(&Source{}); err != nil {
			return nil, fmt.Errorf("mongodb: target source: %w", err)
		}
	}
	return s.forTarget(target), nil
}

// scratchPrefix starts every scratch database name.
const scratchPrefix = "backupkit_scratch_"

// scratchName matches the names ScratchTarget makes, and nothing else.
var scratchName = regexp.MustCompile(`^backupkit_scratch_[A-Za-z0-9_]{0,20}_[0-9a-f]{16}$`)

// ScratchTarget returns the name of a new database,
// "backupkit_scratch_<hint>_<16 random hex digits>" where hint keeps only
// its first 20 ASCII letters, digits and '_', that does not exist on the
// server.
// It creates nothing. The Source must name exactly one database, because a
// restore into another database renames exactly one.
func (s *Source) ScratchTarget(ctx context.Context, hint string) (string, error) {
	if _, err := s.oneDatabase(); err != nil {
		return "", fmt.Errorf("mongodb: scratch target: %w", err)
	}
	c, err := s.connect(ctx)
	if err != nil {
		return "", fmt.Errorf("mongodb: scratch target: %w", err)
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	existing, err := c.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		return "", fmt.Errorf("mongodb: scratch target: listDatabases on %s: %w", s.location, s.scrub(err))
	}
	for range 10 {
		name := setsum.ScratchName(scratchPrefix, hint, 20, "_")
		if !slices.Contains(existing, name) {
			return name, nil
		}
	}
	return "", errors.New("mongodb: scratch target: no unused name")
}

// DropTarget drops the scratch database target; one that does not exist is
// not an error. It refuses, dropping nothing, "" and the Source's own
// databases, and any name that is not of the form ScratchTarget returns.
func (s *Source) DropTarget(ctx context.Context, target string) error {
	if target == "" || slices.Contains(s.databases, target) {
		return fmt.Errorf("mongodb: drop target: refusing to drop the source's own database %q", target)
	}
	if !scratchName.MatchString(target) {
		return fmt.Errorf("mongodb: drop target: refusing to drop %q: not a scratch database (%s<hint>_<id>)", target, scratchPrefix)
	}
	c, err := s.connect(ctx)
	if err != nil {
		return fmt.Errorf("mongodb: drop target: %w", err)
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	if err := c.Database(target).Drop(ctx); err != nil {
		return fmt.Errorf("mongodb: drop target %s: %w", target, s.scrub(err))
	}
	return nil
}
