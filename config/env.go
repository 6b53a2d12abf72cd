package config

import (
	"fmt"
	"strings"
)

// expandEnv replaces ${NAME} and ${NAME:-default} in s with the value of the
// variable NAME as given by lookup, and $$ with a single $. As in the shell,
// the default is used when the variable is unset or empty; it may itself hold
// references. A $ followed by anything else is kept as is. A reference to an
// unset variable without a default is an error naming the variable.
//
// The result is never parsed again, so values may contain any characters.
// Errors never quote s, which may hold secrets.
func expandEnv(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c != '$':
			b.WriteByte(c)
			i++
		case i+1 < len(s) && s[i+1] == '$':
			b.WriteByte('$')
			i += 2
		case i+1 < len(s) && s[i+1] == '{':
			end := closingBrace(s, i+2)
			if end < 0 {
				return "", fmt.Errorf(`unterminated "${" (use "$$" for a literal "$")`)
			}
			name, def, hasDef := strings.Cut(s[i+2:end], ":-")
			if !validEnvName(name) {
				return "", fmt.Errorf(`invalid variable reference: want ${NAME} or ${NAME:-default}, NAME made of letters, digits and "_" (use "$$" for a literal "$")`)
			}
			v, ok := lookup(name)
			switch {
			case hasDef && v == "":
				d, err := expandEnv(def, lookup)
				if err != nil {
					return "", err
				}
				b.WriteString(d)
			case ok:
				b.WriteString(v)
			default:
				return "", fmt.Errorf("environment variable %s is not set (use ${%s:-default} to give a default)", name, name)
			}
			i = end + 1
		default:
			b.WriteByte('$')
			i++
		}
	}
	return b.String(), nil
}

// closingBrace returns the index of the '}' that closes a "${" whose content
// starts at start, skipping nested references and "$$"; -1 if there is none.
func closingBrace(s string, start int) int {
	depth := 1
	for j := start; j < len(s); j++ {
		switch {
		case s[j] == '$' && j+1 < len(s) && (s[j+1] == '$' || s[j+1] == '{'):
			if s[j+1] == '{' {
				depth++
			}
			j++
		case s[j] == '}':
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

// validEnvName reports whether name matches [A-Za-z_][A-Za-z0-9_]*.
func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return false
	}
	return true
}
