package auth

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
)

func newAccessKeys(t *testing.T) (*Service, *AccessKeys, string) {
	t.Helper()
	s, dir := newService(t)
	a, err := OpenAccessKeys(s.db, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, a, dir
}

var (
	keyIDShape  = regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`)
	secretShape = regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`)
)

// TestAccessKeySecretNotInStore: the secret opens through Secret, but
// neither the store file nor the record holds it in clear.
func TestAccessKeySecretNotInStore(t *testing.T) {
	s, a, dir := newAccessKeys(t)
	ten, _, err := s.CreateTenant("acme")
	if err != nil {
		t.Fatal(err)
	}
	k, secret, err := a.Create(ten.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !keyIDShape.MatchString(k.ID) || !secretShape.MatchString(secret) {
		t.Fatalf("shapes: %q %q", k.ID, secret)
	}
	got, who, err := a.Secret(k.ID)
	if err != nil || got != secret || who.TenantID != ten.ID || who.Admin || who.TokenID != k.ID {
		t.Fatalf("Secret = %q %+v %v", got, who, err)
	}
	s.db.Close()
	raw, err := os.ReadFile(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Fatal("the store file holds the secret in clear")
	}
	if !bytes.Contains(raw, []byte(k.ID)) {
		t.Fatal("the store file lacks the key ID: wrong file?")
	}
	st, err := os.Stat(filepath.Join(dir, AccessKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("host key: %v %v", st, err)
	}
}

// TestAccessKeyTenancy: keys list and delete per tenant; another
// tenant's key is not found; a deleted key or tenant authenticates no more.
func TestAccessKeyTenancy(t *testing.T) {
	s, a, _ := newAccessKeys(t)
	t1, _, _ := s.CreateTenant("one")
	t2, _, _ := s.CreateTenant("two")
	k1, _, err := a.Create(t1.ID)
	if err != nil {
		t.Fatal(err)
	}
	k2, _, _ := a.Create(t2.ID)
	if l, _ := a.List(t1.ID); len(l) != 1 || l[0].ID != k1.ID {
		t.Fatalf("list one: %+v", l)
	}
	if err := a.Delete(t2.ID, k1.ID); !errors.Is(err, apiv1.NotFound) {
		t.Fatalf("delete another tenant's key: %v", err)
	}
	if err := a.Delete(t1.ID, k1.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Secret(k1.ID); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("deleted key: %v", err)
	}
	if err := s.DeleteTenant(t2.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Secret(k2.ID); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("key of a deleted tenant: %v", err)
	}
	if _, _, err := a.Create("t-nope"); !errors.Is(err, apiv1.NotFound) {
		t.Fatalf("key for no tenant: %v", err)
	}
	for _, id := range []string{"", "AKIA", "AKIAAAAAAAAAAAAAAAAA", "x/../y"} {
		if _, _, err := a.Secret(id); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("Secret(%q): %v", id, err)
		}
	}
}

// TestAccessKeyHostKey: the host key survives a reopen, a loose mode is
// refused, and a record sealed under another host key does not open.
func TestAccessKeyHostKey(t *testing.T) {
	s, a, dir := newAccessKeys(t)
	ten, _, _ := s.CreateTenant("acme")
	k, secret, _ := a.Create(ten.ID)
	b, err := OpenAccessKeys(s.db, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := b.Secret(k.ID); err != nil || got != secret {
		t.Fatalf("after reopen: %v", err)
	}
	path := filepath.Join(dir, AccessKeyFile)
	os.Chmod(path, 0o644)
	if _, err := OpenAccessKeys(s.db, dir, nil); err == nil {
		t.Fatal("a world-readable host key was accepted")
	}
	os.Remove(path)
	c, err := OpenAccessKeys(s.db, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Secret(k.ID); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("opened under a new host key: %v", err)
	}
}
