package domain

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/ironvisor/ironvisor/appliance/auth"
)

// Key types GenerateKeyPair makes, as EC2's CreateKeyPair names them.
const (
	KeyTypeED25519 = "ed25519"
	KeyTypeRSA     = "rsa"
)

// rsaBits is the size of a generated RSA key, as EC2's.
const rsaBits = 2048

// GenerateKeyPair makes a new SSH key of keyType (KeyTypeED25519 or
// KeyTypeRSA), stores its public half as who's key pair name, and
// returns it with the private key in PEM form (OpenSSH's for ed25519,
// PKCS #1 for RSA, as EC2 hands them out). The private key is returned
// this once and never stored.
func (d *Domain) GenerateKeyPair(who auth.Principal, name, keyType string) (KeyPair, []byte, error) {
	var pub any
	var block *pem.Block
	switch keyType {
	case KeyTypeED25519:
		p, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return KeyPair{}, nil, fmt.Errorf("generate key: %w", err)
		}
		if block, err = ssh.MarshalPrivateKey(k, ""); err != nil {
			return KeyPair{}, nil, fmt.Errorf("encode key: %w", err)
		}
		pub = p
	case KeyTypeRSA:
		k, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			return KeyPair{}, nil, fmt.Errorf("generate key: %w", err)
		}
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
		pub = &k.PublicKey
	default:
		return KeyPair{}, nil, invalid("key type %q: want %s or %s", keyType, KeyTypeED25519, KeyTypeRSA)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return KeyPair{}, nil, fmt.Errorf("encode public key: %w", err)
	}
	k, err := ParseKeyPair(name, string(ssh.MarshalAuthorizedKey(sp)))
	if err != nil {
		return KeyPair{}, nil, err
	}
	if k, err = d.ImportKeyPair(who, k); err != nil {
		return KeyPair{}, nil, err
	}
	return k, pem.EncodeToMemory(block), nil
}
