package sqlstore

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/backupkit/backupkit/store"
)

// KeySize is the size of the credentials key WithKey takes: AES-256.
const KeySize = 32

// WithKey supplies the key that encrypts connection credentials at rest
// (AES-256-GCM): exactly KeySize random bytes, kept by the host outside the
// database (a file, a secret manager). Without it, connections with Secrets
// cannot be stored or read. Open fails for a key of another size. It is
// WithKeys(key): it replaces any keys given before.
func WithKey(key []byte) Option {
	return WithKeys(key)
}

// WithKeys supplies the credentials keys for key rotation: current encrypts
// every credential written from now on and decrypts those sealed with it; the
// old keys only decrypt. The key is picked by the fingerprint stored with each
// sealed value, and DB.RotateKeys re-encrypts every value sealed with an old
// key under the current one. Each key is KeySize bytes (Open fails
// otherwise); old keys without a current key are refused. WithKeys replaces
// any keys given before.
func WithKeys(current []byte, old ...[]byte) Option {
	return func(o *options) {
		o.key = bytes.Clone(current)
		o.oldKeys = nil
		for _, k := range old {
			o.oldKeys = append(o.oldKeys, bytes.Clone(k))
		}
	}
}

// sealedVersion is the first byte of a sealed secret: the format.
const sealedVersion = 1

// A sealed secret is: version (1 byte) || key fingerprint (8 bytes: the start
// of SHA-256 of the key) || nonce (12 bytes) || AES-256-GCM ciphertext and
// tag. The connection's ID is the additional data, so a sealed secret moved to
// another row does not open. The fingerprint selects the key that opens it and
// tells "another key" from "altered data" in the error.
const fingerprintSize = 8

func fingerprint(key []byte) []byte {
	sum := sha256.Sum256(key)
	return sum[:fingerprintSize]
}

// Fingerprint returns the fingerprint of a credentials key as it appears in
// errors and in the audit trail: 16 hex digits, the start of the key's
// SHA-256. It identifies a key without revealing it.
func Fingerprint(key []byte) string {
	return hex.EncodeToString(fingerprint(key))
}

func checkKey(key []byte) error {
	if key != nil && len(key) != KeySize {
		return fmt.Errorf("sqlstore: credentials key is %d bytes; it must be %d (AES-256)", len(key), KeySize)
	}
	return nil
}

// keyring builds the fingerprint -> key map of the current and old keys.
func keyring(o options) (map[string][]byte, error) {
	if err := checkKey(o.key); err != nil {
		return nil, err
	}
	if o.key == nil {
		if len(o.oldKeys) > 0 {
			return nil, errors.New("sqlstore: old credentials keys were given without a current key (key_file)")
		}
		return nil, nil
	}
	keys := map[string][]byte{Fingerprint(o.key): o.key}
	for i, k := range o.oldKeys {
		if err := checkKey(k); err != nil {
			return nil, fmt.Errorf("sqlstore: old credentials key %d: %w", i+1, err)
		}
		if k == nil {
			return nil, fmt.Errorf("sqlstore: old credentials key %d is empty", i+1)
		}
		keys[Fingerprint(k)] = k
	}
	return keys, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func (db *DB) seal(id string, secrets map[string]string) ([]byte, error) {
	if len(secrets) == 0 {
		return nil, nil
	}
	if db.key == nil {
		return nil, fmt.Errorf("sqlstore: connection %s has Secrets but the store has no credentials key (open it with WithKey)", id)
	}
	plain, err := json.Marshal(secrets)
	if err != nil {
		return nil, err
	}
	gcm, err := newGCM(db.key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 1+fingerprintSize+gcm.NonceSize()+len(plain)+gcm.Overhead())
	out = append(out, sealedVersion)
	out = append(out, fingerprint(db.key)...)
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	return gcm.Seal(out, nonce, plain, []byte(id)), nil
}

// sealedWith returns the fingerprint a sealed secret names, or "" when it is
// malformed.
func sealedWith(sealed []byte) string {
	if len(sealed) < 1+fingerprintSize || sealed[0] != sealedVersion {
		return ""
	}
	return hex.EncodeToString(sealed[1 : 1+fingerprintSize])
}

// fingerprints lists the store's key fingerprints, the current one first.
func (db *DB) fingerprints() string {
	cur := Fingerprint(db.key)
	list := []string{cur + " (current)"}
	var old []string
	for fp := range db.keys {
		if fp != cur {
			old = append(old, fp)
		}
	}
	sort.Strings(old)
	return strings.Join(append(list, old...), ", ")
}

func (db *DB) open(id string, sealed []byte) (map[string]string, error) {
	if sealed == nil {
		return nil, nil
	}
	if db.key == nil {
		return nil, fmt.Errorf("sqlstore: connection %s: its credentials are encrypted and the store has no credentials key (open it with WithKey): %w", id, store.ErrWrongKey)
	}
	const head = 1 + fingerprintSize + 12 // version, fingerprint, GCM nonce
	fp := sealedWith(sealed)
	if fp == "" || len(sealed) < head+16 {
		return nil, fmt.Errorf("sqlstore: connection %s: stored credentials are malformed: %w", id, store.ErrWrongKey)
	}
	key, ok := db.keys[fp]
	if !ok {
		return nil, fmt.Errorf("sqlstore: connection %s: credentials were encrypted with another key (fingerprint %s; the store's keys are %s): add that key as an old key (old_key_file) to read them: %w",
			id, fp, db.fingerprints(), store.ErrWrongKey)
	}
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, sealed[1+fingerprintSize:head], sealed[head:], []byte(id))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: connection %s: stored credentials do not decrypt (altered, or moved from another connection): %w", id, store.ErrWrongKey)
	}
	var secrets map[string]string
	if err := json.Unmarshal(plain, &secrets); err != nil {
		return nil, fmt.Errorf("sqlstore: connection %s: decrypted credentials: %w", id, err)
	}
	return secrets, nil
}

// rotateBatch is how many connections RotateKeys rewrites per transaction.
const rotateBatch = 100

// testHookAfterRotateBatch, when set by a test, runs after each committed
// batch of RotateKeys.
var testHookAfterRotateBatch func()

// RotateKeys re-encrypts, under the current key (WithKeys), the credentials
// of every connection sealed with another key, and reports how many it
// rewrote. It works in transactions of up to 100 connections, re-reading each
// one under the write lock, so it is safe to run while the store is in use, to
// interrupt, and to run again: a second run rewrites nothing. A connection
// whose key the store does not have (or whose credentials were altered) is
// left as it is and reported in the error, matching store.ErrWrongKey, while
// the others are still rewritten. Connections' UpdatedAt does not change. A
// store without a credentials key fails without changing anything.
func (db *DB) RotateKeys(ctx context.Context) (n int, err error) {
	if db.key == nil {
		return 0, errors.New("sqlstore: the store has no credentials key to rotate to: give it one (key_file= in the store URL, or WithKeys)")
	}
	cur := Fingerprint(db.key)
	rows, err := db.read.QueryContext(ctx, db.d.rebind(`SELECT id, secret FROM connections WHERE secret IS NOT NULL ORDER BY id`))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: rotate keys: %w", err)
	}
	var stale []string
	for rows.Next() {
		var id string
		var sealed []byte
		if err := rows.Scan(&id, &sealed); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sqlstore: rotate keys: %w", err)
		}
		if sealedWith(sealed) != cur {
			stale = append(stale, id)
		}
	}
	if err := rows.Close(); err != nil {
		return 0, fmt.Errorf("sqlstore: rotate keys: %w", err)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("sqlstore: rotate keys: %w", err)
	}
	var errs []error
	for len(stale) > 0 {
		batch := stale[:min(rotateBatch, len(stale))]
		stale = stale[len(batch):]
		var done int
		var failed []error
		err := db.inWrite(ctx, func(t *tx) error {
			done, failed = 0, nil // a retried transaction starts over
			for _, id := range batch {
				var sealed []byte
				err := t.queryRow(ctx, `SELECT secret FROM connections WHERE id = ?`+db.d.forUpdate, id).Scan(&sealed)
				if errors.Is(err, sql.ErrNoRows) {
					continue // deleted meanwhile
				}
				if err != nil {
					return err
				}
				if sealed == nil || sealedWith(sealed) == cur {
					continue // cleared or rewritten meanwhile
				}
				secrets, err := db.open(id, sealed)
				if err != nil {
					failed = append(failed, err)
					continue
				}
				resealed, err := db.seal(id, secrets)
				if err != nil {
					return err
				}
				if _, err := t.exec(ctx, `UPDATE connections SET secret = ? WHERE id = ?`, resealed, id); err != nil {
					return err
				}
				done++
			}
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("sqlstore: rotate keys (%d connections rewritten before): %w", n, err)
		}
		n += done
		errs = append(errs, failed...)
		if testHookAfterRotateBatch != nil {
			testHookAfterRotateBatch()
		}
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("sqlstore: rotate keys: %d connections could not be re-encrypted: %w", len(errs), errors.Join(errs...))
	}
	return n, nil
}

func normalizeConnection(c *store.Connection) error {
	what := "connection"
	if c.ID != "" {
		what += " " + c.ID
	}
	if strings.TrimSpace(c.Name) == "" {
		return fmt.Errorf("sqlstore: %s: Name is empty", what)
	}
	if c.Kind != store.ConnectionSource && c.Kind != store.ConnectionDestination {
		return fmt.Errorf("sqlstore: %s %q: Kind %q is neither %q nor %q", what, c.Name, c.Kind, store.ConnectionSource, store.ConnectionDestination)
	}
	if len(c.Config) == 0 {
		c.Config = json.RawMessage("{}")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(c.Config, &obj); err != nil {
		return fmt.Errorf("sqlstore: %s %q: Config is not a JSON object: %v", what, c.Name, err)
	}
	return nil
}

const connectionColumns = `id, tenant, name, kind, type, config, secret, created_at, updated_at`

func scanConnection(s scanner) (store.Connection, []byte, error) {
	var c store.Connection
	var config string
	var secret []byte
	err := s.Scan(&c.ID, &c.Tenant, &c.Name, &c.Kind, &c.Type, &config, &secret, timeScanner{&c.CreatedAt}, timeScanner{&c.UpdatedAt})
	c.Config = json.RawMessage(config)
	c.HasSecrets = secret != nil
	return c, secret, err
}

// CreateConnection inserts c with its Secrets sealed; see
// store.Connections.CreateConnection. On success c holds the assigned values.
func (db *DB) CreateConnection(ctx context.Context, c *store.Connection) error {
	if c == nil {
		return errors.New("sqlstore: CreateConnection: nil connection")
	}
	n := *c
	if err := normalizeConnection(&n); err != nil {
		return err
	}
	if n.ID == "" {
		n.ID = db.newID()
	}
	sealed, err := db.seal(n.ID, n.Secrets)
	if err != nil {
		return err
	}
	err = db.inWrite(ctx, func(t *tx) error {
		now, err := t.now(ctx)
		if err != nil {
			return err
		}
		n.CreatedAt, n.UpdatedAt = now, now
		_, err = t.exec(ctx, `INSERT INTO connections (`+connectionColumns+`) VALUES (?,?,?,?,?,?,?,?,?)`,
			n.ID, n.Tenant, n.Name, string(n.Kind), n.Type, string(n.Config), sealed, db.d.encodeTime(now), db.d.encodeTime(now))
		return err
	})
	if err != nil {
		return db.connectionError(ctx, "create", &n, err)
	}
	n.HasSecrets = sealed != nil
	*c = n
	return nil
}

func (db *DB) connectionError(ctx context.Context, op string, c *store.Connection, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict):
		return err
	case db.d.isUnique(err):
		var other string
		if e := db.readRow(ctx, `SELECT id FROM connections WHERE tenant = ? AND name = ?`, c.Tenant, c.Name).Scan(&other); e == nil && other != c.ID {
			return fmt.Errorf("sqlstore: %w: connection name %q already exists (connection %s)", store.ErrConflict, c.Name, other)
		}
		return fmt.Errorf("sqlstore: connection %s: %w: id already exists", c.ID, store.ErrConflict)
	}
	return fmt.Errorf("sqlstore: %s connection %s: %w", op, c.ID, err)
}

// GetConnection returns the connection with its Secrets decrypted; see
// store.Connections.GetConnection.
func (db *DB) GetConnection(ctx context.Context, id string) (store.Connection, error) {
	return db.getConnection(ctx, "connection "+id, `id = ?`, id)
}

// GetConnectionByName returns the tenant's connection of that name with its
// Secrets decrypted, or an error matching store.ErrNotFound or
// store.ErrWrongKey.
func (db *DB) GetConnectionByName(ctx context.Context, tenant, name string) (store.Connection, error) {
	return db.getConnection(ctx, fmt.Sprintf("connection %q", name), `tenant = ? AND name = ?`, tenant, name)
}

func (db *DB) getConnection(ctx context.Context, what, where string, args ...any) (store.Connection, error) {
	c, sealed, err := scanConnection(db.readRow(ctx, `SELECT `+connectionColumns+` FROM connections WHERE `+where, args...))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Connection{}, fmt.Errorf("sqlstore: %s: %w", what, store.ErrNotFound)
	case err != nil:
		return store.Connection{}, fmt.Errorf("sqlstore: get %s: %w", what, err)
	}
	if c.Secrets, err = db.open(c.ID, sealed); err != nil {
		return store.Connection{}, err
	}
	return c, nil
}

// ListConnections returns the tenant's connections ("": all), by tenant and
// name, without Secrets (HasSecrets says whether there are any). It never
// returns nil.
func (db *DB) ListConnections(ctx context.Context, tenant string) ([]store.Connection, error) {
	q := `SELECT ` + connectionColumns + ` FROM connections`
	var args []any
	if tenant != "" {
		q += ` WHERE tenant = ?`
		args = append(args, tenant)
	}
	rows, err := db.read.QueryContext(ctx, db.d.rebind(q+` ORDER BY tenant, name`), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list connections: %w", err)
	}
	defer rows.Close()
	out := []store.Connection{}
	for rows.Next() {
		c, _, err := scanConnection(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list connections: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list connections: %w", err)
	}
	return out, nil
}

// UpdateConnection replaces c's definition; see
// store.Connections.UpdateConnection. The tenant cannot change (schedules
// refer to connections within their tenant). On success c holds the stored
// values, with Secrets as given (nil when the stored ones were kept).
func (db *DB) UpdateConnection(ctx context.Context, c *store.Connection) error {
	if c == nil {
		return errors.New("sqlstore: UpdateConnection: nil connection")
	}
	n := *c
	if n.ID == "" {
		return errors.New("sqlstore: UpdateConnection: the connection has no ID")
	}
	if err := normalizeConnection(&n); err != nil {
		return err
	}
	set := `name = ?, kind = ?, type = ?, config = ?, updated_at = ?`
	var sealed []byte
	if n.Secrets != nil {
		var err error
		if sealed, err = db.seal(n.ID, n.Secrets); err != nil {
			return err
		}
		set += `, secret = ?`
	}
	var stored store.Connection
	err := db.inWrite(ctx, func(t *tx) error {
		now, err := t.now(ctx)
		if err != nil {
			return err
		}
		args := []any{n.Name, string(n.Kind), n.Type, string(n.Config), db.d.encodeTime(now)}
		if n.Secrets != nil {
			args = append(args, sealed)
		}
		res, err := t.exec(ctx, `UPDATE connections SET `+set+` WHERE id = ?`, append(args, n.ID)...)
		if err != nil {
			return err
		}
		if k, err := res.RowsAffected(); err != nil {
			return err
		} else if k == 0 {
			return fmt.Errorf("sqlstore: connection %s: %w", n.ID, store.ErrNotFound)
		}
		stored, _, err = scanConnection(t.queryRow(ctx, `SELECT `+connectionColumns+` FROM connections WHERE id = ?`, n.ID))
		return err
	})
	if err != nil {
		return db.connectionError(ctx, "update", &n, err)
	}
	stored.Secrets = n.Secrets // nil when kept: not decrypted here
	*c = stored
	return nil
}

// DeleteConnection deletes the connection; see
// store.Connections.DeleteConnection.
func (db *DB) DeleteConnection(ctx context.Context, id string, cascade bool) error {
	err := db.inWrite(ctx, func(t *tx) error {
		var name string
		err := t.queryRow(ctx, `SELECT name FROM connections WHERE id = ?`+db.d.forUpdate, id).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlstore: connection %s: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		rows, err := t.query(ctx, `SELECT s.id, s.name FROM schedules s JOIN schedule_connections sc ON sc.schedule_id = s.id
			WHERE sc.connection_id = ? ORDER BY s.name`, id)
		if err != nil {
			return err
		}
		var ids, names []string
		for rows.Next() {
			var sid, sname string
			if err := rows.Scan(&sid, &sname); err != nil {
				rows.Close()
				return err
			}
			ids, names = append(ids, sid), append(names, fmt.Sprintf("%q", sname))
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if len(ids) > 0 && !cascade {
			return fmt.Errorf("sqlstore: %w: connection %q is used by schedule %s; change them, or delete with cascade to delete them too",
				store.ErrConflict, name, strings.Join(names, ", "))
		}
		for _, sid := range ids {
			for _, q := range []string{`DELETE FROM schedule_tags WHERE schedule_id = ?`,
				`DELETE FROM schedule_connections WHERE schedule_id = ?`, `DELETE FROM schedules WHERE id = ?`} {
				if _, err := t.exec(ctx, q, sid); err != nil {
					return err
				}
			}
		}
		_, err = t.exec(ctx, `DELETE FROM connections WHERE id = ?`, id)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("sqlstore: delete connection %s: %w", id, err)
	}
	return err
}

// KeyFileParam is the store URL query parameter naming the current
// credentials key file, for hosts that open the store by URL (store.Open),
// e.g. "sqlite:///var/lib/backupd/store.db?key_file=/etc/backupd/store.key".
// It is removed from the URL before the driver sees it.
const KeyFileParam = "key_file"

// OldKeyFileParam is the store URL query parameter naming an old credentials
// key file: a key that still decrypts but no longer encrypts (see WithKeys).
// It may be repeated, and needs KeyFileParam beside it, e.g.
// "...?key_file=/etc/backupd/store-2.key&old_key_file=/etc/backupd/store-1.key".
// It is removed from the URL before the driver sees it.
const OldKeyFileParam = "old_key_file"

// LoadKey reads a credentials key file: KeySize raw bytes, or their hex (64
// characters) or standard base64 encoding, with optional surrounding white
// space. The file must not be readable by group or others. Errors name the
// file, never its content.
func LoadKey(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: credentials key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("sqlstore: credentials key file %s is accessible to group or others (mode %04o); chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: credentials key file: %w", err)
	}
	if len(b) == KeySize {
		return b, nil
	}
	text := strings.TrimSpace(string(b))
	if k, err := hex.DecodeString(text); err == nil && len(k) == KeySize {
		return k, nil
	}
	if k, err := base64.StdEncoding.DecodeString(text); err == nil && len(k) == KeySize {
		return k, nil
	}
	return nil, fmt.Errorf("sqlstore: credentials key file %s holds no %d-byte key (want %d raw bytes, or hex, or base64)", path, KeySize, KeySize)
}

// keyFromURL takes the key_file and old_key_file parameters out of u, loading
// the keys they name. It returns u without them and the option carrying the
// keys (nil when there are none).
func keyFromURL(u *url.URL) (*url.URL, Option, error) {
	if u.RawQuery == "" || !strings.Contains(u.RawQuery, KeyFileParam) {
		return u, nil, nil
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil || (!q.Has(KeyFileParam) && !q.Has(OldKeyFileParam)) {
		return u, nil, nil // the driver reports a malformed query
	}
	if !q.Has(KeyFileParam) {
		return nil, nil, fmt.Errorf("sqlstore: store URL has %s but no %s: the current key is needed", OldKeyFileParam, KeyFileParam)
	}
	if len(q[KeyFileParam]) > 1 {
		return nil, nil, fmt.Errorf("sqlstore: store URL has %d %s parameters; give one (the current key) and the others as %s", len(q[KeyFileParam]), KeyFileParam, OldKeyFileParam)
	}
	path, oldPaths := q.Get(KeyFileParam), q[OldKeyFileParam]
	q.Del(KeyFileParam)
	q.Del(OldKeyFileParam)
	c := *u
	c.RawQuery = q.Encode()
	key, err := LoadKey(path)
	if err != nil {
		return nil, nil, err
	}
	var old [][]byte
	for _, p := range oldPaths {
		k, err := LoadKey(p)
		if err != nil {
			return nil, nil, err
		}
		old = append(old, k)
	}
	return &c, WithKeys(key, old...), nil
}
