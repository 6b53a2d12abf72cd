package mysql

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"

	"github.com/backupkit/backupkit/source"
)

// Engines a Database can take snapshots with (Options.Engine).
const (
	// EngineNative dumps over the Go driver (the default).
	EngineNative = "native"
	// EngineMysqldump runs the mysqldump or mariadb-dump program.
	EngineMysqldump = "mysqldump"
)

// limitedBuffer keeps the first bytes written to it.
type limitedBuffer struct{ bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4096 - l.Len(); room > 0 {
		l.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// dumpBinary finds the program EngineMysqldump runs.
func (d *Database) dumpBinary() (string, error) {
	if d.opts.DumpProgram != "" {
		p, err := exec.LookPath(d.opts.DumpProgram)
		if err != nil {
			return "", fmt.Errorf("mysql: engine mysqldump: program %q not found: %w", d.opts.DumpProgram, err)
		}
		return p, nil
	}
	for _, name := range []string{"mysqldump", "mariadb-dump"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("mysql: engine mysqldump: neither mysqldump nor mariadb-dump is installed (searched PATH); install the MySQL or MariaDB client, or use the native engine")
}

// snapshotExternal is Snapshot with EngineMysqldump: it streams the output
// of mysqldump --single-transaction --hex-blob to w.
func (d *Database) snapshotExternal(ctx context.Context, w io.Writer) (source.Info, error) {
	info := source.Info{Kind: Kind, Format: Format, Location: d.location(),
		Details: map[string]string{"engine": EngineMysqldump, "consistency": "single-transaction"}}
	if err := ctx.Err(); err != nil {
		return info, fmt.Errorf("mysql: snapshot: %w", err)
	}
	if len(d.opts.Where) > 0 {
		return info, errors.New("mysql: engine mysqldump: per-table Where filters are not supported; use the native engine")
	}
	bin, err := d.dumpBinary()
	if err != nil {
		return info, err
	}
	info.Details["program"] = bin
	st, err := d.Probe(ctx)
	if err != nil {
		return info, err
	}
	info.ServerVersion = st.ServerVersion
	host, port, _ := net.SplitHostPort(d.opts.Addr)
	args := []string{"--protocol=TCP", "-h", host, "-P", port, "--single-transaction", "--hex-blob",
		"--tz-utc", "--default-character-set=utf8mb4", "--skip-dump-date"}
	if d.opts.User != "" {
		args = append(args, "-u", d.opts.User)
	}
	if d.opts.NoTriggers {
		args = append(args, "--skip-triggers")
	}
	if d.opts.Routines {
		args = append(args, "--routines")
	}
	if d.opts.Events {
		args = append(args, "--events")
	}
	if d.opts.SchemaOnly {
		args = append(args, "--no-data")
	}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return info, d.wrap(ctx, "connect", err)
	}
	dbs, err := d.resolve(ctx, conn)
	if err != nil {
		conn.Close()
		return info, err
	}
	if d.target != "" && d.multi() {
		conn.Close()
		return info, errors.New("mysql: engine mysqldump cannot dump a restore target under the source's names; use the native engine")
	}
	// Tables and Exclude become --ignore-table options.
	var ignore []string
	if len(d.opts.Tables) > 0 || len(d.opts.Exclude) > 0 {
		for _, p := range dbs {
			all, err := listTables(ctx, conn, p.real, nil)
			if err != nil {
				conn.Close()
				return info, d.wrap(ctx, "list tables", err)
			}
			for _, t := range all {
				if !d.included(p.label, t.name) {
					ignore = append(ignore, "--ignore-table="+p.real+"."+t.name)
				}
			}
		}
	}
	conn.Close()
	args = append(args, ignore...)
	if d.multi() {
		args = append(args, "--databases", "--")
		for _, p := range dbs {
			args = append(args, p.real)
		}
	} else {
		args = append(args, "--", dbs[0].real)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	// The password goes through the environment, never the command line.
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+d.opts.Password)
	cw := &countingWriter{w: w}
	var stderr limitedBuffer
	cmd.Stdout, cmd.Stderr = cw, &stderr
	err = cmd.Run()
	switch {
	case cw.err != nil:
		return info, cw.err
	case ctx.Err() != nil:
		return info, fmt.Errorf("mysql: snapshot: %w", ctx.Err())
	case err != nil:
		msg := strings.TrimSpace(stderr.String())
		if d.opts.Password != "" {
			msg = strings.ReplaceAll(msg, d.opts.Password, "xxxxx")
		}
		return info, fmt.Errorf("mysql: %s (%s): %w: %s", bin, d.location(), err, msg)
	}
	info.PointInTime = true
	return info, nil
}
