package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/store"
)

func newService(t *testing.T) (*Service, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return New(db, nil), dir
}

func TestBootstrapCreatesAdminOnce(t *testing.T) {
	s, dir := newService(t)
	tok, created, err := s.Bootstrap(dir)
	if err != nil || !created || len(tok) != TokenLen {
		t.Fatalf("bootstrap = %q, %v, %v", tok, created, err)
	}
	fi, err := os.Stat(filepath.Join(dir, AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.token mode %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(filepath.Join(dir, AdminTokenFile))
	if strings.TrimSpace(string(data)) != tok {
		t.Fatal("admin.token does not hold the returned token")
	}
	p, err := s.Authenticate("Bearer " + tok)
	if err != nil || !p.Admin || p.TenantID != "" {
		t.Fatalf("admin authenticate = %+v, %v", p, err)
	}
	tok2, created, err := s.Bootstrap(dir)
	if err != nil || created || tok2 != "" {
		t.Fatalf("second bootstrap = %q, %v, %v; want nothing new", tok2, created, err)
	}
	// The store holds only the hash.
	s.db.View(func(tx *store.Tx) error {
		return tx.Scan(store.Tokens, "", func(_ string, raw []byte) error {
			if strings.Contains(string(raw), tok[len(tok)-secretLen:]) {
				t.Error("token secret stored in clear")
			}
			return nil
		})
	})
}

func TestRotateAdminRevokesOld(t *testing.T) {
	s, dir := newService(t)
	old, _, _ := s.Bootstrap(dir)
	fresh, err := s.RotateAdmin(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("Bearer " + old); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("old admin token still works: %v", err)
	}
	if p, err := s.Authenticate("Bearer " + fresh); err != nil || !p.Admin {
		t.Fatalf("new admin token: %+v %v", p, err)
	}
}

func TestTenantTokens(t *testing.T) {
	s, _ := newService(t)
	a, tokA, err := s.CreateTenant("acme")
	if err != nil {
		t.Fatal(err)
	}
	b, tokB, err := s.CreateTenant("globex")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateTenant("acme"); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate tenant: %v", err)
	}
	pa, err := s.Authenticate("bearer " + tokA)
	if err != nil || pa.TenantID != a.ID || pa.Admin {
		t.Fatalf("tenant a = %+v, %v", pa, err)
	}
	if !pa.CanAccess(a.ID) || pa.CanAccess(b.ID) {
		t.Fatal("CanAccess crosses tenants")
	}
	tok2, info, err := s.IssueToken(a.ID)
	if err != nil || tok2 == tokA {
		t.Fatal(err)
	}
	if toks, _ := s.ListTokens(a.ID); len(toks) != 2 {
		t.Fatalf("tenant a has %d tokens, want 2", len(toks))
	}
	// Tenant b cannot revoke a's token; a can.
	if err := s.RevokeToken(b.ID, info.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cross-tenant revoke: %v", err)
	}
	if err := s.RevokeToken(a.ID, info.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("Bearer " + tok2); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("revoked token works: %v", err)
	}
	if _, err := s.Authenticate("Bearer " + tokA); err != nil {
		t.Fatalf("first token broken by revoking the second: %v", err)
	}
	if err := s.DeleteTenant(b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("Bearer " + tokB); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("deleted tenant's token works: %v", err)
	}
	if _, _, err := s.IssueToken(b.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("issue for deleted tenant: %v", err)
	}
	if list, _ := s.Tenants(); len(list) != 1 || list[0].Name != "acme" {
		t.Fatalf("tenants = %+v", list)
	}
}

func TestAuthenticateRejects(t *testing.T) {
	s, _ := newService(t)
	_, tok, err := s.CreateTenant("acme")
	if err != nil {
		t.Fatal(err)
	}
	// Same ID, different secret of the right shape.
	forged := tok[:len(tok)-secretLen] + strings.Repeat("A", secretLen)
	for _, h := range []string{
		"", "Bearer", "Bearer ", "Basic " + tok, tok, "Bearer " + forged,
		"Bearer " + tok + "x", "Bearer " + tok[:len(tok)-1],
		"Bearer " + strings.Replace(tok, "ivt_", "IVT_", 1),
		"Bearer " + tok + "\n", "Bearer\t" + tok,
	} {
		if p, err := s.Authenticate(h); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("Authenticate(%q) = %+v, %v; want ErrUnauthenticated", h, p, err)
		}
	}
}

func TestValidateName(t *testing.T) {
	good := []string{"acme", "ACME Corp", "a", "team-1.prod", "ünïcode", strings.Repeat("x", MaxNameLen)}
	bad := []string{"", "a/b", `a\b`, "..", ".", "a..b", "x\x00", "tab\there", "new\nline",
		" lead", "trail ", "\u202eevil", strings.Repeat("x", MaxNameLen+1), "\xff\xfe"}
	for _, n := range good {
		if err := ValidateName(n); err != nil {
			t.Errorf("ValidateName(%q) = %v", n, err)
		}
	}
	for _, n := range bad {
		if err := ValidateName(n); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateName(%q) = %v, want ErrInvalidName", n, err)
		}
	}
	s, _ := newService(t)
	if _, _, err := s.CreateTenant("../etc"); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("CreateTenant(../etc) = %v", err)
	}
}

func TestParseBearer(t *testing.T) {
	if tok, err := ParseBearer("BEARER   abc.DEF_-~+/="); err != nil || tok != "abc.DEF_-~+/=" {
		t.Fatalf("ParseBearer = %q, %v", tok, err)
	}
	if _, err := ParseBearer("Bearer " + strings.Repeat("a", MaxHeaderLen)); err == nil {
		t.Fatal("oversized header accepted")
	}
}

func FuzzParseBearer(f *testing.F) {
	tok, _, _ := newToken()
	f.Add("Bearer " + tok)
	f.Add("bearer x")
	f.Add("Basic dXNlcjpwYXNz")
	f.Add("Bearer ivt_0123456789abcdef_" + strings.Repeat("-", secretLen))
	f.Fuzz(func(t *testing.T, header string) {
		got, err := ParseBearer(header)
		if err != nil {
			return
		}
		if got == "" || strings.ContainsAny(got, " \t\r\n") || len(got) > MaxHeaderLen {
			t.Fatalf("ParseBearer(%q) accepted %q", header, got)
		}
		if id, ok := splitToken(got); ok && (len(id) != idHexLen || len(got) != TokenLen) {
			t.Fatalf("splitToken(%q) = %q", got, id)
		}
	})
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"acme", "../x", "a\x00", "\u202e", " x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateName(name) != nil {
			return
		}
		if strings.ContainsAny(name, "/\\") || strings.Contains(name, "..") || name == "." ||
			filepath.Base(name) != name || len(name) > MaxNameLen {
			t.Fatalf("ValidateName accepted %q", name)
		}
		for _, r := range name {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("ValidateName accepted control char in %q", name)
			}
		}
	})
}

// FuzzAuthenticate feeds arbitrary headers through the whole path (parse,
// split, store lookup, hash compare): nothing may panic, and nothing but
// the two real tokens may authenticate.
func FuzzAuthenticate(f *testing.F) {
	db, err := store.Open(filepath.Join(f.TempDir(), "state.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	s := New(db, nil)
	admin, _, err := s.Bootstrap(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	_, tenant, err := s.CreateTenant("acme")
	if err != nil {
		f.Fatal(err)
	}
	f.Add("Bearer " + admin)
	f.Add("Bearer " + tenant)
	f.Add("Bearer " + tenant[:len(tenant)-1] + "B")
	f.Add("Bearer ivt_0000000000000000_" + strings.Repeat("A", secretLen))
	f.Fuzz(func(t *testing.T, header string) {
		p, err := s.Authenticate(header)
		if err != nil {
			if !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("Authenticate(%q) = %v, not ErrUnauthenticated", header, err)
			}
			return
		}
		tok, _ := ParseBearer(header)
		if tok != admin && tok != tenant {
			t.Fatalf("Authenticate(%q) accepted a token never issued: %+v", header, p)
		}
	})
}
