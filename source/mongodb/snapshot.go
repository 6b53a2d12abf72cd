package mongodb

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/mongodb/archive"
)

// segmentBytes is the size at which a reader hands a batch of documents to
// the writer; each batch becomes one archive segment.
const segmentBytes = 1 << 20

// planned is one namespace to dump.
type planned struct {
	coll    archive.Collection
	db      string // the database read: coll.DB, or the restore target's
	filter  bson.Raw
	data    bool       // read documents (collections, not views)
	indexes []bson.Raw // listIndexes' specifications
	count   atomic.Int64
	bytes   atomic.Int64
	docs    docSet // the documents read, by the one reader of the collection
}

// batch is a run of documents of one namespace, or its end.
type batch struct {
	p    *planned
	docs [][]byte
	end  bool
}

// Snapshot dumps the selected databases as a mongodump archive to w. See
// the package documentation and docs/mongodb.md.
func (s *Source) Snapshot(ctx context.Context, w io.Writer) (source.Info, error) {
	info := source.Info{Kind: Kind, Format: Format, Location: s.location, Details: map[string]string{}}
	if err := ctx.Err(); err != nil {
		return info, fmt.Errorf("mongodb: snapshot: %w", err)
	}
	c, err := s.connect(ctx)
	if err != nil {
		return info, fmt.Errorf("mongodb: snapshot: %w", err)
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	fail := func(what string, err error) (source.Info, error) {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			return info, fmt.Errorf("mongodb: snapshot of %s: %s: %s: %w", s.location, what, s.scrub(err), ctx.Err())
		}
		return info, fmt.Errorf("mongodb: snapshot of %s: %s: %w", s.location, what, s.scrub(err))
	}

	version, replicated, why, err := serverInfo(ctx, c)
	if err != nil {
		return fail("server info", err)
	}
	info.ServerVersion = version

	var snapTime *bson.Timestamp
	if replicated {
		if snapTime, err = clusterTime(ctx, c); err != nil {
			return fail("reading the cluster time", err)
		}
	}
	if snapTime != nil {
		info.PointInTime = true
		info.Details["consistency"] = "snapshot read concern at cluster time " + strconv.FormatUint(uint64(snapTime.T), 10) + "." + strconv.FormatUint(uint64(snapTime.I), 10)
	} else {
		if why == "" {
			why = "the server reported no cluster time"
		}
		info.Details["consistency"] = "not point-in-time: " + why + "; collections were read one after another while writes may continue"
	}

	plan, skipped, err := s.plan(ctx, c)
	if err != nil {
		return fail("listing collections", err)
	}
	if len(skipped) > 0 {
		info.Details["skipped"] = strings.Join(skipped, ", ")
	}
	colls := make([]archive.Collection, len(plan))
	for i, p := range plan {
		colls[i] = p.coll
	}
	aw, err := archive.NewWriter(w, archive.Header{
		ConcurrentCollections: int32(s.parallel), Version: archive.FormatVersion,
		ServerVersion: version, ToolVersion: ToolVersion,
	}, colls)
	if err != nil {
		return info, fmt.Errorf("mongodb: snapshot: %w", err)
	}

	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan batch, s.parallel)
	g, gctx := errgroup.WithContext(pctx)
	g.SetLimit(s.parallel)
	perrc := make(chan error, 1)
	go func() {
		for _, p := range plan {
			if !p.data {
				continue
			}
			g.Go(func() error { return s.readCollection(gctx, c, snapTime, p, ch) })
		}
		perrc <- g.Wait()
		close(ch)
	}()
	var werr error
	for b := range ch {
		if werr != nil {
			continue // drain until the readers stop
		}
		if b.end {
			werr = aw.EndNamespace(b.p.coll.DB, b.p.coll.Collection)
		} else {
			werr = aw.WriteSegment(b.p.coll.DB, b.p.coll.Collection, b.docs...)
		}
		if werr != nil {
			cancel()
		}
	}
	perr := <-perrc
	if err := ctx.Err(); err != nil {
		return info, fmt.Errorf("mongodb: snapshot of %s: %w", s.location, err)
	}
	if werr != nil {
		return info, fmt.Errorf("mongodb: snapshot of %s: writing: %w", s.location, werr)
	}
	if perr != nil {
		return fail("reading", perr)
	}
	if err := aw.Close(); err != nil {
		return info, fmt.Errorf("mongodb: snapshot of %s: writing: %w", s.location, err)
	}
	views := 0
	for _, p := range plan {
		if !p.data {
			views++
			continue
		}
		info.Items = append(info.Items, p.item(p.coll.Namespace()))
	}
	info.Details["collections"] = strconv.Itoa(len(info.Items))
	info.Details["indexes"] = strconv.Itoa(indexCount(plan))
	info.Details["views"] = strconv.Itoa(views)
	return info, nil
}

// clusterTime returns the deployment's current operation time, at which all
// collections are then read with readConcern snapshot.
func clusterTime(ctx context.Context, c *mongo.Client) (*bson.Timestamp, error) {
	sess, err := c.StartSession()
	if err != nil {
		return nil, err
	}
	defer sess.EndSession(context.WithoutCancel(ctx))
	sctx := mongo.NewSessionContext(ctx, sess)
	if err := c.Database("admin").RunCommand(sctx, bson.D{{Key: "ping", Value: 1}}).Err(); err != nil {
		return nil, err
	}
	return sess.OperationTime(), nil
}

// readCollection reads one collection and hands its documents to the writer
// in batches of about segmentBytes, then its end.
func (s *Source) readCollection(ctx context.Context, c *mongo.Client, snapTime *bson.Timestamp, p *planned, ch chan<- batch) error {
	if snapTime != nil {
		sess, err := c.StartSession(options.Session().SetSnapshot(true).SetSnapshotTime(*snapTime))
		if err != nil {
			return fmt.Errorf("%s: %w", p.coll.Namespace(), err)
		}
		defer sess.EndSession(context.WithoutCancel(ctx))
		ctx = mongo.NewSessionContext(ctx, sess)
	}
	filter := any(bson.D{})
	if p.filter != nil {
		filter = p.filter
	}
	cur, err := c.Database(p.db).Collection(p.coll.Collection).Find(ctx, filter)
	if err != nil {
		return fmt.Errorf("%s: find: %w", p.coll.Namespace(), err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	send := func(b batch) error {
		select {
		case ch <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var docs [][]byte
	size := 0
	for cur.Next(ctx) {
		d := bytes.Clone(cur.Current)
		docs = append(docs, d)
		size += len(d)
		p.docs.add(d)
		p.count.Add(1)
		p.bytes.Add(int64(len(d)))
		if size >= segmentBytes {
			if err := send(batch{p: p, docs: docs}); err != nil {
				return err
			}
			docs, size = nil, 0
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("%s: reading: %w", p.coll.Namespace(), err)
	}
	if len(docs) > 0 {
		if err := send(batch{p: p, docs: docs}); err != nil {
			return err
		}
	}
	return send(batch{p: p, end: true})
}

// plan lists the namespaces to dump, sorted by database and name, with
// their metadata. It returns what it skipped and why.
func (s *Source) plan(ctx context.Context, c *mongo.Client) ([]*planned, []string, error) {
	dbs, err := s.dbPairs(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	var plan []*planned
	var skipped []string
	for _, pair := range dbs {
		db, label := pair.real, pair.label
		cur, err := c.Database(db).ListCollections(ctx, bson.D{})
		if err != nil {
			return nil, nil, fmt.Errorf("%s: listCollections: %w", db, err)
		}
		var specs []bson.Raw
		for cur.Next(ctx) {
			specs = append(specs, bytes.Clone(cur.Current))
		}
		err = cur.Err()
		cur.Close(context.WithoutCancel(ctx))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: listCollections: %w", db, err)
		}
		for _, spec := range specs {
			name, _ := spec.Lookup("name").StringValueOK()
			typ, _ := spec.Lookup("type").StringValueOK()
			if name == "" || strings.HasPrefix(name, "system.") || !s.matches(label, name) {
				continue
			}
			ns := label + "." + name
			var md archive.Metadata
			md.CollectionName = name
			md.Type = typ
			if o, ok := spec.Lookup("options").DocumentOK(); ok {
				md.Options = o
			}
			if _, data, ok := spec.Lookup("info", "uuid").BinaryOK(); ok {
				md.UUID = hex.EncodeToString(data)
			}
			p := &planned{filter: s.filters[ns], db: db}
			switch typ {
			case "", "collection":
				p.data = true
				ix, err := c.Database(db).Collection(name).Indexes().List(ctx)
				if err != nil {
					return nil, nil, fmt.Errorf("%s: listIndexes: %w", ns, err)
				}
				for ix.Next(ctx) {
					md.Indexes = append(md.Indexes, bytes.Clone(ix.Current))
				}
				p.indexes = md.Indexes
				err = ix.Err()
				ix.Close(context.WithoutCancel(ctx))
				if err != nil {
					return nil, nil, fmt.Errorf("%s: listIndexes: %w", ns, err)
				}
			case "view":
			default:
				skipped = append(skipped, ns+" ("+typ+" collections are not supported)")
				continue
			}
			meta, err := md.Marshal()
			if err != nil {
				return nil, nil, err
			}
			atype := archive.TypeCollection
			if typ == "view" {
				atype = archive.TypeView
			}
			p.coll = archive.Collection{DB: label, Collection: name, Metadata: meta, Type: atype}
			plan = append(plan, p)
		}
	}
	return plan, skipped, nil
}
