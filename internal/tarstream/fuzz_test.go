package tarstream_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/backupkit/backupkit/internal/tarstream"
)

// fuzzReadAll reads every entry of r with a Reader and Finish; it returns the
// entries' names and contents and the first error (nil after a clean end).
func fuzzReadAll(data []byte) (names []string, bodies [][]byte, err error) {
	r := tarstream.NewReader(bytes.NewReader(data), 4096)
	for {
		hdr, err := r.Next()
		if err == io.EOF {
			return names, bodies, r.Finish(context.Background())
		}
		if err != nil {
			return names, bodies, err
		}
		// Bound what one entry may yield: sparse entries can describe holes
		// far larger than the input.
		body, err := io.ReadAll(io.LimitReader(r, 1<<20))
		if err != nil {
			return names, bodies, err
		}
		names = append(names, hdr.Name)
		bodies = append(bodies, body)
	}
}

// FuzzReader reads arbitrary bytes as a tar stream: no panic, no hang, and a
// stream that reads to a clean end still does so when zero bytes are added
// after it (tar pads to records). FuzzTruncated covers cut streams.
func FuzzReader(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 1024))
	f.Add(make([]byte, 10240))
	f.Add([]byte("not a tar stream"))
	f.Add(fuzzTar(f, map[string]string{"a.txt": "hello", "dir/b": ""}))
	f.Add(fuzzTar(f, map[string]string{"x": string(bytes.Repeat([]byte{1}, 700))}))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, err := fuzzReadAll(data)
		if err != nil {
			return
		}
		if _, _, err := fuzzReadAll(append(bytes.Clone(data), make([]byte, 512)...)); err != nil {
			t.Fatalf("a complete stream followed by zeros fails: %v", err)
		}
	})
}

// FuzzTruncated writes a tar stream of entries the input describes, checks
// that it reads back whole, then cuts it anywhere before its end: reading
// the cut stream must fail (ErrTruncated or another error), never end
// cleanly.
func FuzzTruncated(f *testing.F) {
	f.Add([]byte("abc"), uint8(2), uint32(100))
	f.Add([]byte{}, uint8(0), uint32(0))
	f.Add(bytes.Repeat([]byte("z"), 2000), uint8(5), uint32(1536))
	f.Fuzz(func(t *testing.T, data []byte, n uint8, cut uint32) {
		entries := map[string]string{}
		count := int(n%6) + 1
		for i := range count {
			lo, hi := len(data)*i/count, len(data)*(i+1)/count
			entries[fmt.Sprintf("e%d", i)] = string(data[lo:hi])
		}
		stream := fuzzTar(t, entries)
		names, bodies, err := fuzzReadAll(stream)
		if err != nil {
			t.Fatalf("reading a stream tar.Writer wrote: %v", err)
		}
		if len(names) != count {
			t.Fatalf("%d entries back, want %d", len(names), count)
		}
		for i, name := range names {
			if string(bodies[i]) != entries[name] {
				t.Fatalf("entry %s differs", name)
			}
		}
		at := int(cut) % len(stream)
		_, _, err = fuzzReadAll(stream[:at])
		if err == nil {
			t.Fatalf("a stream cut at %d of %d bytes reads as complete", at, len(stream))
		}
		if at%512 == 0 && !errors.Is(err, tarstream.ErrTruncated) {
			t.Logf("cut at a block boundary (%d): %v", at, err)
		}
	})
}

func fuzzTar(t testing.TB, entries map[string]string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := range len(entries) {
		name := fmt.Sprintf("e%d", i)
		body, ok := entries[name]
		if !ok {
			break
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, body); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range entries {
		if len(name) > 1 && name[0] == 'e' {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
