package main

import (
	"context"
	"errors"
	"io"
)

// cmdShow is a placeholder until its issue lands.
func cmdShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not implemented yet")
}
