package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestExpandEnv(t *testing.T) {
	t.Parallel()
	lookup := envMap(map[string]string{
		"HOST":  "db.internal",
		"USER":  "backup",
		"EMPTY": "",
		"DOLLY": "$HOME ${HOST}", // values are not expanded again
		"B":     "b",
	})
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"${HOST}", "db.internal"},
		{"mysql://${USER}@${HOST}:3306/x", "mysql://backup@db.internal:3306/x"},
		{"${HOST}${HOST}", "db.internal" + "db.internal"},
		{"${PORT:-3306}", "3306"},
		{"${HOST:-other}", "db.internal"},
		{"${EMPTY:-fallback}", "fallback"},
		{"${EMPTY}", ""},
		{"${PORT:-}", ""},
		{"${PORT:-a:-b}", "a:-b"},
		{"${PORT:-${HOST}}", "db.internal"},
		{"${PORT:-${X:-${B}}}!", "b!"},
		{"${PORT:-{braces\\}}", "{braces\\" + "}"},
		{"$$", "$"},
		{"$${HOST}", "${HOST}"},
		{"$$$${HOST}", "$${HOST}"},
		{"$$${HOST}", "$db.internal"},
		{"pa$word", "pa$word"},
		{"price: 5$", "price: 5$"},
		{"$HOST", "$HOST"},
		{"${DOLLY}", "$HOME ${HOST}"},
		{"${PORT:-$$}", "$"},
		{"${PORT:-a}}", "a}"},
	}
	for _, tt := range tests {
		got, err := expandEnv(tt.in, lookup)
		if assert.NoError(t, err, tt.in) {
			assert.Equal(t, tt.want, got, tt.in)
		}
	}
}

func TestExpandEnvErrors(t *testing.T) {
	t.Parallel()
	lookup := envMap(map[string]string{"HOST": "h"})
	const (
		unterminated = `unterminated "${" (use "$$" for a literal "$")`
		invalid      = `invalid variable reference: want ${NAME} or ${NAME:-default}, NAME made of letters, digits and "_" (use "$$" for a literal "$")`
	)
	tests := []struct{ in, want string }{
		{"${NOPE}", "environment variable NOPE is not set (use ${NOPE:-default} to give a default)"},
		{"${HOST}/${DB_NAME}", "environment variable DB_NAME is not set (use ${DB_NAME:-default} to give a default)"},
		{"${X:-${NOPE}}", "environment variable NOPE is not set (use ${NOPE:-default} to give a default)"},
		{"${HOST", unterminated},
		{"${", unterminated},
		{"${X:-${Y}", unterminated},
		{"${}", invalid},
		{"${1X}", invalid},
		{"${A B}", invalid},
		{"${A-b}", invalid},
		{"${A:?msg}", invalid},
		{"${secret p@ss}", invalid},
	}
	for _, tt := range tests {
		_, err := expandEnv(tt.in, lookup)
		assert.EqualError(t, err, tt.want, tt.in)
	}
}

// TestExpandEnvProperties checks that text without references survives
// expansion, and that doubling every $ makes any text come out unchanged.
func TestExpandEnvProperties(t *testing.T) {
	t.Parallel()
	lookup := envMap(map[string]string{"A": "x"})
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.String().Draw(t, "s")
		got, err := expandEnv(strings.ReplaceAll(s, "$", "$$"), lookup)
		require.NoError(t, err)
		require.Equal(t, s, got)

		if !strings.Contains(s, "${") && !strings.Contains(s, "$$") {
			got, err := expandEnv(s, lookup)
			require.NoError(t, err)
			require.Equal(t, s, got)
		}
	})
}
