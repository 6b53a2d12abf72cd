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
	"strings"

	"github.com/backupkit/backupkit/store"
)

// KeySize is the size of the credentials key WithKey takes: AES-256.
const KeySize = 32

// WithKey supplies the key that encrypts connection credentials at rest
// (AES-256-GCM): exactly KeySize random bytes, kept by the host outside the
// database (a file, a secret manager). Without it, connections with Secrets
// cannot be stored or read. Open fails for a key of another size.
func WithKey(key []byte) Option {
	return func(o *options) { o.key = bytes.Clone(key) }
}

// sealedVersion is the first byte of a sealed secret: the format.
const sealedVersion = 1

// A sealed secret is: version (1 byte) || key fingerprint (8 bytes: the start
// of SHA-256 of the key) || nonce (12 bytes) || AES-256-GCM ciphertext and
// tag. The connection's ID is the additional data, so a sealed secret moved to
// another row does not open. The fingerprint tells "another key" from
// "altered data" in the error.
const fingerprintSize = 8

func fingerprint(key []byte) []byte {
	sum := sha256.Sum256(key)
	return sum[:fingerprintSize]
}

func checkKey(key []byte) error {
	if key != nil && len(key) != KeySize {
		return fmt.Errorf("sqlstore: credentials key is %d bytes; it must be %d (AES-256)", len(key), KeySize)
	}
	return nil
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
	block, err := aes.NewCipher(db.key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
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

func (db *DB) open(id string, sealed []byte) (map[string]string, error) {
	if sealed == nil {
		return nil, nil
	}
	if db.key == nil {
		return nil, fmt.Errorf("sqlstore: connection %s: its credentials are encrypted and the store has no credentials key (open it with WithKey): %w", id, store.ErrWrongKey)
	}
	block, err := aes.NewCipher(db.key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	head := 1 + fingerprintSize + gcm.NonceSize()
	if len(sealed) < head+gcm.Overhead() || sealed[0] != sealedVersion {
		return nil, fmt.Errorf("sqlstore: connection %s: stored credentials are malformed: %w", id, store.ErrWrongKey)
	}
	if fp := sealed[1 : 1+fingerprintSize]; !bytes.Equal(fp, fingerprint(db.key)) {
		return nil, fmt.Errorf("sqlstore: connection %s: credentials were encrypted with another key (fingerprint %s, the store's key is %s): %w",
			id, hex.EncodeToString(fp), hex.EncodeToString(fingerprint(db.key)), store.ErrWrongKey)
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

// KeyFileParam is the store URL query parameter naming a credentials key
// file, for hosts that open the store by URL (store.Open), e.g.
// "sqlite:///var/lib/backupd/store.db?key_file=/etc/backupd/store.key". It is
// removed from the URL before the driver sees it.
const KeyFileParam = "key_file"

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

// keyFromURL takes the key_file parameter out of u, loading the key it names.
// It returns u without the parameter and the option carrying the key (nil
// when there is none).
func keyFromURL(u *url.URL) (*url.URL, Option, error) {
	if u.RawQuery == "" || !strings.Contains(u.RawQuery, KeyFileParam) {
		return u, nil, nil
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil || !q.Has(KeyFileParam) {
		return u, nil, nil // the driver reports a malformed query
	}
	path := q.Get(KeyFileParam)
	q.Del(KeyFileParam)
	c := *u
	c.RawQuery = q.Encode()
	key, err := LoadKey(path)
	if err != nil {
		return nil, nil, err
	}
	return &c, WithKey(key), nil
}
