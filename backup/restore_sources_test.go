package backup_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"iter"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/internal/s3util/s3test"
	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/source"
	_ "github.com/backupkit/backupkit/source/mongodb"
	_ "github.com/backupkit/backupkit/source/mysql"
	s3src "github.com/backupkit/backupkit/source/s3"
	"github.com/backupkit/backupkit/store"
)

// The restore guarantees, through the engine and real servers, for the
// MySQL, S3 and MongoDB sources (dir has its own tests in restore_verify_test.go): each case gives a source over its own fresh database, bucket or prefix and
// a way to write a version of the data into it. The checks compare what the
// source's Inspector reports (names, counts and checksums), so they hold
// for any adapter. A source that does not implement Inspector, Scratcher
// and TargetSourcer is skipped with a line saying so.

type dbCase struct {
	name string
	// open returns the source and seed, which replaces the data with
	// version v.
	open func(t *testing.T) (source.Source, func(v int))
}

var dbCases = []dbCase{
	{"mysql", func(t *testing.T) (source.Source, func(v int)) {
		u := testenv.FreshMySQLURL(t)
		src, err := source.Open(t.Context(), u)
		require.NoError(t, err)
		db, err := sql.Open("mysql", testenv.MySQL(t))
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		name := u[strings.LastIndex(u, "/")+1:]
		if i := strings.IndexByte(name, '?'); i >= 0 {
			name = name[:i]
		}
		return src, func(v int) {
			for _, q := range []string{
				"CREATE TABLE IF NOT EXISTS `" + name + "`.items (id INT PRIMARY KEY, v VARCHAR(64))",
				"DELETE FROM `" + name + "`.items",
			} {
				_, err := db.ExecContext(context.Background(), q)
				require.NoError(t, err)
			}
			for i := range 50 + v {
				_, err := db.ExecContext(context.Background(), "INSERT INTO `"+name+"`.items VALUES (?, ?)", i, fmt.Sprintf("v%d-%d", v, i))
				require.NoError(t, err)
			}
		}
	}},
	{"s3", func(t *testing.T) (source.Source, func(v int)) {
		srv := s3test.MinIO(t)
		bucket := s3test.NewBucket(t, srv)
		src, err := s3src.New(t.Context(), s3src.Options{Bucket: bucket, Prefix: "data", Endpoint: srv.Endpoint, PathStyle: true,
			Region: srv.Region, AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey})
		require.NoError(t, err)
		client := srv.Client(t)
		return src, func(v int) {
			ctx := context.Background()
			for o, err := range s3Keys(ctx, client, bucket) {
				require.NoError(t, err)
				_, err = client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(o)})
				require.NoError(t, err)
			}
			for i := range 5 + v {
				_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("data/o%d", i)),
					Body: strings.NewReader(strings.Repeat(fmt.Sprintf("v%d-%d ", v, i), 100))})
				require.NoError(t, err)
			}
		}
	}},
	{"mongodb", func(t *testing.T) (source.Source, func(v int)) {
		uri := testenv.MongoDB(t)
		name := testenv.UniqueName(t)
		c, err := mongo.Connect(options.Client().ApplyURI(uri))
		require.NoError(t, err)
		t.Cleanup(func() {
			_ = c.Database(name).Drop(context.Background())
			_ = c.Disconnect(context.Background())
		})
		sep := "?"
		if strings.Contains(uri, "?") {
			sep = "&"
		}
		src, err := source.Open(t.Context(), uri+sep+"databases="+name)
		require.NoError(t, err)
		return src, func(v int) {
			coll := c.Database(name).Collection("items")
			require.NoError(t, coll.Drop(context.Background()))
			var docs []any
			for i := range 50 + v {
				docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "v", Value: fmt.Sprintf("v%d-%d", v, i)}})
			}
			_, err := coll.InsertMany(context.Background(), docs)
			require.NoError(t, err)
		}
	}},
	// Two databases in one source: the restore to its own names, the
	// safety backup and verify at level restore (a scratch pattern) go
	// through the multi-database targets.
	{"mongodb two databases", func(t *testing.T) (source.Source, func(v int)) {
		uri := testenv.MongoDB(t)
		names := []string{testenv.UniqueName(t) + "_a", testenv.UniqueName(t) + "_b"}
		c, err := mongo.Connect(options.Client().ApplyURI(uri))
		require.NoError(t, err)
		t.Cleanup(func() {
			for _, n := range names {
				_ = c.Database(n).Drop(context.Background())
			}
			_ = c.Disconnect(context.Background())
		})
		sep := "?"
		if strings.Contains(uri, "?") {
			sep = "&"
		}
		src, err := source.Open(t.Context(), uri+sep+"databases="+strings.Join(names, ","))
		require.NoError(t, err)
		return src, func(v int) {
			for k, n := range names {
				coll := c.Database(n).Collection("items")
				require.NoError(t, coll.Drop(context.Background()))
				var docs []any
				for i := range 20 + v + k {
					docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "v", Value: fmt.Sprintf("%s-v%d-%d", n, v, i)}})
				}
				_, err := coll.InsertMany(context.Background(), docs)
				require.NoError(t, err)
			}
		}
	}},
}

// needRestoreInterfaces fails the test when src lacks what these
// guarantees build on: every reference source implements them, so a
// missing one is a regression, not a reason to skip.
func needRestoreInterfaces(t *testing.T, src source.Source) {
	for what, ok := range map[string]bool{
		"Restorer":      is[source.Restorer](src),
		"Inspector":     is[source.Inspector](src),
		"Scratcher":     is[source.Scratcher](src),
		"TargetSourcer": is[source.TargetSourcer](src),
	} {
		if !ok {
			t.Fatalf("%T does not implement source.%s", src, what)
		}
	}
}

// s3Keys yields every key in the bucket.
func s3Keys(ctx context.Context, c *s3.Client, bucket string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				yield("", err)
				return
			}
			for _, o := range page.Contents {
				if !yield(aws.ToString(o.Key), nil) {
					return
				}
			}
		}
	}
}

func is[T any](v any) bool { _, ok := v.(T); return ok }

// items returns what the source's own location holds.
func items(t *testing.T, src source.Source) []source.Item {
	info, err := src.(source.Inspector).Inspect(t.Context(), "")
	require.NoError(t, err)
	require.NotEmpty(t, info.Items)
	return info.Items
}

// killAfter is a source whose first Restore has its context canceled (its
// connection killed) after reading n bytes of the stream; later restores
// (the rollback) run normally.
type killAfter struct {
	source.Source
	n    int64
	mu   sync.Mutex
	done bool
}

func (k *killAfter) Restore(ctx context.Context, r io.Reader, opts source.RestoreOptions) error {
	k.mu.Lock()
	first := !k.done
	k.done = true
	k.mu.Unlock()
	restorer := k.Source.(source.Restorer)
	if !first {
		return restorer.Restore(ctx, r, opts)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	return restorer.Restore(ctx, &cancelAfter{r: r, n: k.n, cancel: func() { cancel(errKilled) }}, opts)
}

func (k *killAfter) Inspect(ctx context.Context, target string) (source.Info, error) {
	return k.Source.(source.Inspector).Inspect(ctx, target)
}

func (k *killAfter) TargetSource(target string) (source.Source, error) {
	return k.Source.(source.TargetSourcer).TargetSource(target)
}

type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n -= int64(n); c.n <= 0 {
		c.cancel()
	}
	return n, err
}

func TestRestoreGuaranteesPerSource(t *testing.T) {
	for _, tc := range dbCases {
		t.Run(tc.name, func(t *testing.T) {
			src, seed := tc.open(t)
			needRestoreInterfaces(t, src)
			ctx := t.Context()
			disk, other := localTarget(t, "disk"), localTarget(t, "other")
			r := newRig(t, nil, disk, other)
			r.job.Source = src

			seed(1)
			v1 := items(t, src)
			b := r.backup(t)

			// Verify at every level.
			for _, level := range []backup.VerifyLevel{backup.VerifyExists, backup.VerifyChecksum, backup.VerifyRestore} {
				res, err := r.eng.Verify(ctx, r.job, b.ID, backup.VerifyOptions{Level: level})
				require.NoError(t, err, level)
				assert.True(t, res.OK, "%s: %s", level, res.Problem)
			}

			// Data changed since: a restore needs DropExisting, and takes a
			// safety backup.
			seed(2)
			v2 := items(t, src)
			require.NotEqual(t, v1, v2)
			err := r.eng.Restore(ctx, r.job, b.ID, backup.RestoreOptions{})
			require.ErrorIs(t, err, backup.ErrTargetHasData)
			assert.Equal(t, v2, items(t, src))

			// The connection killed half-way: rolled back to v2.
			r.job.Source = &killAfter{Source: src, n: b.Size / 2}
			err = r.eng.Restore(ctx, r.job, b.ID, backup.RestoreOptions{RestoreOptions: source.RestoreOptions{DropExisting: true}})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "rolled back from safety backup")
			assert.Equal(t, v2, items(t, src), "the data equals the pre-restore state")
			r.job.Source = src

			// A good restore brings v1 back.
			require.NoError(t, r.eng.Restore(ctx, r.job, b.ID, backup.RestoreOptions{RestoreOptions: source.RestoreOptions{DropExisting: true}}))
			assert.Equal(t, v1, items(t, src))
			safety, err := r.st.ListBackups(ctx, store.BackupFilter{Status: store.BackupPreRestore})
			require.NoError(t, err)
			assert.Len(t, safety, 2, "one per restore over data")

			// A corrupted copy: the other is used.
			seed(3)
			flipByte(t, disk.Destination, copyOn(t, b, "disk").Key)
			require.NoError(t, r.eng.Restore(ctx, r.job, b.ID, backup.RestoreOptions{RestoreOptions: source.RestoreOptions{DropExisting: true}}))
			assert.Equal(t, v1, items(t, src))
			res, err := r.eng.Verify(ctx, r.job, b.ID, backup.VerifyOptions{Level: backup.VerifyChecksum})
			require.NoError(t, err)
			assert.False(t, res.OK)

			// Only corrupted copies: the target is untouched.
			seed(4)
			v4 := items(t, src)
			flipByte(t, other.Destination, copyOn(t, b, "other").Key)
			err = r.eng.Restore(ctx, r.job, b.ID, backup.RestoreOptions{RestoreOptions: source.RestoreOptions{DropExisting: true}})
			require.Error(t, err)
			assert.Equal(t, v4, items(t, src))
			res, err = r.eng.Verify(ctx, r.job, b.ID, backup.VerifyOptions{Level: backup.VerifyRestore})
			require.NoError(t, err)
			assert.False(t, res.OK)
			assert.Contains(t, res.Problem, "no good copy")
		})
	}
}
