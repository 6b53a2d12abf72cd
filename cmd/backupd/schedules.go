package main

import (
	"context"
	"errors"
	"io"
)

// cmdSchedules is a placeholder until its issue lands.
func cmdSchedules(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not implemented yet")
}

// cmdPauseJob is a placeholder until its issue lands.
func cmdPauseJob(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not implemented yet")
}

// cmdResumeJob is a placeholder until its issue lands.
func cmdResumeJob(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not implemented yet")
}
