package main

import (
	"context"
	"errors"
	"io"
)

// cmdVerify is a placeholder until its issue lands.
func cmdVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not implemented yet")
}
