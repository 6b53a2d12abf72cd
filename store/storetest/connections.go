package storetest

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/store"
)

// testConnections needs a store opened with a credentials key.
func testConnections(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := store.Connection{Name: "shop-db", Kind: store.ConnectionSource, Type: "mysql",
		Config:  json.RawMessage(`{"host":"db.internal","port":3306,"user":"backup"}`),
		Secrets: map[string]string{"password": "hunter2 ✓"}}
	require.NoError(t, s.CreateConnection(ctx, &c))
	assert.NotEmpty(t, c.ID)
	assert.True(t, c.HasSecrets)
	got, err := s.GetConnection(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"password": "hunter2 ✓"}, got.Secrets)
	assert.JSONEq(t, string(c.Config), string(got.Config))
	assert.Equal(t, store.ConnectionSource, got.Kind)
	assert.Equal(t, "mysql", got.Type)
	byName, err := s.GetConnectionByName(ctx, "", "shop-db")
	require.NoError(t, err)
	assert.Equal(t, c.ID, byName.ID)
	assert.Equal(t, got.Secrets, byName.Secrets)

	plain := store.Connection{Name: "local", Kind: store.ConnectionDestination, Type: "file"}
	require.NoError(t, s.CreateConnection(ctx, &plain))
	got, err = s.GetConnection(ctx, plain.ID)
	require.NoError(t, err)
	assert.False(t, got.HasSecrets)
	assert.Nil(t, got.Secrets)
	assert.JSONEq(t, `{}`, string(got.Config))

	list, err := s.ListConnections(ctx, "")
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, []string{"local", "shop-db"}, []string{list[0].Name, list[1].Name})
	for _, l := range list {
		assert.Nil(t, l.Secrets, "listing does not reveal credentials")
	}
	assert.True(t, list[1].HasSecrets)

	// Duplicate names, bad input.
	err = s.CreateConnection(ctx, &store.Connection{Name: "shop-db", Kind: store.ConnectionDestination})
	require.ErrorIs(t, err, store.ErrConflict)
	assert.ErrorContains(t, err, `"shop-db"`)
	require.ErrorContains(t, s.CreateConnection(ctx, &store.Connection{Kind: store.ConnectionSource}), "Name")
	require.ErrorContains(t, s.CreateConnection(ctx, &store.Connection{Name: "x", Kind: "printer"}), "printer")
	require.ErrorContains(t, s.CreateConnection(ctx, &store.Connection{Name: "x", Kind: store.ConnectionSource, Config: json.RawMessage(`"s"`)}), "Config")
	_, err = s.GetConnection(ctx, "no-such-connection")
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.ErrorContains(t, err, "no-such-connection")

	// Update: nil Secrets keep them, a map replaces them.
	c.Config = json.RawMessage(`{"host":"db2.internal"}`)
	c.Secrets = nil
	require.NoError(t, s.UpdateConnection(ctx, &c))
	got, err = s.GetConnection(ctx, c.ID)
	require.NoError(t, err)
	assert.JSONEq(t, `{"host":"db2.internal"}`, string(got.Config))
	assert.Equal(t, map[string]string{"password": "hunter2 ✓"}, got.Secrets)
	c.Secrets = map[string]string{"password": "new"}
	require.NoError(t, s.UpdateConnection(ctx, &c))
	got, err = s.GetConnection(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"password": "new"}, got.Secrets)
	c.Secrets = map[string]string{}
	require.NoError(t, s.UpdateConnection(ctx, &c))
	got, err = s.GetConnection(ctx, c.ID)
	require.NoError(t, err)
	assert.False(t, got.HasSecrets)
	missing := store.Connection{ID: "no-such-connection", Name: "x", Kind: store.ConnectionSource}
	require.ErrorIs(t, s.UpdateConnection(ctx, &missing), store.ErrNotFound)

	// Schedules use connections by name; deleting a used one is refused,
	// naming the schedules, or cascades.
	a := store.Schedule{Name: "nightly", Cron: "@daily", Connections: []string{"shop-db", "local"}}
	require.NoError(t, s.CreateSchedule(ctx, &a))
	b := store.Schedule{Name: "hourly", Cron: "@hourly", Connections: []string{"shop-db"}}
	require.NoError(t, s.CreateSchedule(ctx, &b))
	gotSched, err := s.GetSchedule(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, []string{"local", "shop-db"}, gotSched.Connections)

	err = s.DeleteConnection(ctx, c.ID, false)
	require.ErrorIs(t, err, store.ErrConflict)
	assert.ErrorContains(t, err, `"nightly"`)
	assert.ErrorContains(t, err, `"hourly"`)
	_, err = s.GetConnection(ctx, c.ID)
	require.NoError(t, err, "a refused delete deletes nothing")

	b.Connections = nil
	require.NoError(t, s.UpdateSchedule(ctx, &b))
	require.NoError(t, s.DeleteConnection(ctx, c.ID, true))
	_, err = s.GetConnection(ctx, c.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.GetSchedule(ctx, a.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "cascade deletes the schedules that used it")
	_, err = s.GetSchedule(ctx, b.ID)
	require.NoError(t, err, "schedules that no longer use it stay")
	require.ErrorIs(t, s.DeleteConnection(ctx, c.ID, false), store.ErrNotFound)
	require.NoError(t, s.DeleteConnection(ctx, plain.ID, false), "unused")
}
