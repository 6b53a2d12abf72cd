package main

import (
	"context"
	"errors"
	"io"
)

// cmdCatalog is a placeholder until its issue lands.
func cmdCatalog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not implemented yet")
}
