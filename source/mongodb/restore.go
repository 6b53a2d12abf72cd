package mongodb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/mongodb/archive"
)

// batchBytes is the size at which Restore cuts an insert batch.
const batchBytes = 4 << 20

// pendingBytes bounds the documents Restore holds in unfinished batches of
// all namespaces together (an archive interleaves many); beyond it, every
// pending batch is sent.
const pendingBytes = 16 << 20

// Restore loads a mongodump archive (written by Snapshot or by mongodump,
// plain or gzipped) from r.
//
// It runs in two passes. The first reads r to its end, validating the whole
// stream (structure, BSON, CRCs) while spooling it to a temporary file; a
// corrupt or truncated stream, a reader error or a canceled context stops the
// restore there, before anything is written to the server. With opts.DryRun
// it stops after this pass. The second pass connects, checks the targets,
// creates the collections with their options, inserts the documents in
// batches (several collections at once, see [Parallel] and
// [BatchDocuments]), then creates the indexes and the views.
//
// opts.Target says where each database of the archive goes (see the package
// documentation): "" keeps each database's name, a database name renames
// the archive's one database (an archive of several is refused), a map
// "a=a2,b=b2" renames each database (each must have an entry, and two may
// not map to one name), and a pattern with one '*' ("*_copy") puts each
// database db into the pattern with db for the '*'. A target that is not
// valid for the archive is refused before anything is written.
//
// Without opts.DropExisting, Restore refuses when any collection it would
// create already exists. With it, each target database is dropped first
// when the Source selects whole databases (no collection patterns or
// filters), otherwise only the archive's collections are dropped. If the
// second pass fails, the collections it created are dropped again; data that
// DropExisting removed is not brought back.
//
// The spool departs from the rule against whole backups on temporary disk.
// It stays because the streaming alternative (load into a scratch database,
// then renameCollection with dropTarget) is not available on FerretDB, and is
// not atomic across collections on MongoDB either; docs/mongodb.md ("The
// restore guarantee") has the details and the table of what each failure
// leaves at the target.
func (s *Source) Restore(ctx context.Context, r io.Reader, opts source.RestoreOptions) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mongodb: restore: %w", err)
	}
	ts, err := parseTarget(opts.Target)
	if err != nil {
		return fmt.Errorf("mongodb: restore: %w", err)
	}
	var spool *os.File
	in := r
	if !opts.DryRun {
		f, err := os.CreateTemp(s.tempDir, "backupkit-mongodb-restore-*")
		if err != nil {
			return fmt.Errorf("mongodb: restore: spool file: %w", err)
		}
		defer os.Remove(f.Name())
		defer f.Close()
		spool = f
		in = io.TeeReader(r, f)
	}
	colls, err := validate(ctx, in)
	if err != nil {
		return fmt.Errorf("mongodb: restore: %w", err)
	}
	dbs := make([]string, 0, len(colls))
	for _, c := range colls {
		dbs = append(dbs, c.DB)
	}
	slices.Sort(dbs)
	rename, err := targetNames(slices.Compact(dbs), ts)
	if err != nil {
		return fmt.Errorf("mongodb: restore: %w", err)
	}
	if opts.DryRun {
		return nil
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("mongodb: restore: spool file: %w", err)
	}
	c, err := s.connect(ctx)
	if err != nil {
		return fmt.Errorf("mongodb: restore: %w", err)
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	l := &loader{s: s, c: c, rename: rename}
	if err := l.run(ctx, spool, colls, opts.DropExisting); err != nil {
		l.cleanup(context.WithoutCancel(ctx))
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			return fmt.Errorf("mongodb: restore into %s: %s: %w", s.location, s.scrub(err), ctx.Err())
		}
		return fmt.Errorf("mongodb: restore into %s: %w", s.location, s.scrub(err))
	}
	return nil
}

// validate reads the whole archive from r, checking it, and returns its
// prelude. It reads r to io.EOF.
func validate(ctx context.Context, r io.Reader) ([]archive.Collection, error) {
	ar, err := archive.NewReader(r)
	if err != nil {
		return nil, err
	}
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		_, err := ar.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	// A gzipped archive ends before its reader's end; read the rest, so that
	// an error the reader reports at its end (a checksum) is seen.
	if n, err := io.Copy(io.Discard, r); err != nil {
		return nil, err
	} else if n > 0 {
		return nil, fmt.Errorf("archive: %w: %d bytes after the end of the gzip stream", archive.ErrCorrupt, n)
	}
	return ar.Collections(), ctx.Err()
}

// loader is the second pass of a Restore.
type loader struct {
	s       *Source
	c       *mongo.Client
	rename  map[string]string
	created [][2]string // db, collection
}

type restoreNS struct {
	db, coll string // target names
	md       archive.Metadata
	view     bool
	worker   int
}

func (l *loader) run(ctx context.Context, spool io.Reader, colls []archive.Collection, drop bool) error {
	nss := map[[2]string]*restoreNS{}
	var order []*restoreNS
	for i, c := range colls {
		md, err := archive.ParseMetadata(c.Metadata)
		if err != nil {
			return fmt.Errorf("%s: %w", c.Namespace(), err)
		}
		n := &restoreNS{db: l.rename[c.DB], coll: c.Collection, md: md, worker: i % l.s.parallel,
			view: c.Type == archive.TypeView || md.Type == "view"}
		nss[[2]string{c.DB, c.Collection}] = n
		order = append(order, n)
	}
	// Check or clear the targets.
	dbs := map[string]bool{}
	for _, n := range order {
		dbs[n.db] = true
	}
	wholeDB := len(l.s.include) == 0 && len(l.s.exclude) == 0 && len(l.s.filters) == 0
	for db := range dbs {
		existing, err := l.c.Database(db).ListCollectionNames(ctx, bson.D{})
		if err != nil {
			return fmt.Errorf("%s: listCollections: %w", db, err)
		}
		if drop && wholeDB {
			if err := l.c.Database(db).Drop(ctx); err != nil {
				return fmt.Errorf("dropping database %s: %w", db, err)
			}
			continue
		}
		for _, n := range order {
			if n.db != db || !slices.Contains(existing, n.coll) {
				continue
			}
			if !drop {
				return fmt.Errorf("%s.%s already exists; restore with DropExisting to replace it", n.db, n.coll)
			}
			if err := l.c.Database(db).Collection(n.coll).Drop(ctx); err != nil {
				return fmt.Errorf("dropping %s.%s: %w", n.db, n.coll, err)
			}
		}
	}
	// Collections with their options.
	for _, n := range order {
		if n.view {
			continue
		}
		if err := l.create(ctx, n); err != nil {
			return err
		}
	}
	if err := l.load(ctx, spool, nss); err != nil {
		return err
	}
	for _, n := range order {
		if n.view {
			continue
		}
		if err := l.createIndexes(ctx, n); err != nil {
			return err
		}
	}
	for _, n := range order {
		if n.view {
			if err := l.create(ctx, n); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *loader) create(ctx context.Context, n *restoreNS) error {
	cmd := bson.D{{Key: "create", Value: n.coll}}
	if len(n.md.Options) > 5 {
		elems, err := n.md.Options.Elements()
		if err != nil {
			return fmt.Errorf("%s.%s: options: %w", n.db, n.coll, err)
		}
		for _, e := range elems {
			cmd = append(cmd, bson.E{Key: e.Key(), Value: e.Value()})
		}
	}
	if err := l.c.Database(n.db).RunCommand(ctx, cmd).Err(); err != nil {
		return fmt.Errorf("creating %s.%s: %w", n.db, n.coll, err)
	}
	l.created = append(l.created, [2]string{n.db, n.coll})
	return nil
}

// createIndexes creates the indexes of n other than _id's, without the
// obsolete "ns" field.
func (l *loader) createIndexes(ctx context.Context, n *restoreNS) error {
	var specs, specsNoV bson.A
	for _, ix := range n.md.Indexes {
		if name, _ := ix.Lookup("name").StringValueOK(); name == "_id_" {
			continue
		}
		elems, err := ix.Elements()
		if err != nil {
			return fmt.Errorf("%s.%s: index: %w", n.db, n.coll, err)
		}
		var d, noV bson.D
		for _, e := range elems {
			if e.Key() != "ns" {
				d = append(d, bson.E{Key: e.Key(), Value: e.Value()})
				if e.Key() != "v" {
					noV = append(noV, bson.E{Key: e.Key(), Value: e.Value()})
				}
			}
		}
		specs = append(specs, d)
		specsNoV = append(specsNoV, noV)
	}
	if len(specs) == 0 {
		return nil
	}
	cmd := bson.D{{Key: "createIndexes", Value: n.coll}, {Key: "indexes", Value: specs}}
	err := l.c.Database(n.db).RunCommand(ctx, cmd).Err()
	if err != nil && strings.Contains(err.Error(), `option "v" is unknown`) {
		// FerretDB refuses the index version MongoDB reports; it has one.
		cmd[1].Value = specsNoV
		err = l.c.Database(n.db).RunCommand(ctx, cmd).Err()
	}
	if err != nil {
		return fmt.Errorf("creating the indexes of %s.%s: %w", n.db, n.coll, err)
	}
	return nil
}

type insertBatch struct {
	n    *restoreNS
	docs []any
}

// load reads the spooled archive and inserts its documents in batches, each
// namespace's batches in order by one of Parallel workers.
func (l *loader) load(ctx context.Context, spool io.Reader, nss map[[2]string]*restoreNS) error {
	ar, err := archive.NewReader(spool)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	chans := make([]chan insertBatch, l.s.parallel)
	for i := range chans {
		ch := make(chan insertBatch, 2)
		chans[i] = ch
		g.Go(func() error {
			for b := range ch {
				if gctx.Err() != nil {
					continue
				}
				_, err := l.c.Database(b.n.db).Collection(b.n.coll).InsertMany(gctx, b.docs, options.InsertMany().SetOrdered(true))
				if err != nil {
					return fmt.Errorf("inserting into %s.%s: %w", b.n.db, b.n.coll, err)
				}
			}
			return nil
		})
	}
	type pending struct {
		docs []any
		size int
	}
	pend := map[*restoreNS]*pending{}
	total := 0
	send := func(n *restoreNS) error {
		p := pend[n]
		if p == nil || len(p.docs) == 0 {
			return nil
		}
		total -= p.size
		select {
		case chans[n.worker] <- insertBatch{n: n, docs: p.docs}:
		case <-gctx.Done():
			return gctx.Err()
		}
		pend[n] = &pending{}
		return nil
	}
	rerr := func() error {
		for {
			it, err := ar.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			n := nss[[2]string{it.DB, it.Collection}]
			if it.EOF {
				if err := send(n); err != nil {
					return err
				}
				continue
			}
			if n.view {
				return fmt.Errorf("%s.%s is a view but the archive has documents for it", it.DB, it.Collection)
			}
			p := pend[n]
			if p == nil {
				p = &pending{}
				pend[n] = p
			}
			p.docs = append(p.docs, it.Doc)
			p.size += len(it.Doc)
			total += len(it.Doc)
			if len(p.docs) >= l.s.batchDocs || p.size >= batchBytes {
				if err := send(n); err != nil {
					return err
				}
			}
			if total >= pendingBytes {
				for m := range pend {
					if err := send(m); err != nil {
						return err
					}
				}
			}
		}
	}()
	for _, ch := range chans {
		close(ch)
	}
	werr := g.Wait()
	if werr != nil {
		return werr
	}
	if rerr != nil {
		return rerr
	}
	return ctx.Err()
}

// cleanup drops the collections a failed restore created.
func (l *loader) cleanup(ctx context.Context) {
	for _, c := range l.created {
		_ = l.c.Database(c[0]).Collection(c[1]).Drop(ctx)
	}
}
