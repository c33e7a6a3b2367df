package domain

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
)

// TestGenerateKeyPair: the private key returned parses and matches the
// stored public key; the store holds no private key; a bad type or a
// taken name is refused.
func TestGenerateKeyPair(t *testing.T) {
	d, _, _ := newDomain(t)
	who := auth.Principal{TenantID: "t-a"}
	for _, typ := range []string{KeyTypeED25519, KeyTypeRSA} {
		k, priv, err := d.GenerateKeyPair(who, "k-"+typ, typ)
		if err != nil {
			t.Fatal(err)
		}
		signer, err := ssh.ParsePrivateKey(priv)
		if err != nil {
			t.Fatalf("%s: private key does not parse: %v", typ, err)
		}
		if ssh.FingerprintSHA256(signer.PublicKey()) != k.Fingerprint {
			t.Fatalf("%s: private and public halves differ", typ)
		}
		stored, err := d.KeyPair(k.Name, who)
		if err != nil || stored.PublicKey != k.PublicKey || strings.Contains(stored.PublicKey, "PRIVATE") {
			t.Fatalf("%s: stored %+v %v", typ, stored, err)
		}
	}
	if _, _, err := d.GenerateKeyPair(who, "x", "dsa"); !errors.Is(err, apiv1.InvalidParameter) {
		t.Fatalf("dsa: %v", err)
	}
	if _, _, err := d.GenerateKeyPair(who, "k-rsa", KeyTypeED25519); !errors.Is(err, apiv1.AlreadyExists) {
		t.Fatalf("taken name: %v", err)
	}
}
