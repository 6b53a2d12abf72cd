// Command benchtool is scripts/bench-mysql's helper: it writes a dump of a
// database to a file, or restores a dump file into a database, with
// source/mysql, so that the script can time each on its own.
//
//	benchtool -url mysql://root@127.0.0.1:3306/db -dump FILE
//	benchtool -url mysql://root@127.0.0.1:3306/db -restore FILE -target DB
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/backupkit/backupkit/source"
	_ "github.com/backupkit/backupkit/source/mysql"
)

func main() {
	url := flag.String("url", "", "mysql:// URL of the source database")
	dump := flag.String("dump", "", "write a dump to this file")
	restore := flag.String("restore", "", "restore this dump file")
	target := flag.String("target", "", "database to restore into")
	prof := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if *prof != "" {
		f, err := os.Create(*prof)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	if err := run(*url, *dump, *restore, *target); err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(url, dump, restore, target string) error {
	ctx := context.Background()
	src, err := source.Open(ctx, url)
	if err != nil {
		return err
	}
	switch {
	case dump != "":
		f, err := os.Create(dump)
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		if _, err := src.Snapshot(ctx, w); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		return f.Close()
	case restore != "":
		f, err := os.Open(restore)
		if err != nil {
			return err
		}
		defer f.Close()
		return src.(source.Restorer).Restore(ctx, f, source.RestoreOptions{Target: target, DropExisting: true})
	}
	return fmt.Errorf("give -dump or -restore")
}
