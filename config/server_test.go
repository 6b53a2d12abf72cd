package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const serverBase = `destinations:
  local:
    url: file:/srv/backups
jobs:
  - name: app
    source: dir:/srv/app
    destinations: [local]
`

// TestServerDefaults: no "server" block gives loopback, text logs and the
// default rate limits, and no tokens.
func TestServerDefaults(t *testing.T) {
	c, err := Parse([]byte(serverBase), "/etc/backupd", "backupd.yaml")
	require.NoError(t, err)
	s := c.ServerSettings()
	assert.Equal(t, DefaultListen, s.Listen)
	assert.Equal(t, LogFormatText, s.LogFormat)
	assert.Empty(t, s.Tokens)
	assert.Empty(t, s.CORSOrigins)
	assert.Equal(t, DefaultRunNowLimit, s.RateLimits.RunNow)
	assert.Equal(t, DefaultRestoreLimit, s.RateLimits.Restore)
	assert.Equal(t, DefaultFailedAuthLimit, s.RateLimits.FailedAuth)
}

// TestServerBlock: a full block decodes.
func TestServerBlock(t *testing.T) {
	_, hash, err := NewToken()
	require.NoError(t, err)
	c, err := Parse([]byte(serverBase+`server:
  listen: 0.0.0.0:9090
  log_format: json
  tokens:
    - name: ci
      role: operator
      hash: `+hash+`
  cors_origins: ["https://ops.example"]
  rate_limits:
    run_now: {burst: 10, every: 1m}
    failed_auth: {burst: 3, every: 20s}
`), "/etc/backupd", "backupd.yaml")
	require.NoError(t, err)
	s := c.ServerSettings()
	assert.Equal(t, "0.0.0.0:9090", s.Listen)
	assert.Equal(t, LogFormatJSON, s.LogFormat)
	assert.Equal(t, []Token{{Name: "ci", Role: RoleOperator, Hash: hash}}, s.Tokens)
	assert.Equal(t, RateLimit{Burst: 10, Every: Duration(time.Minute)}, s.RateLimits.RunNow)
	assert.Equal(t, DefaultRestoreLimit, s.RateLimits.Restore)
	assert.Equal(t, RateLimit{Burst: 3, Every: Duration(20 * time.Second)}, s.RateLimits.FailedAuth)
}

// TestServerErrors: each mistake is reported on its line and key, and a
// token pasted in place of its hash is not echoed.
func TestServerErrors(t *testing.T) {
	for block, want := range map[string]string{
		"  listen: nowhere\n":      "backupd.yaml:9: server.listen: invalid listen address",
		"  listen: 0.0.0.0:8080\n": "server.listen: listen address \"0.0.0.0:8080\" is not loopback and server.tokens is empty",
		"  log_format: xml\n":      "server.log_format: invalid log format \"xml\"",
		"  tokens:\n    - name: a\n      role: root\n      hash: sha256:" + strings.Repeat("0", 64) + "\n": "server.tokens[0].role: invalid role \"root\"",
		"  tokens:\n    - role: admin\n      hash: sha256:" + strings.Repeat("0", 64) + "\n":               "server.tokens[0].name: required",
		"  tokens:\n    - name: a\n      role: admin\n      hash: bkd_secret-token-value\n":                "server.tokens[0].hash: want \"sha256:\"",
		"  cors_origins: [\"ops.example\"]\n":                                                              "server.cors_origins[0]: invalid origin",
		"  rate_limits:\n    run_now: {burst: 5}\n":                                                        "server.rate_limits.run_now: set both burst and every",
		"  rate_limits:\n    restore: {burst: -1, every: 1m}\n":                                            "server.rate_limits.restore.burst: must not be negative",
		"  listn: 127.0.0.1:1\n": "server.listn: unknown key",
	} {
		_, err := Parse([]byte(serverBase+"server:\n"+block), "/etc/backupd", "backupd.yaml")
		require.Error(t, err, block)
		assert.Contains(t, err.Error(), want, block)
		assert.NotContains(t, err.Error(), "bkd_secret-token-value")
		var e *Error
		assert.True(t, errors.As(err, &e))
	}
}

// TestTokens: NewToken's tokens match their hash and nothing else.
func TestTokens(t *testing.T) {
	tok, hash, err := NewToken()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(tok, "bkd_"))
	assert.True(t, validTokenHash(hash))
	assert.True(t, MatchToken(hash, tok))
	assert.True(t, MatchToken(strings.ToUpper(hash[:7])+hash[7:], tok))
	assert.False(t, MatchToken(hash, tok+"x"))
	assert.False(t, MatchToken(hash, ""))
	tok2, _, err := NewToken()
	require.NoError(t, err)
	assert.NotEqual(t, tok, tok2)
}

// TestLoopbackListen tells loopback addresses from the rest.
func TestLoopbackListen(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "localhost:1": true, "[::1]:8080": true, "127.3.2.1:80": true,
		":8080": false, "0.0.0.0:8080": false, "[::]:80": false, "10.0.0.1:80": false, "example.com:80": false, "bad": false,
	} {
		assert.Equal(t, want, LoopbackListen(addr), addr)
	}
}
