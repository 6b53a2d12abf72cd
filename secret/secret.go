// Package secret holds secret values (passphrases, passwords, tokens) in a type
// that does not give them away by accident: printing it with fmt, logging it
// with log/slog, or encoding it as JSON, YAML or text shows [Redacted] instead
// of the value. Only [String.Reveal] returns the value.
//
// A host application that builds a backup.Job in code wraps its secrets with
// [New]; configuration files fill them in from ${ENV} references or *_file:
// keys (see package config).
package secret

import (
	"fmt"
	"log/slog"
	"strconv"
)

// Redacted is what a non-empty String shows in place of its value.
const Redacted = "[REDACTED]"

// String is a secret string. Its zero value is the empty secret.
//
// The value sits behind a pointer, so that even printers that read a struct's
// unexported fields by reflection (fmt on a struct that holds a String in an
// unexported field) show an address, not the value. Copies of a String share
// the value; compare Strings with Equal, not ==.
type String struct {
	p *string
}

// New returns a String holding s. New("") is the zero String.
func New(s string) String {
	if s == "" {
		return String{}
	}
	return String{p: &s}
}

// Reveal returns the secret value. Call it only where the value is used (to
// derive a key, to authenticate), never to print it.
func (s String) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// IsZero reports whether s is empty.
func (s String) IsZero() bool { return s.p == nil || *s.p == "" }

// Equal reports whether s and t hold the same value.
func (s String) Equal(t String) bool { return s.Reveal() == t.Reveal() }

// String returns Redacted, or "" for the empty secret. It implements
// fmt.Stringer.
func (s String) String() string {
	if s.IsZero() {
		return ""
	}
	return Redacted
}

// GoString returns a Go expression that does not contain the value:
// secret.String("[REDACTED]"), or secret.String("") when empty. It implements
// fmt.GoStringer, used by %#v.
func (s String) GoString() string { return "secret.String(" + strconv.Quote(s.String()) + ")" }

// Format implements fmt.Formatter: every verb (%v, %+v, %s, %q, %x, %d, …)
// prints what String returns, quoted for %q, and %#v prints GoString.
func (s String) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprint(f, s.GoString())
	case verb == 'q':
		fmt.Fprint(f, strconv.Quote(s.String()))
	default:
		fmt.Fprint(f, s.String())
	}
}

// LogValue implements slog.LogValuer: a log attribute holding s shows what
// String returns.
func (s String) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON encodes what String returns, as a JSON string.
func (s String) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// MarshalText returns what String returns; encoders that use
// encoding.TextMarshaler (YAML, XML, JSON map keys) never see the value.
func (s String) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText sets s to text, so that decoders (configuration files, JSON)
// can fill a String in. The value is kept as given.
func (s *String) UnmarshalText(text []byte) error {
	*s = New(string(text))
	return nil
}
