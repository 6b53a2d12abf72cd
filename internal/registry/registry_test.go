package registry_test

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/internal/registry"
)

func TestRegistry(t *testing.T) {
	r := registry.New[string]("thing")
	r.Register("Foo", func(_ context.Context, u *url.URL) (string, error) { return "foo:" + u.Opaque, nil })
	r.Register("bar", func(_ context.Context, u *url.URL) (string, error) { return "", errors.New("bar is broken") })
	assert.Equal(t, []string{"bar", "foo"}, r.Schemes())

	v, err := r.Open(context.Background(), "FOO:x")
	require.NoError(t, err)
	assert.Equal(t, "foo:x", v)

	_, err = r.Open(context.Background(), "nope://u:hunter2@h/x")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown scheme "nope"`)
	assert.Contains(t, err.Error(), "bar, foo")
	assert.NotContains(t, err.Error(), "hunter2")

	_, err = r.Open(context.Background(), "bar://u:hunter2@h/x")
	assert.ErrorContains(t, err, "bar is broken")
	assert.NotContains(t, err.Error(), "hunter2")

	_, err = r.Open(context.Background(), "/just/a/path")
	assert.ErrorContains(t, err, "has no scheme")

	assert.Panics(t, func() { r.Register("foo", func(context.Context, *url.URL) (string, error) { return "", nil }) })
	assert.Panics(t, func() { r.Register("", nil) })
}
