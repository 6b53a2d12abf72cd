package config

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testPassphrase = "s3cr3t-passphrase-do-not-print"

func ageKey(t *testing.T) *age.X25519Identity {
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	return id
}

func TestEncryptionParse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b, c := ageKey(t), ageKey(t), ageKey(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "team.pub"),
		[]byte("# team keys\n"+b.Recipient().String()+"\n\n"+c.Recipient().String()+"\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pass"), []byte(testPassphrase+"\n"), 0o600))

	src := valid + "    encryption:\n      recipients: [" + a.Recipient().String() + "]\n      recipients_file: team.pub\n"
	cfg, err := Parse([]byte(src), dir, "backupd.yaml")
	require.NoError(t, err)
	e := cfg.Jobs[0].Encryption
	assert.Equal(t, filepath.Join(dir, "team.pub"), e.RecipientsFile, "resolved against the config's folder")
	rs, pass, err := e.Keys()
	require.NoError(t, err)
	assert.True(t, pass.IsZero())
	var got []string
	for _, r := range rs {
		got = append(got, r.(fmt.Stringer).String())
	}
	assert.Equal(t, []string{a.Recipient().String(), b.Recipient().String(), c.Recipient().String()}, got)

	// A passphrase from the environment.
	src = valid + "    encryption:\n      passphrase: ${PASS}\n"
	cfg, err = Options{LookupEnv: envMap(map[string]string{"PASS": testPassphrase})}.Parse([]byte(src), dir, "backupd.yaml")
	require.NoError(t, err)
	_, pass, err = cfg.Jobs[0].Encryption.Keys()
	require.NoError(t, err)
	assert.Equal(t, testPassphrase, pass.Reveal())
	assert.NotContains(t, fmt.Sprintf("%+v %#v", *cfg.Jobs[0].Encryption, cfg), testPassphrase)

	// From a file, without its line break.
	src = valid + "    encryption:\n      passphrase_file: pass\n"
	cfg, err = Parse([]byte(src), dir, "backupd.yaml")
	require.NoError(t, err)
	_, pass, err = cfg.Jobs[0].Encryption.Keys()
	require.NoError(t, err)
	assert.Equal(t, testPassphrase, pass.Reveal())
}

func TestEncryptionErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600))
	secretKey := ageKey(t)
	pub := ageKey(t).Recipient().String()
	// The encryption block starts on line 8.
	tests := []struct{ name, src, want string }{
		{"nothing", "      recipients: []\n",
			`backupd.yaml:8: jobs[0].encryption: set recipients, recipients_file, passphrase or passphrase_file`},
		{"both", "      recipients: [" + pub + "]\n      passphrase: " + testPassphrase + "\n",
			`backupd.yaml:8: jobs[0].encryption: set recipients or a passphrase, not both (age takes a passphrase only on its own)`},
		{"passphrase twice", "      passphrase: " + testPassphrase + "\n      passphrase_file: empty\n",
			`backupd.yaml:8: jobs[0].encryption: set passphrase or passphrase_file, not both`},
		{"secret key as recipient", "      recipients: [" + secretKey.String() + "]\n",
			`backupd.yaml:9: jobs[0].encryption.recipients[0]: holds an age secret key (AGE-SECRET-KEY-…); give its public key instead (age-keygen -y), the daemon needs only that`},
		{"bad recipient", "      recipients: [age1nope]\n",
			`backupd.yaml:9: jobs[0].encryption.recipients[0]: not an age recipient (want a public key such as age1…): error at line 1: malformed recipient "age1nope"`},
		{"missing file", "      recipients_file: nope.pub\n",
			`backupd.yaml:9: jobs[0].encryption.recipients_file: open ` + filepath.Join(dir, "nope.pub") + `: no such file or directory`},
		{"empty passphrase file", "      passphrase_file: empty\n",
			`backupd.yaml:9: jobs[0].encryption.passphrase_file: ` + filepath.Join(dir, "empty") + ` is empty`},
		{"work factor", "      passphrase: x\n      work_factor: 30\n",
			`backupd.yaml:10: jobs[0].encryption.work_factor: 30 is outside 10..22`},
		{"work factor without passphrase", "      recipients: [" + pub + "]\n      work_factor: 12\n",
			`backupd.yaml:10: jobs[0].encryption.work_factor: applies to a passphrase only`},
		{"typo", "      recipient: [" + pub + "]\n",
			`backupd.yaml:9: jobs[0].encryption.recipient: unknown key (did you mean "recipients"?)`},
		{"passphrase not a string", "      passphrase: [a, b]\n",
			`backupd.yaml:9: jobs[0].encryption.passphrase: expected a string, got a sequence`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(valid+"    encryption:\n"+tt.src), dir, "backupd.yaml")
			require.Error(t, err)
			msg := err.Error()
			assert.NotContains(t, msg, testPassphrase)
			assert.NotContains(t, msg, secretKey.String())
			if tt.want != "" && !strings.Contains(msg, tt.want) {
				t.Errorf("error:\n%s\nwant it to contain:\n%s", msg, tt.want)
			}
		})
	}
}

func TestEncryptionWired(t *testing.T) {
	t.Parallel()
	pub := ageKey(t).Recipient().String()
	src := `store: sqlite:` + t.TempDir() + `/b.db
destinations:
  mem:
    url: mem://encryption-wired
jobs:
  - name: app
    source: dir:` + t.TempDir() + `
    destinations: [mem]
    encryption:
      recipients: [` + pub + `]
  - name: pass
    source: dir:` + t.TempDir() + `
    destinations: [mem]
    encryption:
      passphrase: ${PASS}
      work_factor: 12
  - name: plain
    source: dir:` + t.TempDir() + `
    destinations: [mem]
`
	cfg, err := Options{LookupEnv: envMap(map[string]string{"PASS": testPassphrase})}.Parse([]byte(src), t.TempDir(), "backupd.yaml")
	require.NoError(t, err)
	rt, err := Open(context.Background(), cfg, nil)
	require.NoError(t, err)
	defer rt.Close()
	j, err := rt.Job("app")
	require.NoError(t, err)
	require.NotNil(t, j.Job.Encryption)
	require.Len(t, j.Job.Encryption.Recipients, 1)
	assert.Equal(t, pub, j.Job.Encryption.Recipients[0].(fmt.Stringer).String())
	p, err := rt.Job("pass")
	require.NoError(t, err)
	assert.Equal(t, testPassphrase, p.Job.Encryption.Passphrase.Reveal())
	assert.Equal(t, 12, p.Job.Encryption.WorkFactor)
	o, err := rt.Job("plain")
	require.NoError(t, err)
	assert.Nil(t, o.Job.Encryption)
}

func TestSecretFromFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	write("store.url", "sqlite:state.db\n")
	write("dest.url", "mem://user:"+testPassphrase+"@bucket\n")
	write("src.url", "dir:data\r\n")
	write("bad.url", "mem://user:"+testPassphrase+"@bucket/%zz\n")
	write("empty", "")
	src := `store_file: store.url
destinations:
  local:
    url_file: dest.url
jobs:
  - name: quickstart
    source_file: ${SRC_FILE}
    destinations: [local]
`
	cfg, err := Options{LookupEnv: envMap(map[string]string{"SRC_FILE": "src.url"})}.Parse([]byte(src), dir, "backupd.yaml")
	require.NoError(t, err)
	assert.Equal(t, "sqlite://"+filepath.Join(dir, "state.db"), cfg.Store)
	assert.Equal(t, "mem://user:"+testPassphrase+"@bucket", cfg.Destinations["local"].URL)
	assert.Equal(t, "dir://"+filepath.Join(dir, "data"), cfg.Jobs[0].Source)

	tests := []struct{ name, src, want string }{
		{"both", strings.Replace(valid, "    url: file:backups\n", "    url: file:backups\n    url_file: dest.url\n", 1),
			"backupd.yaml:4: destinations.local.url_file: set url or url_file, not both"},
		{"missing", strings.Replace(valid, "    url: file:backups\n", "    url_file: nope\n", 1),
			"backupd.yaml:3: destinations.local.url_file: cannot read " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{"empty", strings.Replace(valid, "    source: dir:data\n", "    source_file: empty\n", 1),
			"backupd.yaml:6: jobs[0].source_file: " + filepath.Join(dir, "empty") + " is empty"},
		{"bad URL", strings.Replace(valid, "    url: file:backups\n", "    url_file: bad.url\n", 1),
			`backupd.yaml:3: destinations.local.url: invalid URL "mem://xxxxx": invalid URL escape`},
		{"typo", strings.Replace(valid, "    url: file:backups\n", "    url_fle: dest.url\n", 1),
			"backupd.yaml:2: destinations.local.url: required\n" +
				`backupd.yaml:3: destinations.local.url_fle: unknown key (did you mean "url_file"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), dir, "backupd.yaml")
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
			assert.NotContains(t, err.Error(), testPassphrase)
		})
	}
}
