package config

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestDecodeOtherKinds covers the kinds of fields the schema does not use yet,
// so that settings added later decode with the same checks.
func TestDecodeOtherKinds(t *testing.T) {
	t.Parallel()
	type inner struct {
		N int `yaml:"n"`
	}
	type settings struct {
		Retries  int     `yaml:"retries,omitempty"`
		Verify   bool    `yaml:"verify"`
		Ratio    float64 `yaml:"ratio"`
		Limit    *int    `yaml:"limit"`
		Inner    *inner  `yaml:"inner"`
		Untagged string
		Ignored  string `yaml:"-"`
		hidden   string //nolint:unused // unexported fields are never keys
	}
	decode := func(src string) (settings, []string) {
		var root yaml.Node
		require.NoError(t, yaml.Unmarshal([]byte(src), &root))
		d := newDecoder("s.yaml", envMap(map[string]string{"N": "3"}))
		var s settings
		d.decode(root.Content[0], reflect.ValueOf(&s).Elem(), "", 1)
		var msgs []string
		for _, e := range d.errs {
			msgs = append(msgs, e.Error())
		}
		return s, msgs
	}

	s, errs := decode("retries: ${N}\nverify: true\nratio: 0.5\nlimit: 7\ninner: {n: 2}\nuntagged: u\n")
	assert.Empty(t, errs)
	assert.Equal(t, 3, s.Retries)
	assert.True(t, s.Verify)
	assert.Equal(t, 0.5, s.Ratio)
	require.NotNil(t, s.Limit)
	assert.Equal(t, 7, *s.Limit)
	require.NotNil(t, s.Inner)
	assert.Equal(t, 2, s.Inner.N)
	assert.Equal(t, "u", s.Untagged)

	s, errs = decode("retries: '${N}'\n")
	assert.Equal(t, []string{`s.yaml:1: retries: expected an integer, got "3"`}, errs, "quoted values stay strings")

	s, errs = decode("limit: ~\ninner: ~\n")
	assert.Empty(t, errs)
	assert.Nil(t, s.Limit)
	assert.Nil(t, s.Inner)

	_, errs = decode("retries: many\nverify: [x]\nignored: x\nhidden: x\ninner: {n: 1.5}\n")
	assert.Equal(t, []string{
		`s.yaml:1: retries: expected an integer, got "many"`,
		`s.yaml:2: verify: expected a boolean, got a sequence`,
		`s.yaml:3: ignored: unknown key`,
		`s.yaml:4: hidden: unknown key`,
		`s.yaml:5: inner.n: expected an integer, got "1.5"`,
	}, errs)
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	var root yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("[1, 1.5, true, null, x, '1', {}, []]"), &root))
	var got []string
	for _, n := range root.Content[0].Content {
		got = append(got, describe(n))
	}
	assert.Equal(t, []string{"a number", "a number", "a boolean", "null", "a string", "a string", "a mapping", "a sequence"}, got)
}
