// Command ferretdb-test runs an embedded FerretDB (SQLite handler) on loopback
// for backupkit's integration tests. It stands in for MongoDB, which is not
// available on the project's machines; see docs/testing.md for what it does
// not cover.
//
// Usage:
//
//	ferretdb-test -listen 127.0.0.1:27018 -data /tmp/x/ferretdb [-addr-file F] [-log-level warn]
//
// It runs until SIGTERM or SIGINT. The data folder is created if missing.
// With -addr-file, the actual listen address (useful with port 0) is written
// to that file once the listener is open.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27018", "TCP listen address (host:port; port 0 picks a free one)")
	data := flag.String("data", "", "folder for the SQLite databases (required; created if missing)")
	addrFile := flag.String("addr-file", "", "if set, write the actual listen address to this file when ready")
	logLevel := flag.String("log-level", "warn", "log level: debug, info, warn, error")
	flag.Parse()

	if err := run(*listen, *data, *addrFile, *logLevel); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb-test:", err)
		os.Exit(1)
	}
}

func run(listen, data, addrFile, logLevel string) error {
	if data == "" {
		return fmt.Errorf("-data is required")
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}

	dir, err := filepath.Abs(data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	// The SQLite handler wants a "file:" URI naming a directory, ending in "/".
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + filepath.ToSlash(dir) + "/",
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	// ferretdb.New has already opened the TCP listener; MongoDBURI reports
	// its real address (after Run has started, as its docs ask).
	uri := f.MongoDBURI()
	logger.Info("ferretdb-test ready", "uri", uri, "data", dir)

	if addrFile != "" {
		host := uri[len("mongodb://"):]
		host = host[:len(host)-1] // trailing "/"
		tmp := addrFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(host+"\n"), 0o644); err != nil {
			stop()
			<-done
			return err
		}
		if err := os.Rename(tmp, addrFile); err != nil {
			stop()
			<-done
			return err
		}
	}

	return <-done
}
