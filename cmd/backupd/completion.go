package main

import (
	"context"
	"errors"
	"io"
)

// cmdCompletion is a placeholder until its issue lands.
func cmdCompletion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not implemented yet")
}
