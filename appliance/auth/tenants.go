package auth

import (
	"errors"
	"fmt"
	"sort"

	"github.com/ironvisor/ironvisor/appliance/quota"
	"github.com/ironvisor/ironvisor/appliance/store"
)

// CreateTenant creates a tenant called name together with its first token,
// in one transaction, and returns the token (shown only this once).
func (s *Service) CreateTenant(name string) (Tenant, string, error) {
	if err := ValidateName(name); err != nil {
		return Tenant{}, "", err
	}
	id, err := store.NewID("t-")
	if err != nil {
		return Tenant{}, "", err
	}
	t := Tenant{ID: id, Name: name, Created: s.now().UTC()}
	var tok string
	err = s.db.Update(func(tx *store.Tx) error {
		all, err := store.List[Tenant](tx, store.Tenants, "")
		if err != nil {
			return err
		}
		for _, o := range all {
			if o.Name == name {
				return fmt.Errorf("tenant %q: %w", name, ErrExists)
			}
		}
		if err := tx.Create(store.Tenants, id, t); err != nil {
			return err
		}
		tok, _, err = s.issue(tx, id)
		return err
	})
	if err != nil {
		return Tenant{}, "", fmt.Errorf("create tenant: %w", err)
	}
	return t, tok, nil
}

// issue stores a new token for tenantID inside tx.
func (s *Service) issue(tx *store.Tx, tenantID string) (string, Token, error) {
	tok, id, err := newToken()
	if err != nil {
		return "", Token{}, err
	}
	rec := tokenRecord{Token: Token{ID: id, TenantID: tenantID, Created: s.now().UTC()}, Hash: hashToken(tok)}
	if err := tx.Create(store.Tokens, id, rec); err != nil {
		return "", Token{}, err
	}
	return tok, rec.Token, nil
}

// IssueToken creates another token for tenantID and returns it (shown only
// this once) with its description.
func (s *Service) IssueToken(tenantID string) (string, Token, error) {
	var tok string
	var info Token
	err := s.db.Update(func(tx *store.Tx) error {
		if !tx.Has(store.Tenants, tenantID) {
			return fmt.Errorf("tenant %q: %w", tenantID, ErrNotFound)
		}
		if err := checkTokenQuota(tx, tenantID); err != nil {
			return err
		}
		var err error
		tok, info, err = s.issue(tx, tenantID)
		return err
	})
	if err != nil {
		return "", Token{}, fmt.Errorf("issue token: %w", err)
	}
	return tok, info, nil
}

// RevokeToken deletes token tokenID of tenant tenantID. A token of another
// tenant, or an admin token, is ErrNotFound.
func (s *Service) RevokeToken(tenantID, tokenID string) error {
	err := s.db.Update(func(tx *store.Tx) error {
		rec, err := store.Get[tokenRecord](tx, store.Tokens, tokenID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (rec.Admin || rec.TenantID != tenantID)) {
			return fmt.Errorf("token %q: %w", tokenID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		return tx.Delete(store.Tokens, tokenID)
	})
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	return nil
}

// ListTokens describes the tokens of tenantID, oldest first.
func (s *Service) ListTokens(tenantID string) ([]Token, error) {
	recs, err := store.ListAll[tokenRecord](s.db, store.Tokens, "")
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out := []Token{}
	for _, r := range recs {
		if !r.Admin && r.TenantID == tenantID {
			out = append(out, r.Token)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// Tenant returns the tenant with the given ID.
func (s *Service) Tenant(id string) (Tenant, error) {
	t, err := store.GetOne[Tenant](s.db, store.Tenants, id)
	if errors.Is(err, store.ErrNotFound) {
		return Tenant{}, fmt.Errorf("tenant %q: %w", id, ErrNotFound)
	}
	return t, err
}

// Tenants lists every tenant, by name.
func (s *Service) Tenants() ([]Tenant, error) {
	all, err := store.ListAll[Tenant](s.db, store.Tenants, "")
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	return all, nil
}

// DeleteTenant deletes a tenant and all its tokens and access keys in one
// transaction. The caller must first make sure the tenant owns no
// instances or networks.
func (s *Service) DeleteTenant(id string) error {
	err := s.db.Update(func(tx *store.Tx) error {
		if err := tx.Delete(store.Tenants, id); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("tenant %q: %w", id, ErrNotFound)
		} else if err != nil {
			return err
		}
		recs, err := store.List[tokenRecord](tx, store.Tokens, "")
		if err != nil {
			return err
		}
		for _, r := range recs {
			if !r.Admin && r.TenantID == id {
				if err := tx.Delete(store.Tokens, r.ID); err != nil {
					return err
				}
			}
		}
		keys, err := store.List[accessKeyRecord](tx, store.AccessKeys, "")
		if err != nil {
			return err
		}
		for _, k := range keys {
			if k.TenantID == id {
				if err := tx.Delete(store.AccessKeys, k.ID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete tenant: %w", err)
	}
	return nil
}

// checkTokenQuota admits one more token of tenantID (package quota).
func checkTokenQuota(tx *store.Tx, tenantID string) error {
	l, err := quota.Get(tx, tenantID)
	if err != nil {
		return err
	}
	n, err := quota.Count(tx, store.Tokens, "", tenantID, nil)
	if err != nil {
		return err
	}
	return quota.Check("tokens", n, 1, int64(l.Tokens))
}
