package backup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backupkit/backupkit/backup"
	"github.com/backupkit/backupkit/destination"
	"github.com/backupkit/backupkit/destination/local"
	"github.com/backupkit/backupkit/destination/memory"
	s3dest "github.com/backupkit/backupkit/destination/s3"
	"github.com/backupkit/backupkit/internal/s3util/s3test"
	"github.com/backupkit/backupkit/secret"
	"github.com/backupkit/backupkit/source"
	"github.com/backupkit/backupkit/source/dir"
	"github.com/backupkit/backupkit/store/sqlstore"
)

const marker = "PLAINTEXT-MARKER-7f3a9c"

// markedData is compressible data with the marker all over it.
func markedData(t testing.TB) []byte {
	var b bytes.Buffer
	for b.Len() < 7<<20 { // more than one S3 part uncompressed
		b.WriteString(marker)
		b.Write(randomBytes(t, 1000))
	}
	return b.Bytes()
}

// recordingSource is a bytesSource whose Restore records whether it was
// called and how many bytes it read.
type recordingSource struct {
	*bytesSource
	called atomic.Bool
	read   atomic.Int64
}

func (s *recordingSource) Restore(ctx context.Context, r io.Reader, opts source.RestoreOptions) error {
	s.called.Store(true)
	n, err := io.Copy(io.Discard, r)
	s.read.Add(n)
	return err
}

func newIdentity(t testing.TB) *age.X25519Identity {
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	return id
}

// encDestinations returns the destinations to round-trip through: memory, a
// local folder and S3 (an in-process gofakes3).
func encDestinations(t *testing.T) map[string]destination.Destination {
	folder, err := local.New(t.TempDir(), nil)
	require.NoError(t, err)
	srv := s3test.Fake(t)
	bucket, err := s3dest.New(t.Context(), s3dest.Options{
		Bucket: s3test.NewBucket(t, srv), Prefix: "enc", Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, PartSize: 5 << 20,
	})
	require.NoError(t, err)
	return map[string]destination.Destination{"memory": memory.New(), "local": folder, "s3": bucket}
}

// readObject returns the stored bytes of key.
func readObject(t *testing.T, d destination.Destination, key string) []byte {
	r, err := d.Open(context.Background(), key)
	require.NoError(t, err)
	defer r.Close()
	data, err := io.ReadAll(r)
	require.NoError(t, err)
	return data
}

func TestEncryptedRoundTripWithRecipients(t *testing.T) {
	for name, dst := range encDestinations(t) {
		for _, comp := range []backup.Compression{backup.None, backup.Zstd} {
			t.Run(name+"/"+string(comp), func(t *testing.T) {
				ctx := context.Background()
				eng, st := newEngine(t)
				alice, bob := newIdentity(t), newIdentity(t)
				data := markedData(t)
				src := newBytesSource(data)
				job := &backup.Job{Name: "app", Source: src, Compression: comp,
					Destinations: []backup.Target{{Name: name, Destination: dst}},
					Encryption:   &backup.Encryption{Recipients: []age.Recipient{alice.Recipient(), bob.Recipient()}}}
				res, err := eng.Run(ctx, job, backup.RunOptions{})
				require.NoError(t, err)
				key := res.Backup.Copies[0].Key
				assert.True(t, strings.HasSuffix(key, ".bin"+map[backup.Compression]string{backup.None: "", backup.Zstd: ".zst"}[comp]+".age"), key)
				assert.Equal(t, backup.EncryptionAge, res.Backup.Encryption)
				got, err := st.GetBackup(ctx, res.Backup.ID)
				require.NoError(t, err)
				assert.Equal(t, backup.EncryptionAge, got.Encryption, "catalog")

				artifact := readObject(t, dst, key)
				assert.True(t, bytes.HasPrefix(artifact, []byte("age-encryption.org/v1\n")))
				assert.NotContains(t, string(artifact), marker)
				assert.EqualValues(t, len(artifact), res.Backup.Size, "size is of the bytes as stored")

				m, err := backup.ParseManifest(bytes.NewReader(readObject(t, dst, key+backup.ManifestSuffix)))
				require.NoError(t, err)
				assert.Equal(t, backup.EncryptionAge, m.Encryption)
				assert.Equal(t, []string{alice.Recipient().String(), bob.Recipient().String()}, m.Recipients)
				raw := string(readObject(t, dst, key+backup.ManifestSuffix))
				assert.NotContains(t, raw, alice.String())
				assert.NotContains(t, raw, bob.String())

				// Either identity restores.
				for _, id := range []age.Identity{bob, alice} {
					src.restored = nil
					require.NoError(t, eng.Restore(ctx, job, res.Backup.ID, backup.RestoreOptions{Identities: []age.Identity{newIdentity(t), id}}))
					assert.True(t, bytes.Equal(data, src.restored), "restored bytes differ")
				}
			})
		}
	}
}

func TestEncryptedRoundTripWithPassphrase(t *testing.T) {
	const pass = "correct horse battery staple"
	for name, dst := range encDestinations(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			eng, _ := newEngine(t)
			data := markedData(t)
			src := newBytesSource(data)
			job := &backup.Job{Name: "app", Source: src, Compression: backup.None,
				Destinations: []backup.Target{{Name: name, Destination: dst}},
				Encryption:   &backup.Encryption{Passphrase: secret.New(pass), WorkFactor: 10}}
			res, err := eng.Run(ctx, job, backup.RunOptions{})
			require.NoError(t, err)
			key := res.Backup.Copies[0].Key
			artifact := readObject(t, dst, key)
			assert.NotContains(t, string(artifact), marker)
			manifest := readObject(t, dst, key+backup.ManifestSuffix)
			assert.NotContains(t, string(manifest), pass)
			m, err := backup.ParseManifest(bytes.NewReader(manifest))
			require.NoError(t, err)
			assert.Equal(t, []string{backup.ScryptFingerprint}, m.Recipients)

			// The job's passphrase restores on its own.
			require.NoError(t, eng.Restore(ctx, job, res.Backup.ID, backup.RestoreOptions{}))
			assert.True(t, bytes.Equal(data, src.restored), "restored bytes differ")

			// A job with another passphrase fails before the Restorer runs.
			rec := &recordingSource{bytesSource: src}
			wrong := *job
			wrong.Source = rec
			wrong.Encryption = &backup.Encryption{Passphrase: secret.New("not it")}
			err = eng.Restore(ctx, &wrong, res.Backup.ID, backup.RestoreOptions{})
			require.ErrorIs(t, err, backup.ErrIdentity)
			assert.Contains(t, err.Error(), "passphrase (scrypt)")
			assert.False(t, rec.called.Load(), "the Restorer was called")
			assert.NotContains(t, err.Error(), pass)
		})
	}
}

func TestEncryptedRestoreWithoutTheRightIdentityFailsBeforeTheRestorer(t *testing.T) {
	ctx := context.Background()
	eng, _ := newEngine(t)
	alice := newIdentity(t)
	rec := &recordingSource{bytesSource: newBytesSource(markedData(t))}
	job := &backup.Job{Name: "app", Source: rec,
		Destinations: []backup.Target{{Name: "m", Destination: memory.New()}},
		Encryption:   &backup.Encryption{Recipients: []age.Recipient{alice.Recipient()}}}
	res, err := eng.Run(ctx, job, backup.RunOptions{})
	require.NoError(t, err)

	for name, ids := range map[string][]age.Identity{
		"missing": nil,
		"wrong":   {newIdentity(t), newIdentity(t)},
	} {
		t.Run(name, func(t *testing.T) {
			err := eng.Restore(ctx, job, res.Backup.ID, backup.RestoreOptions{Identities: ids})
			require.ErrorIs(t, err, backup.ErrIdentity)
			assert.Contains(t, err.Error(), alice.Recipient().String(), "the error names the recipient")
			assert.False(t, rec.called.Load(), "the Restorer was called")
			assert.Zero(t, rec.read.Load())
		})
	}
	require.NoError(t, eng.Restore(ctx, job, res.Backup.ID, backup.RestoreOptions{Identities: []age.Identity{alice}}))
	assert.True(t, rec.called.Load())
	assert.EqualValues(t, len(rec.data), rec.read.Load())
}

func TestEncryptionValidation(t *testing.T) {
	alice := newIdentity(t)
	base := func(e *backup.Encryption) *backup.Job {
		return &backup.Job{Name: "app", Source: newBytesSource(nil),
			Destinations: []backup.Target{{Name: "m", Destination: memory.New()}}, Encryption: e}
	}
	for name, e := range map[string]*backup.Encryption{
		"empty":       {},
		"both":        {Recipients: []age.Recipient{alice.Recipient()}, Passphrase: secret.New("x")},
		"nil":         {Recipients: []age.Recipient{nil}},
		"work factor": {Passphrase: secret.New("x"), WorkFactor: 40},
	} {
		err := base(e).Validate()
		assert.Error(t, err, name)
		if err != nil {
			assert.Contains(t, err.Error(), "encryption", name)
		}
	}
	assert.NoError(t, base(&backup.Encryption{Passphrase: secret.New("x")}).Validate())
}

func BenchmarkEncryptedRun(b *testing.B) {
	id := newIdentity(b)
	data := randomBytes(b, 64<<20)
	for _, enc := range []bool{false, true} {
		name := "plain"
		if enc {
			name = "age"
		}
		b.Run(name, func(b *testing.B) {
			eng := backup.New(newStore(b), &backup.Options{Owner: "bench", Logger: slog.New(slog.DiscardHandler)})
			job := &backup.Job{Name: "app", Source: newBytesSource(data),
				Destinations: []backup.Target{{Name: "m", Destination: discardDest{memory.New()}}}}
			if enc {
				job.Encryption = &backup.Encryption{Recipients: []age.Recipient{id.Recipient()}}
			}
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := eng.Run(context.Background(), job, backup.RunOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// discardDest reads artifacts to the end and keeps only manifests.
type discardDest struct{ *memory.Bucket }

func (d discardDest) Put(ctx context.Context, key string, r io.Reader, opts *destination.PutOptions) (destination.Object, error) {
	if strings.HasSuffix(key, backup.ManifestSuffix) {
		return d.Bucket.Put(ctx, key, r, opts)
	}
	n, err := io.Copy(io.Discard, r)
	return destination.Object{Key: key, Size: n}, err
}

// ExampleEncryption encrypts a job's backups to an age recipient: the process
// that backs up holds only the public key; the restore takes the identity.
func ExampleEncryption() {
	ctx := context.Background()
	tmp, _ := os.MkdirTemp("", "backupkit-example")
	defer os.RemoveAll(tmp)
	data := filepath.Join(tmp, "data")
	_ = os.MkdirAll(data, 0o755)
	_ = os.WriteFile(filepath.Join(data, "hello.txt"), []byte("hello\n"), 0o644)
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(tmp, "catalog.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close()
	src, _ := dir.New(data)

	// In real use the identity is made once with age-keygen and kept away
	// from the backup host; the configuration holds only "age1…".
	identity, _ := age.GenerateX25519Identity()
	recipient, _ := age.ParseX25519Recipient(identity.Recipient().String())

	eng := backup.New(st, nil)
	job := &backup.Job{Name: "data", Source: src,
		Destinations: []backup.Target{{Name: "mem", Destination: memory.New()}},
		Encryption:   &backup.Encryption{Recipients: []age.Recipient{recipient}}}
	res, err := eng.Run(ctx, job, backup.RunOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Backup.Encryption, strings.HasSuffix(res.Backup.Copies[0].Key, ".tar.zst.age"))

	target := filepath.Join(tmp, "restored")
	err = eng.Restore(ctx, job, res.Backup.ID, backup.RestoreOptions{})
	fmt.Println(errors.Is(err, backup.ErrIdentity))
	err = eng.Restore(ctx, job, res.Backup.ID, backup.RestoreOptions{
		RestoreOptions: source.RestoreOptions{Target: target}, Identities: []age.Identity{identity}})
	if err != nil {
		panic(err)
	}
	restored, _ := os.ReadFile(filepath.Join(target, "hello.txt"))
	fmt.Print(string(restored))
	// Output:
	// age true
	// true
	// hello
}

func TestEncryptedArtifactCutOrChangedFailsTheRestore(t *testing.T) {
	ctx := context.Background()
	id := newIdentity(t)
	for name, change := range map[string]func([]byte) []byte{
		"truncated at a chunk boundary": func(b []byte) []byte {
			// Header, "\n--- mac\n", 16-byte nonce, then 64 KiB chunks with
			// 16-byte tags: cut after the second chunk.
			end := bytes.Index(b, []byte("\n---"))
			end += bytes.IndexByte(b[end+1:], '\n') + 2
			return b[:end+16+2*(64<<10+16)]
		},
		"truncated":    func(b []byte) []byte { return b[:len(b)-1] },
		"byte flipped": func(b []byte) []byte { b[len(b)/2] ^= 1; return b },
	} {
		t.Run(name, func(t *testing.T) {
			eng, _ := newEngine(t)
			dst := memory.New()
			src := newBytesSource(markedData(t))
			job := &backup.Job{Name: "app", Source: src, Compression: backup.None,
				Destinations: []backup.Target{{Name: "m", Destination: dst}},
				Encryption:   &backup.Encryption{Recipients: []age.Recipient{id.Recipient()}}}
			res, err := eng.Run(ctx, job, backup.RunOptions{})
			require.NoError(t, err)
			key := res.Backup.Copies[0].Key
			changed := change(readObject(t, dst, key))
			_, err = dst.Put(ctx, key, bytes.NewReader(changed), nil)
			require.NoError(t, err)
			err = eng.Restore(ctx, job, res.Backup.ID, backup.RestoreOptions{Identities: []age.Identity{id}})
			require.Error(t, err)
			assert.Nil(t, src.restored, "the Restorer read to a clean end")
		})
	}
}
