package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/store"
)

// Access keys are the credentials of AWS Signature Version 4, which the
// EC2 endpoint verifies. Unlike a bearer token, SigV4 needs the secret
// itself on the server (it is the HMAC key), so it cannot be stored as a
// hash. Each secret is therefore sealed with AES-256-GCM under a host key
// kept in DATA/access-keys.key (mode 0600, like the TLS key and the admin
// token), with the key ID and tenant as additional data so that a sealed
// secret cannot be moved to another record. Reading the store alone
// reveals no secret; losing the host key makes every access key unusable
// (tenants create new ones).

// AccessKeyFile is the host key's file under the data directory.
const AccessKeyFile = "access-keys.key"

// Access key shapes, as AWS's: a 20-character ID starting with AKIA and a
// 40-character secret.
const (
	accessKeyPrefix = "AKIA"
	// AccessKeyIDLen is the length of every access key ID.
	AccessKeyIDLen = 20
	// secretKeyBytes random bytes make a 40-character base64 secret.
	secretKeyBytes = 30
	// MaxAccessKeys bounds the access keys of one tenant.
	MaxAccessKeys = 16
)

// idEncoding is upper-case base32 without padding (A-Z, 2-7).
var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// AccessKey describes an access key (never its secret).
type AccessKey struct {
	ID       string    `json:"id"`
	TenantID string    `json:"tenant_id"`
	Created  time.Time `json:"created"`
}

// accessKeyRecord is what the AccessKeys bucket holds, keyed by key ID.
type accessKeyRecord struct {
	AccessKey
	// Sealed is base64(nonce || AES-GCM ciphertext of the secret).
	Sealed string `json:"sealed"`
}

// AccessKeys is the registry of SigV4 access keys.
type AccessKeys struct {
	db   *store.DB
	now  func() time.Time
	aead cipher.AEAD
}

// OpenAccessKeys returns the registry over db, loading the host key from
// dataDir/access-keys.key or creating it (32 random bytes, mode 0600).
// now may be nil for time.Now.
func OpenAccessKeys(db *store.DB, dataDir string, now func() time.Time) (*AccessKeys, error) {
	if now == nil {
		now = time.Now
	}
	key, err := loadHostKey(filepath.Join(dataDir, AccessKeyFile))
	if err != nil {
		return nil, fmt.Errorf("access keys: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("access keys: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("access keys: %w", err)
	}
	return &AccessKeys{db: db, now: now, aead: aead}, nil
}

// loadHostKey reads the hex host key at path, creating it if absent. A
// key file readable by others is refused.
func loadHostKey(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		var k [32]byte
		if _, err := rand.Read(k[:]); err != nil {
			return nil, err
		}
		if err := writeSecretFile(path, hex.EncodeToString(k[:])+"\n"); err != nil {
			return nil, fmt.Errorf("write host key: %w", err)
		}
		return k[:], nil
	}
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("host key %s must have mode 0600", path)
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(k) != 32 {
		return nil, fmt.Errorf("host key %s: want 64 hex digits", path)
	}
	return k, nil
}

// additional is the AES-GCM additional data of a record's secret.
func additional(id, tenant string) []byte { return []byte(id + "/" + tenant) }

// Create makes a new access key for tenantID and returns it with its
// secret, shown only this once.
func (a *AccessKeys) Create(tenantID string) (AccessKey, string, error) {
	var idb [10]byte
	var sec [secretKeyBytes]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return AccessKey{}, "", fmt.Errorf("create access key: %w", err)
	}
	if _, err := rand.Read(sec[:]); err != nil {
		return AccessKey{}, "", fmt.Errorf("create access key: %w", err)
	}
	id := (accessKeyPrefix + idEncoding.EncodeToString(idb[:]))[:AccessKeyIDLen]
	secret := base64.StdEncoding.EncodeToString(sec[:])
	nonce := make([]byte, a.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return AccessKey{}, "", fmt.Errorf("create access key: %w", err)
	}
	sealed := a.aead.Seal(nonce, nonce, []byte(secret), additional(id, tenantID))
	rec := accessKeyRecord{AccessKey: AccessKey{ID: id, TenantID: tenantID, Created: a.now().UTC()},
		Sealed: base64.StdEncoding.EncodeToString(sealed)}
	err := a.db.Update(func(tx *store.Tx) error {
		if !tx.Has(store.Tenants, tenantID) {
			return fmt.Errorf("tenant %q: %w", tenantID, ErrNotFound)
		}
		n := 0
		err := tx.Scan(store.AccessKeys, "", func(_ string, raw []byte) error {
			var r accessKeyRecord
			if err := decodeRecord(raw, &r); err != nil {
				return err
			}
			if r.TenantID == tenantID {
				n++
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n >= MaxAccessKeys {
			return fmt.Errorf("%w: at most %d access keys per tenant", apiv1.LimitExceeded, MaxAccessKeys)
		}
		return tx.Create(store.AccessKeys, id, rec)
	})
	if err != nil {
		return AccessKey{}, "", fmt.Errorf("create access key: %w", err)
	}
	return rec.AccessKey, secret, nil
}

// List describes tenantID's access keys, oldest first.
func (a *AccessKeys) List(tenantID string) ([]AccessKey, error) {
	recs, err := store.ListAll[accessKeyRecord](a.db, store.AccessKeys, "")
	if err != nil {
		return nil, fmt.Errorf("list access keys: %w", err)
	}
	out := []AccessKey{}
	for _, r := range recs {
		if r.TenantID == tenantID {
			out = append(out, r.AccessKey)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// Delete deletes tenantID's access key id; another tenant's is
// ErrNotFound.
func (a *AccessKeys) Delete(tenantID, id string) error {
	err := a.db.Update(func(tx *store.Tx) error {
		rec, err := store.Get[accessKeyRecord](tx, store.AccessKeys, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && rec.TenantID != tenantID) {
			return fmt.Errorf("access key %q: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		return tx.Delete(store.AccessKeys, id)
	})
	if err != nil {
		return fmt.Errorf("delete access key: %w", err)
	}
	return nil
}

// Secret returns the secret of access key id and who it acts as, for a
// SigV4 verifier. An unknown key, a key whose tenant is gone or one that
// does not open under the host key is ErrUnauthenticated.
func (a *AccessKeys) Secret(id string) (string, Principal, error) {
	if len(id) != AccessKeyIDLen || !strings.HasPrefix(id, accessKeyPrefix) {
		return "", Principal{}, ErrUnauthenticated
	}
	var rec accessKeyRecord
	var tenantOK bool
	err := a.db.View(func(tx *store.Tx) error {
		if err := tx.Get(store.AccessKeys, id, &rec); err != nil {
			return err
		}
		tenantOK = tx.Has(store.Tenants, rec.TenantID)
		return nil
	})
	if err != nil || !tenantOK {
		return "", Principal{}, ErrUnauthenticated
	}
	sealed, err := base64.StdEncoding.DecodeString(rec.Sealed)
	ns := a.aead.NonceSize()
	if err != nil || len(sealed) < ns {
		return "", Principal{}, ErrUnauthenticated
	}
	secret, err := a.aead.Open(nil, sealed[:ns], sealed[ns:], additional(rec.ID, rec.TenantID))
	if err != nil {
		return "", Principal{}, ErrUnauthenticated
	}
	return string(secret), Principal{TenantID: rec.TenantID, TokenID: rec.ID}, nil
}
