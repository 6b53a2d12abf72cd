package archive_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/backupkit/backupkit/source/mongodb/archive"
)

func TestMetadataRoundTrip(t *testing.T) {
	opts := bson.Raw(mustMarshal(t, bson.D{
		{Key: "capped", Value: true}, {Key: "size", Value: int64(1 << 20)}, {Key: "max", Value: int32(100)},
		{Key: "validator", Value: bson.D{{Key: "$jsonSchema", Value: bson.D{{Key: "required", Value: bson.A{"a"}}}}}},
		{Key: "collation", Value: bson.D{{Key: "locale", Value: "fr"}, {Key: "strength", Value: int32(2)}}},
	}))
	ix := bson.Raw(mustMarshal(t, bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "a", Value: int32(1)}}}, {Key: "name", Value: "a_1"}, {Key: "unique", Value: true}}))
	m := archive.Metadata{Options: opts, Indexes: []bson.Raw{ix}, UUID: "0123456789abcdef0123456789abcdef", CollectionName: "c", Type: "collection"}
	s, err := m.Marshal()
	require.NoError(t, err)
	assert.Regexp(t, `^\{"options":\{"capped":true,"size":\{"\$numberLong":"1048576"\},"max":\{"\$numberInt":"100"\},"validator":.*\},"indexes":\[\{"v":\{"\$numberInt":"2"\}.*\],"uuid":"0123456789abcdef0123456789abcdef","collectionName":"c","type":"collection"\}$`, s)
	back, err := archive.ParseMetadata(s)
	require.NoError(t, err)
	assert.Equal(t, m, back)

	view := archive.Metadata{
		Options:        mustMarshal(t, bson.D{{Key: "viewOn", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$match", Value: bson.D{{Key: "a", Value: int32(1)}}}}}}}),
		CollectionName: "v", Type: "view",
	}
	s, err = view.Marshal()
	require.NoError(t, err)
	assert.Contains(t, s, `"indexes":[]`, "indexes is always an array")
	back, err = archive.ParseMetadata(s)
	require.NoError(t, err)
	assert.Equal(t, view, back)

	empty, err := archive.Metadata{CollectionName: "e"}.Marshal()
	require.NoError(t, err)
	assert.Equal(t, `{"indexes":[],"collectionName":"e"}`, empty)

	_, err = archive.ParseMetadata("{not json")
	assert.Error(t, err)
}
