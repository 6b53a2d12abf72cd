package mongodb

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSnapshotSupport(t *testing.T) {
	for _, tc := range []struct {
		version, setName, msg string
		want                  bool
		why                   string
	}{
		{"7.0.42", "", "", false, "standalone"},
		{"7.0.42", "rs0", "", true, ""},
		{"8.0.1", "", "isdbgrid", true, ""},
		{"4.4.29", "rs0", "", false, "5.0 or later"},
		{"garbage", "rs0", "", false, "5.0 or later"},
	} {
		ok, why := snapshotSupport(tc.version, tc.setName, tc.msg)
		assert.Equal(t, tc.want, ok, "%+v", tc)
		assert.Contains(t, why, tc.why, "%+v", tc)
	}
}

func TestURIParts(t *testing.T) {
	p, err := splitURI("mongodb://us%40er:p%40ss@h1:27017,h2/my%20db?replicaSet=rs0")
	assert.NoError(t, err)
	assert.Equal(t, "p@ss", p.password)
	assert.Equal(t, "h1:27017,h2", p.hosts)
	assert.Equal(t, "my db", p.db)
	assert.NotContains(t, p.redacted(), "p@ss")
	assert.NotContains(t, p.redacted(), "p%40ss")
	_, err = splitURI("mongodb:///db")
	assert.Error(t, err)

	s, err := New("mongodb://u:hunter2@h/db?authSource=admin", Collections("a"), ExcludeCollections("b"))
	assert.NoError(t, err)
	assert.True(t, s.matches("db", "a"))
	assert.False(t, s.matches("db", "b"))
	assert.False(t, s.matches("db", "c"))
	assert.Equal(t, []string{"db"}, s.databases)
	assert.NotContains(t, s.Location(), "hunter2")
}
