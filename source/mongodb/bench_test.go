package mongodb_test

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/backupkit/backupkit/internal/testenv"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/mongodb"
)

// benchDocs is the number of documents the benchmarks seed, in two
// collections: 200,000, or BACKUPKIT_BENCH_MONGODB_DOCS.
func benchDocs(b *testing.B) int {
	if v := os.Getenv("BACKUPKIT_BENCH_MONGODB_DOCS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(b, err)
		return n
	}
	return 200_000
}

// benchSeed fills a new database with n documents of about 200 bytes in two
// collections and returns its name.
func benchSeed(b *testing.B, uri string, n int) string {
	c := client(b, uri)
	db := testenv.UniqueName(b)
	dropLater(b, c, db)
	for ci, coll := range []string{"orders", "events"} {
		var docs []any
		for i := ci; i < n; i += 2 {
			docs = append(docs, bson.D{{Key: "_id", Value: int64(i)}, {Key: "customer", Value: fmt.Sprint("customer-", i%977)},
				{Key: "amount", Value: float64(i) / 7}, {Key: "qty", Value: int32(i % 13)}, {Key: "note", Value: strings.Repeat("x", 100)},
				{Key: "tags", Value: bson.A{"a", "b", int32(i)}}})
			if len(docs) == 5000 {
				_, err := c.Database(db).Collection(coll).InsertMany(b.Context(), docs)
				require.NoError(b, err)
				docs = docs[:0]
			}
		}
		if len(docs) > 0 {
			_, err := c.Database(db).Collection(coll).InsertMany(b.Context(), docs)
			require.NoError(b, err)
		}
	}
	return db
}

// peakRSS reports the process's peak resident set size (Linux).
func peakRSS(b *testing.B) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err == nil {
				b.ReportMetric(float64(kb)/1024, "peak-RSS-MiB")
			}
		}
	}
}

// BenchmarkSnapshot dumps the seeded database into io.Discard and reports
// documents per second.
func BenchmarkSnapshot(b *testing.B) {
	uri := testenv.MongoDB(b)
	n := benchDocs(b)
	s, err := mongodb.New(withDB(b, uri, benchSeed(b, uri, n)))
	require.NoError(b, err)
	b.ResetTimer()
	for b.Loop() {
		_, err := s.Snapshot(b.Context(), io.Discard)
		require.NoError(b, err)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "docs/s")
	peakRSS(b)
}

// BenchmarkRestore restores a dump of the seeded database into a new
// database per iteration and reports documents per second.
func BenchmarkRestore(b *testing.B) {
	uri := testenv.MongoDB(b)
	n := benchDocs(b)
	s, err := mongodb.New(withDB(b, uri, benchSeed(b, uri, n)))
	require.NoError(b, err)
	// The dump goes to a file, so that the process's peak RSS is the
	// restore's own.
	path := b.TempDir() + "/dump.archive"
	f, err := os.Create(path)
	require.NoError(b, err)
	_, err = s.Snapshot(b.Context(), f)
	require.NoError(b, err)
	require.NoError(b, f.Close())
	c := client(b, uri)
	b.ResetTimer()
	for b.Loop() {
		target := testenv.UniqueName(b)
		dropLater(b, c, target)
		f, err := os.Open(path)
		require.NoError(b, err)
		require.NoError(b, s.Restore(b.Context(), f, source.RestoreOptions{Target: target}))
		require.NoError(b, f.Close())
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "docs/s")
	peakRSS(b)
}
