package fakedrive

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
)

// parseQuery compiles the subset of the Drive search-query language that the
// fake supports (see the package documentation) into a predicate. As in
// Drive, an empty query matches every file, trashed ones included.
func parseQuery(q string) (func(*file) bool, error) {
	var terms []func(*file) bool
	rest := strings.TrimSpace(q)
	for rest != "" {
		term, after, err := parseTerm(rest)
		if err != nil {
			return nil, fmt.Errorf("query %q: %w", q, err)
		}
		terms = append(terms, term)
		rest = strings.TrimSpace(after)
		if rest == "" {
			break
		}
		var ok bool
		if rest, ok = strings.CutPrefix(rest, "and "); !ok {
			return nil, fmt.Errorf("query %q: only 'and' may join terms, at %q", q, rest)
		}
		rest = strings.TrimSpace(rest)
	}
	return func(f *file) bool {
		for _, t := range terms {
			if !t(f) {
				return false
			}
		}
		return true
	}, nil
}

// parseTerm parses one term at the start of s and returns what follows it.
func parseTerm(s string) (func(*file) bool, string, error) {
	if strings.HasPrefix(s, "'") { // 'ID' in parents
		id, rest, err := parseString(s)
		if err != nil {
			return nil, "", err
		}
		rest, ok := strings.CutPrefix(strings.TrimSpace(rest), "in parents")
		if !ok {
			return nil, "", fmt.Errorf("expected \"in parents\" after %q", id)
		}
		return func(f *file) bool { return slices.Contains(f.Parents, id) }, rest, nil
	}
	field, rest, ok := strings.Cut(s, " ")
	if !ok {
		return nil, "", fmt.Errorf("incomplete term %q", s)
	}
	rest = strings.TrimSpace(rest)
	op, rest, ok := strings.Cut(rest, " ")
	if !ok {
		return nil, "", fmt.Errorf("incomplete term %q", s)
	}
	rest = strings.TrimSpace(rest)
	switch field {
	case "trashed":
		if op != "=" {
			return nil, "", fmt.Errorf("trashed supports only =")
		}
		var want bool
		switch {
		case strings.HasPrefix(rest, "true"):
			want, rest = true, rest[len("true"):]
		case strings.HasPrefix(rest, "false"):
			want, rest = false, rest[len("false"):]
		default:
			return nil, "", fmt.Errorf("trashed = needs true or false")
		}
		return func(f *file) bool { return f.Trashed == want }, rest, nil
	case "name", "mimeType":
		if op != "=" && !(op == "!=" && field == "mimeType") {
			return nil, "", fmt.Errorf("the fake supports %s %s only as = (or mimeType !=)", field, op)
		}
		v, rest, err := parseString(rest)
		if err != nil {
			return nil, "", err
		}
		get := func(f *file) string { return f.Name }
		if field == "mimeType" {
			get = func(f *file) string { return f.MimeType }
		}
		if op == "!=" {
			return func(f *file) bool { return get(f) != v }, rest, nil
		}
		return func(f *file) bool { return get(f) == v }, rest, nil
	default:
		return nil, "", fmt.Errorf("the fake does not support the field %q", field)
	}
}

// parseString parses a single-quoted string with \' and \\ escapes at the
// start of s.
func parseString(s string) (string, string, error) {
	if !strings.HasPrefix(s, "'") {
		return "", "", fmt.Errorf("expected a quoted string at %q", s)
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 >= len(s) || (s[i+1] != '\'' && s[i+1] != '\\') {
				return "", "", fmt.Errorf("bad escape in %q", s)
			}
			b.WriteByte(s[i+1])
			i++
		case '\'':
			return b.String(), s[i+1:], nil
		default:
			b.WriteByte(c)
		}
	}
	return "", "", fmt.Errorf("unterminated string in %q", s)
}

func base64URLDecode(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
