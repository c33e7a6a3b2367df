// Package auth holds tenants and their API tokens, and turns an
// Authorization header into a Principal.
//
// Tokens are 256-bit random secrets shown once, when issued; the store keeps
// only their SHA-256, compared in constant time. One admin token is created
// on first start and written to DATA/admin.token (mode 0600). Every failure
// to authenticate is the same ErrUnauthenticated, so a caller learns nothing
// about which tokens exist.
package auth

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/durable"
	"github.com/ironvisor/ironvisor/appliance/store"
)

// AdminTokenFile is the file, under the data directory, that receives the
// admin token on first start.
const AdminTokenFile = "admin.token"

// ErrNotFound is wrapped when a tenant or token does not exist (or, for
// a token, belongs to another tenant).
var ErrNotFound = apiv1.NewError(apiv1.NotFound, "not found")

// ErrExists is wrapped when a tenant name is already taken.
var ErrExists = apiv1.NewError(apiv1.AlreadyExists, "already exists")

// Principal is who a request acts as.
type Principal struct {
	// TenantID is the tenant the token belongs to; empty for the admin.
	TenantID string `json:"tenant_id,omitempty"`
	// Admin is true for the admin token, which sees every tenant.
	Admin bool `json:"admin"`
	// TokenID identifies the token used, for audit logs.
	TokenID string `json:"token_id"`
}

// CanAccess reports whether p may see an object owned by tenantID. Callers
// answer 404, not 403, when it is false.
func (p Principal) CanAccess(tenantID string) bool {
	return p.Admin || (p.TenantID != "" && p.TenantID == tenantID)
}

// Tenant is one customer of the host.
type Tenant struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// Token describes an issued token. The secret itself is never stored.
type Token struct {
	ID       string    `json:"id"`
	TenantID string    `json:"tenant_id,omitempty"`
	Admin    bool      `json:"admin,omitempty"`
	Created  time.Time `json:"created"`
}

// tokenRecord is what the Tokens bucket holds, keyed by token ID.
type tokenRecord struct {
	Token
	Hash string `json:"sha256"`
}

// Service is the tenant and token registry on top of the store.
type Service struct {
	db  *store.DB
	now func() time.Time
}

// New returns a Service using db. now may be nil for time.Now.
func New(db *store.DB, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: db, now: now}
}

// Bootstrap makes sure an admin token exists. On first start it creates
// one, writes it to dataDir/admin.token with mode 0600 and returns it with
// created true; on later starts it returns "", false. The file is written
// (and synced) before the token is committed, so a crash in between only
// means a fresh token on the next start, never a lost one.
func (s *Service) Bootstrap(dataDir string) (token string, created bool, err error) {
	var have bool
	err = s.db.View(func(tx *store.Tx) error {
		return tx.Scan(store.Tokens, "", func(_ string, raw []byte) error {
			var r tokenRecord
			if err := decodeRecord(raw, &r); err != nil {
				return err
			}
			have = have || r.Admin
			return nil
		})
	})
	if err != nil || have {
		return "", false, err
	}
	tok, err := s.RotateAdmin(dataDir)
	return tok, err == nil, err
}

// RotateAdmin revokes every admin token, issues a new one and writes it to
// dataDir/admin.token. It is the recovery path when the file is lost.
func (s *Service) RotateAdmin(dataDir string) (string, error) {
	tok, id, err := newToken()
	if err != nil {
		return "", err
	}
	if err := writeSecretFile(filepath.Join(dataDir, AdminTokenFile), tok+"\n"); err != nil {
		return "", fmt.Errorf("write admin token: %w", err)
	}
	rec := tokenRecord{Token: Token{ID: id, Admin: true, Created: s.now().UTC()}, Hash: hashToken(tok)}
	err = s.db.Update(func(tx *store.Tx) error {
		old, err := store.List[tokenRecord](tx, store.Tokens, "")
		if err != nil {
			return err
		}
		for _, o := range old {
			if o.Admin {
				if err := tx.Delete(store.Tokens, o.ID); err != nil {
					return err
				}
			}
		}
		return tx.Create(store.Tokens, id, rec)
	})
	if err != nil {
		return "", fmt.Errorf("store admin token: %w", err)
	}
	return tok, nil
}

// writeSecretFile atomically replaces path with data, mode 0600, synced.
func writeSecretFile(path, data string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return durable.Rename(tmp, path)
}

// Authenticate checks the value of an Authorization header and returns who
// it belongs to. Every failure is ErrUnauthenticated.
func (s *Service) Authenticate(header string) (Principal, error) {
	tok, err := ParseBearer(header)
	if err != nil {
		return Principal{}, err
	}
	id, ok := splitToken(tok)
	if !ok {
		return Principal{}, fmt.Errorf("%w: malformed token", ErrUnauthenticated)
	}
	var rec tokenRecord
	var tenantOK bool
	err = s.db.View(func(tx *store.Tx) error {
		if err := tx.Get(store.Tokens, id, &rec); err != nil {
			return err
		}
		tenantOK = rec.Admin || tx.Has(store.Tenants, rec.TenantID)
		return nil
	})
	// Hash and compare even for an unknown ID so both paths cost the same.
	match := hashEqual(hashToken(tok), rec.Hash)
	if err != nil || !match || !tenantOK {
		return Principal{}, ErrUnauthenticated
	}
	return Principal{TenantID: rec.TenantID, Admin: rec.Admin, TokenID: rec.ID}, nil
}

// decodeRecord decodes a stored JSON record.
func decodeRecord(raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode token record: %w", err)
	}
	return nil
}
