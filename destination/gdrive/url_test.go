package gdrive

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/internal/fakedrive"
)

func TestParseURL(t *testing.T) {
	u, _ := url.Parse("gdrive://1AbC_dEf-123?credentials_file=/etc/sa.json&chunk_size=16MiB&shared_drive=0XyZ&scope=drive&impersonate=ops@example.com&max_attempts=3&cleanup_age=2h")
	o, err := ParseURL(u)
	require.NoError(t, err)
	assert.Equal(t, Options{
		FolderID: "1AbC_dEf-123", CredentialsFile: "/etc/sa.json", ChunkSize: 16 << 20, SharedDrive: "0XyZ",
		Scope: ScopeDrive, Subject: "ops@example.com", MaxAttempts: 3, CleanupAge: 2 * time.Hour,
	}, o)

	for _, bad := range []string{
		"gdrive://",
		"gdrive://id/path",
		"gdrive://user:pw@id",
		"gdrive://id?unknown=1",
		"gdrive://id?chunk_size=1000",
		"gdrive://id?chunk_size=0",
		"gdrive://id?scope=everything",
		"gdrive://id?max_attempts=0",
		"gdrive://id?cleanup_age=-1h",
		"gdrive://id?endpoint=ftp://x",
		"gdrive://id?refresh_token=a&refresh_token=b",
		"s3://id",
	} {
		u, err := url.Parse(bad)
		require.NoError(t, err)
		_, err = ParseURL(u)
		assert.Error(t, err, "ParseURL(%q)", bad)
	}
}

// destination.Open builds a working Drive from a URL, and its errors carry
// no secrets.
func TestOpenURL(t *testing.T) {
	fake := fakedrive.New(t)
	q := url.Values{
		"client_id": {fake.ClientID}, "client_secret": {fake.ClientSecret}, "refresh_token": {fake.RefreshToken},
		"endpoint": {fake.Endpoint()}, "token_url": {fake.TokenURL()}, "chunk_size": {"256KiB"},
	}
	d, err := destination.Open(t.Context(), "gdrive://"+fake.RootID+"?"+q.Encode())
	require.NoError(t, err)
	_, err = d.Put(t.Context(), "via/url", strings.NewReader("hello"), nil)
	require.NoError(t, err)
	assert.Equal(t, "gdrive://"+fake.RootID, d.(*Drive).String())

	q.Set("refresh_token", "a-secret-refresh-token")
	_, err = destination.Open(t.Context(), "gdrive://"+fake.RootID+"?"+q.Encode())
	require.ErrorIs(t, err, ErrReauthorize)
	assert.NotContains(t, err.Error(), "a-secret-refresh-token")
	assert.NotContains(t, err.Error(), fake.ClientSecret)
}

func writeServiceAccountKey(t *testing.T, tokenURL string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	b, err := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "backupkit-test", "private_key_id": "abc123",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "backups@backupkit-test.iam.gserviceaccount.com", "client_id": "1234567890",
		"token_uri": tokenURL,
	})
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "sa.json")
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}

// A service-account key authenticates with the JWT bearer grant at the
// key's token_uri.
func TestServiceAccount(t *testing.T) {
	fake := fakedrive.New(t)
	keyFile := writeServiceAccountKey(t, fake.TokenURL())
	d, err := New(t.Context(), Options{
		FolderID: fake.RootID, CredentialsFile: keyFile, Endpoint: fake.Endpoint(),
		Backoff: func(int) time.Duration { return 0 },
	})
	require.NoError(t, err)
	_, err = d.Put(t.Context(), "sa/obj", strings.NewReader("by a service account"), nil)
	require.NoError(t, err)
	assert.Equal(t, []byte("by a service account"), read(t, d, "sa/obj"))
	assert.Equal(t, 1, fake.TokenGrants())

	// The same through a URL.
	q := url.Values{"credentials_file": {keyFile}, "endpoint": {fake.Endpoint()}}
	_, err = destination.Open(t.Context(), "gdrive://"+fake.RootID+"?"+q.Encode())
	require.NoError(t, err)

	fake.RevokeRefreshToken() // the key was deleted
	_, err = d.Stat(t.Context(), "sa/obj")
	require.ErrorIs(t, err, ErrReauthorize)
}

func TestCredentialErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	for name, o := range map[string]Options{
		"none":         {FolderID: "f"},
		"missing file": {FolderID: "f", CredentialsFile: filepath.Join(dir, "nope.json")},
		"not json":     {FolderID: "f", CredentialsFile: write("a.json", "not json")},
		"no type":      {FolderID: "f", CredentialsFile: write("b.json", `{}`)},
		"other type":   {FolderID: "f", CredentialsFile: write("c.json", `{"type":"external_account"}`)},
		"sa no key":    {FolderID: "f", CredentialsJSON: []byte(`{"type":"service_account","client_email":"x@y"}`)},
		"bad chunk":    {FolderID: "f", RefreshToken: "r", ClientID: "c", ChunkSize: 1000},
		"no folder":    {RefreshToken: "r", ClientID: "c"},
	} {
		_, err := New(t.Context(), o)
		assert.Error(t, err, name)
	}
}
