// Command benchdata writes the benchmark data set of scripts/bench into a
// folder: one large text file and many small random files, deterministic for a
// given seed so runs compare like with like.
//
//	go run ./scripts/benchdata -dir DIR [-text-mib 460] [-files 2000] [-file-kib 20]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
)

func main() {
	dir := flag.String("dir", "", "folder to create (required)")
	textMiB := flag.Int("text-mib", 460, "size of the large text file, in MiB")
	files := flag.Int("files", 2000, "number of small random files")
	fileKiB := flag.Int("file-kib", 20, "size of each small file, in KiB")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "benchdata: -dir is required")
		os.Exit(2)
	}
	if err := write(*dir, *textMiB, *files, *fileKiB); err != nil {
		fmt.Fprintln(os.Stderr, "benchdata:", err)
		os.Exit(1)
	}
}

func write(dir string, textMiB, files, fileKiB int) error {
	rng := rand.New(rand.NewPCG(1, 2))
	if err := os.MkdirAll(filepath.Join(dir, "small"), 0o755); err != nil {
		return err
	}
	// The text: log-like lines of words drawn from a Zipf distribution over a
	// fixed vocabulary, which compresses about as well as real logs and dumps.
	vocab := make([]string, 5000)
	for i := range vocab {
		n := 2 + rng.IntN(9)
		b := make([]byte, n)
		for j := range b {
			b[j] = byte('a' + rng.IntN(26))
		}
		vocab[i] = string(b)
	}
	zipf := rand.NewZipf(rng, 1.1, 1, uint64(len(vocab)-1))
	f, err := os.Create(filepath.Join(dir, "large.txt"))
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	limit := int64(textMiB) << 20
	var written int64
	line := 0
	for written < limit {
		line++
		n, _ := fmt.Fprintf(w, "2026-11-%02d %05d id=%d", 1+line%28, line%86400, rng.IntN(1_000_000))
		written += int64(n)
		for range 6 + rng.IntN(10) {
			n, _ := w.WriteString(" " + vocab[zipf.Uint64()])
			written += int64(n)
		}
		w.WriteByte('\n')
		written++
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	buf := make([]byte, fileKiB<<10)
	for i := range files {
		for j := 0; j < len(buf); j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8 && j+k < len(buf); k++ {
				buf[j+k] = byte(v >> (8 * k))
			}
		}
		sub := filepath.Join(dir, "small", fmt.Sprintf("%02d", i%50))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%05d.bin", i)), buf, 0o644); err != nil {
			return err
		}
	}
	return nil
}
