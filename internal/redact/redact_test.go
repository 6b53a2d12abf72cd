package redact_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/backupkit/backupkit/internal/redact"
)

func TestURL(t *testing.T) {
	for raw, want := range map[string]string{
		"mysql://root:hunter2@db:3306/shop":                            "mysql://root:xxxxx@db:3306/shop",
		"s3://bucket/p?region=eu&secret_access_key=hunter2":            "s3://bucket/p?region=eu&secret_access_key=xxxxx",
		"s3://bucket/p?access_key_id=AKIA&X-Amz-Signature=hunter2":     "s3://bucket/p?X-Amz-Signature=xxxxx&access_key_id=AKIA",
		"webhook+https://hooks.example/x?token=hunter2&channel=ops":    "webhook+https://hooks.example/x?channel=ops&token=xxxxx",
		"file:///var/backups":                                          "file:///var/backups",
		"postgres://user@host/db?sslmode=disable":                      "postgres://user@host/db?sslmode=disable",
		"gdrive://folder?credentials_file=/etc/k.json&refresh-token=z": "gdrive://folder?credentials_file=%2Fetc%2Fk.json&refresh-token=xxxxx",
	} {
		u, err := url.Parse(raw)
		assert.NoError(t, err)
		got := redact.URL(u)
		assert.Equal(t, want, got, raw)
		assert.NotContains(t, got, "hunter2")
		assert.Equal(t, raw, u.String(), "URL must not modify its argument")
	}
}

func TestURLStringUnparsable(t *testing.T) {
	got := redact.URLString("mysql://root:hunter2@db:port/x")
	assert.NotContains(t, got, "hunter2")
	assert.True(t, strings.HasPrefix(got, "mysql://"))
	assert.Equal(t, redact.Mask, redact.URLString("\x7fhunter2"))
}

func FuzzURLString(f *testing.F) {
	f.Add("mysql://u:secretpw@h/db", "secretpw")
	f.Add("s3://b?secret_access_key=secretpw", "secretpw")
	f.Fuzz(func(t *testing.T, raw, secret string) {
		if len(secret) < 6 || strings.ContainsAny(secret, "%&=?@:/#+ ") || strings.Contains(redact.Mask, secret) {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		pw, hasPW := u.User.Password()
		if hasPW && pw == secret && strings.Contains(redact.URLString(raw), secret) && !strings.Contains(u.Host+u.Path+u.User.Username(), secret) {
			t.Fatalf("password %q visible in %q", secret, redact.URLString(raw))
		}
	})
}

func TestWebhookPathsAreSecrets(t *testing.T) {
	for _, raw := range []string{
		"slack+https://hooks.slack.com/services/T000/B000/hunter2",
		"https://hooks.slack.com/services/T000/B000/hunter2",
		"https://discord.com/api/webhooks/123/hunter2",
	} {
		assert.NotContains(t, redact.URLString(raw), "hunter2", raw)
	}
	assert.Equal(t, "https://example.com/hooks/x", redact.URLString("https://example.com/hooks/x"))
}

func TestText(t *testing.T) {
	in := `dial mysql://root:hunter2@db:3306/shop failed; dsn root:hunter3@tcp(db:3306)/shop?x=1, password=hunter4 token: hunter5 and custom hunter6`
	out := redact.Text(in, "hunter6", "ab")
	for _, s := range []string{"hunter2", "hunter3", "hunter4", "hunter5", "hunter6"} {
		assert.NotContains(t, out, s)
	}
	assert.Contains(t, out, "root:xxxxx@tcp(db:3306)/shop")
	assert.Contains(t, out, "mysql://root:xxxxx@db:3306/shop")
	assert.Equal(t, "nothing to hide here", redact.Text("nothing to hide here"))
}
