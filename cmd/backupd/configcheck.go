package main

import (
	"context"
	"errors"
	"io"
)

// cmdConfig is a placeholder until its issue lands.
func cmdConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not implemented yet")
}
