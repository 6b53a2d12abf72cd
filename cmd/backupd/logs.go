package main

import (
	"context"
	"errors"
	"io"
)

// cmdLogs is a placeholder until its issue lands.
func cmdLogs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not implemented yet")
}
