package controlplane

import (
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/store"
)

// Key pairs are tenants' SSH public keys, imported by name (as EC2's
// ImportKeyPair; the appliance never makes or holds private keys). A launch
// names one with key_name; the instance keeps the key, and its metadata
// serves it (public-keys/0/openssh-key), where cloud-init installs it.
// Names are per tenant: the store key is TENANT/NAME.

// MaxPublicKey bounds an imported public key line (an RSA 16384 key is
// about 2.8 KB in authorized_keys form).
const MaxPublicKey = 8 << 10

// KeyPair is a stored public key (the API's object).
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

// KeyPairRequest is the body of POST /v1/key-pairs.
type KeyPairRequest struct {
	Name      string `json:"name"`
	PublicKey string `json:"public_key"`
}

// decodeKeyPair decodes a KeyPairRequest and parses its key: one public
// key in authorized_keys form (no options, no private key).
func decodeKeyPair(r io.Reader) (KeyPair, error) {
	var q KeyPairRequest
	if err := decodeJSON(r, &q, false); err != nil {
		return KeyPair{}, err
	}
	if err := checkName("name", q.Name); err != nil {
		return KeyPair{}, err
	}
	line := strings.TrimSpace(q.PublicKey)
	if len(line) > MaxPublicKey || strings.ContainsAny(line, "\r\n") {
		return KeyPair{}, badRequest("public_key: one line of at most %d bytes", MaxPublicKey)
	}
	key, comment, options, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil || len(options) > 0 || len(rest) > 0 {
		return KeyPair{}, badRequest("public_key: not an OpenSSH public key (\"ssh-ed25519 AAAA... comment\")")
	}
	norm := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	if comment != "" {
		if strings.ContainsFunc(comment, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return KeyPair{}, badRequest("public_key: control characters in the comment")
		}
		norm += " " + comment
	}
	return KeyPair{Name: q.Name, Type: key.Type(), PublicKey: norm, Fingerprint: ssh.FingerprintSHA256(key)}, nil
}

// keyPairKey is the store key of tenant's key pair name.
func keyPairKey(tenant, name string) string { return tenant + "/" + name }

// keyPairTenant is k's owner.
func keyPairTenant(k KeyPair) string { return k.Tenant }

// ownedKeyPair returns who's key pair name (a tenant's own names only).
func (cp *ControlPlane) ownedKeyPair(name string, who auth.Principal) (KeyPair, error) {
	return getOwned(cp.cfg.DB, store.KeyPairs, keyPairKey(who.TenantID, name), who, keyPairTenant, "key pair")
}

func (cp *ControlPlane) listKeyPairs(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	listOwned(w, cp.cfg.DB, store.KeyPairs, who, keyPairTenant)
}

func (cp *ControlPlane) getKeyPair(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	answerOwned(w, func() (KeyPair, error) { return cp.ownedKeyPair(p["name"], who) })
}

func (cp *ControlPlane) importKeyPair(w http.ResponseWriter, r *http.Request, _ api.Params, who auth.Principal) {
	k, err := decodeKeyPair(r.Body)
	if err == nil && who.Admin {
		err = badRequest("the admin token owns no key pairs: use a tenant's token")
	}
	if err == nil {
		k.Tenant, k.CreateTime = who.TenantID, cp.cfg.Now().UTC()
		err = cp.cfg.DB.Update(func(tx *store.Tx) error {
			return tx.Create(store.KeyPairs, keyPairKey(k.Tenant, k.Name), k)
		})
	}
	if err != nil {
		fail(w, err)
		return
	}
	api.JSON(w, http.StatusCreated, k)
}

func (cp *ControlPlane) deleteKeyPair(w http.ResponseWriter, r *http.Request, p api.Params, who auth.Principal) {
	k, err := cp.ownedKeyPair(p["name"], who)
	if err == nil {
		err = cp.cfg.DB.Update(func(tx *store.Tx) error { return tx.Delete(store.KeyPairs, keyPairKey(k.Tenant, k.Name)) })
	}
	if err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// launchKey returns the public key of tenant's key pair name for a launch
// ("" for no name), or a bad-request error naming it.
func (cp *ControlPlane) launchKey(tenant, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	k, err := store.GetOne[KeyPair](cp.cfg.DB, store.KeyPairs, keyPairKey(tenant, name))
	if err != nil {
		return "", badRequest("key pair %q does not exist", name)
	}
	return k.PublicKey, nil
}
