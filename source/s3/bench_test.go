package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/backupkit/backupkit/internal/s3util/s3test"
	s3src "github.com/backupkit/backupkit/source/s3"
)

// BenchmarkSnapshotSmallObjects snapshots a bucket of many small objects
// (BACKUPKIT_BENCH_S3_OBJECTS, default 10,000, of 1 to 4 KiB) on the MinIO
// of internal/testenv (scripts/bench-s3 starts one) and reports objects/s.
func BenchmarkSnapshotSmallObjects(b *testing.B) {
	srv := s3test.MinIO(b)
	n := 10_000
	if v := os.Getenv("BACKUPKIT_BENCH_S3_OBJECTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	bucket := s3test.NewBucket(b, srv)
	c := srv.Client(b)
	ctx := context.Background()

	// Seed, 32 at a time (not timed).
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	errs := make(chan error, 1)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			data := randomData(uint64(i), 1024+i%3072)
			_, err := c.PutObject(ctx, &awss3.PutObjectInput{
				Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("objs/%03d/%06d.json", i%100, i)),
				Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))), ContentType: aws.String("application/json"),
			})
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}

	conc := 16
	if v := os.Getenv("BACKUPKIT_BENCH_S3_CONCURRENCY"); v != "" {
		conc, _ = strconv.Atoi(v)
	}
	src, err := s3src.New(ctx, s3src.Options{
		Bucket: bucket, Prefix: "objs", Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, Concurrency: conc,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var total int64
	for b.Loop() {
		info, err := src.Snapshot(ctx, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		if got := info.Items[0].Count; got != int64(n) {
			b.Fatalf("snapshot holds %d objects, want %d", got, n)
		}
		total += int64(n)
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "objects/s")
}
