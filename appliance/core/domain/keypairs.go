package domain

import (
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/quota"
	"github.com/ironvisor/ironvisor/appliance/store"
)

// Key pairs are tenants' SSH public keys, imported by name (as EC2's
// ImportKeyPair) or generated (GenerateKeyPair, as EC2's CreateKeyPair,
// which hands the private key out once: the appliance never holds one). A launch
// names one with key_name; the instance keeps the key, and its metadata
// serves it (public-keys/0/openssh-key), where cloud-init installs it.
// Names are per tenant: the store key is TENANT/NAME.

// MaxPublicKey bounds an imported public key line (an RSA 16384 key is
// about 2.8 KB in authorized_keys form).
const MaxPublicKey = 8 << 10

// KeyPair is a stored public key.
type KeyPair struct {
	Name   string `json:"name"`
	Tenant string `json:"tenant_id"`
	// Type is the key's algorithm (ssh-ed25519, ssh-rsa, ecdsa-sha2-...).
	Type string `json:"type"`
	// PublicKey is the key in authorized_keys form, with its comment.
	PublicKey string `json:"public_key"`
	// Fingerprint is OpenSSH's SHA256 fingerprint (ssh-keygen -l).
	Fingerprint string    `json:"fingerprint"`
	CreateTime  time.Time `json:"create_time"`
}

// ParseKeyPair parses key pair name's public key: one key in
// authorized_keys form (no options, no private key), normalised, with its
// type and fingerprint. The name is the caller's to check.
func ParseKeyPair(name, publicKey string) (KeyPair, error) {
	line := strings.TrimSpace(publicKey)
	if len(line) > MaxPublicKey || strings.ContainsAny(line, "\r\n") {
		return KeyPair{}, invalid("public_key: one line of at most %d bytes", MaxPublicKey)
	}
	key, comment, options, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil || len(options) > 0 || len(rest) > 0 {
		return KeyPair{}, invalid("public_key: not an OpenSSH public key (\"ssh-ed25519 AAAA... comment\")")
	}
	norm := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	if comment != "" {
		if strings.ContainsFunc(comment, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return KeyPair{}, invalid("public_key: control characters in the comment")
		}
		norm += " " + comment
	}
	return KeyPair{Name: name, Type: key.Type(), PublicKey: norm, Fingerprint: ssh.FingerprintSHA256(key)}, nil
}

// keyPairKey is the store key of tenant's key pair name.
func keyPairKey(tenant, name string) string { return store.TenantKey(tenant, name) }

// keyPairTenant is k's owner.
func keyPairTenant(k KeyPair) string { return k.Tenant }

// KeyPairs lists the key pairs who may see.
func (d *Domain) KeyPairs(who auth.Principal) ([]KeyPair, error) {
	return listOwned(d.cfg.DB, store.KeyPairs, who, keyPairTenant)
}

// KeyPair returns who's key pair name (a tenant's own names only).
func (d *Domain) KeyPair(name string, who auth.Principal) (KeyPair, error) {
	return getOwned(d.cfg.DB, store.KeyPairs, keyPairKey(who.TenantID, name), name, who, keyPairTenant, "key pair")
}

// ImportKeyPair stores k (from ParseKeyPair) as who's.
func (d *Domain) ImportKeyPair(who auth.Principal, k KeyPair) (KeyPair, error) {
	if err := ownerOnly(who, "key pairs"); err != nil {
		return k, err
	}
	k.Tenant, k.CreateTime = who.TenantID, d.cfg.Now().UTC()
	err := d.cfg.DB.Update(func(tx *store.Tx) error {
		if tx.Has(store.KeyPairs, keyPairKey(k.Tenant, k.Name)) {
			return tx.Create(store.KeyPairs, keyPairKey(k.Tenant, k.Name), k) // AlreadyExists
		}
		if err := checkQuota(tx, store.KeyPairs, keyPairKey(k.Tenant, ""), k.Tenant, "key pairs",
			func(l quota.Limits) int { return l.KeyPairs }); err != nil {
			return err
		}
		return tx.Create(store.KeyPairs, keyPairKey(k.Tenant, k.Name), k)
	})
	return k, err
}

// DeleteKeyPair deletes who's key pair name; instances keep their key.
func (d *Domain) DeleteKeyPair(who auth.Principal, name string) error {
	k, err := d.KeyPair(name, who)
	if err != nil {
		return err
	}
	return d.cfg.DB.Update(func(tx *store.Tx) error { return tx.Delete(store.KeyPairs, keyPairKey(k.Tenant, k.Name)) })
}

// LaunchKey returns the public key of tenant's key pair name for a launch
// ("" for no name), or an InvalidParameter error naming it.
func (d *Domain) LaunchKey(tenant, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	k, err := store.GetOne[KeyPair](d.cfg.DB, store.KeyPairs, keyPairKey(tenant, name))
	if err != nil {
		return "", invalid("key pair %q does not exist", name)
	}
	return k.PublicKey, nil
}
