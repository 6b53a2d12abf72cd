package secret_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/backupkit/backupkit/secret"
)

const value = "hunter2-very-secret"

type holder struct {
	Pass   secret.String
	hidden secret.String
	Ptr    *secret.String
}

func TestStringNeverShowsItsValue(t *testing.T) {
	s := secret.New(value)
	h := holder{Pass: s, hidden: s, Ptr: &s}
	var outs []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%T"} {
		outs = append(outs, fmt.Sprintf(f, s), fmt.Sprintf(f, h), fmt.Sprintf(f, &h), fmt.Sprintf(f, []secret.String{s}))
	}
	outs = append(outs, fmt.Sprint(s), fmt.Sprintln(h), s.String(), s.GoString())

	var logs bytes.Buffer
	for _, hd := range []slog.Handler{slog.NewTextHandler(&logs, nil), slog.NewJSONHandler(&logs, nil)} {
		l := slog.New(hd)
		l.Info("msg", "pass", s, "holder", h, "group", slog.GroupValue(slog.Any("p", s)))
	}
	outs = append(outs, logs.String())

	j, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(j))
	y, err := yaml.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(y))

	for _, o := range outs {
		if strings.Contains(o, value) {
			t.Errorf("output shows the secret: %s", o)
		}
	}
	if !strings.Contains(fmt.Sprint(s), secret.Redacted) || !strings.Contains(string(j), secret.Redacted) {
		t.Errorf("want %s in place of the value: %s / %s", secret.Redacted, fmt.Sprint(s), j)
	}
	if s.Reveal() != value {
		t.Errorf("Reveal = %q, want the value", s.Reveal())
	}
}

func TestZeroAndUnmarshal(t *testing.T) {
	var z secret.String
	if !z.IsZero() || z.Reveal() != "" || fmt.Sprint(z) != "" || !z.Equal(secret.New("")) {
		t.Errorf("zero String: IsZero %v Reveal %q Sprint %q", z.IsZero(), z.Reveal(), fmt.Sprint(z))
	}
	var h struct{ P secret.String }
	if err := json.Unmarshal([]byte(`{"P":"`+value+`"}`), &h); err != nil {
		t.Fatal(err)
	}
	if h.P.Reveal() != value || !h.P.Equal(secret.New(value)) {
		t.Errorf("UnmarshalText kept %q", h.P.Reveal())
	}
}
