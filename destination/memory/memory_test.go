package memory_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/destination/destinationtest"
	"github.com/backupkit/backupkit/destination/memory"
)

func TestConformance(t *testing.T) {
	destinationtest.Run(t, func(t *testing.T) destination.Destination { return memory.New() })
}

func ExampleBucket() {
	ctx := context.Background()
	b := memory.New()
	if _, err := b.Put(ctx, "app/one.txt", bytes.NewReader([]byte("hello")), nil); err != nil {
		panic(err)
	}
	r, err := b.Open(ctx, "app/one.txt")
	if err != nil {
		panic(err)
	}
	defer r.Close()
	data, _ := io.ReadAll(r)
	fmt.Println(string(data))
	// Output: hello
}
