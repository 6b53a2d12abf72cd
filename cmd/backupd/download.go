package main

import (
	"context"
	"errors"
	"io"
)

// cmdDownload is a placeholder until its issue lands.
func cmdDownload(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not implemented yet")
}
