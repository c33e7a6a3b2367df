package ec2

import (
	"encoding/base64"
	"errors"
	"slices"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/core/domain"
)

// Key pairs: CreateKeyPair has the core generate a key and hands the
// private key out once; ImportKeyPair takes a public key; both are the
// core's key pairs, which launches name with KeyName.

type createKeyPairResponse struct {
	head
	KeyName     string    `xml:"keyName"`
	Fingerprint string    `xml:"keyFingerprint"`
	Material    string    `xml:"keyMaterial,omitempty"`
	KeyPairID   string    `xml:"keyPairId"`
	Tags        []tagItem `xml:"tagSet>item"`
}

// keyName decodes and checks KeyName.
func keyName(c call) (string, error) {
	name, err := c.p.required("KeyName")
	if err != nil {
		return "", err
	}
	if err := auth.ValidateName(name); err != nil {
		return "", invalidValue("KeyName: %v", err)
	}
	return name, nil
}

func (s *Server) createKeyPair(c call) (any, error) {
	name, err := keyName(c)
	if err != nil {
		return nil, err
	}
	typ := c.p.str("KeyType")
	if typ == "" {
		typ = domain.KeyTypeRSA
	}
	if f := c.p.str("KeyFormat"); f != "" && f != "pem" {
		return nil, invalidValue("KeyFormat %q: only pem", trim(f, 16))
	}
	k, priv, err := s.cfg.Domain.GenerateKeyPair(c.who, name, typ)
	if err != nil {
		return nil, keyPairObj.err(err)
	}
	id := keyPairID(c.who.TenantID, k.Name)
	if err := s.tagOnCreate(c, "key-pair", id); err != nil {
		return nil, err
	}
	return &createKeyPairResponse{KeyName: k.Name, Fingerprint: k.Fingerprint, Material: string(priv), KeyPairID: id}, nil
}

func (s *Server) importKeyPair(c call) (any, error) {
	name, err := keyName(c)
	if err != nil {
		return nil, err
	}
	mat, err := c.p.required("PublicKeyMaterial")
	if err != nil {
		return nil, err
	}
	pub, err := base64.StdEncoding.DecodeString(mat)
	if err != nil {
		return nil, invalidValue("PublicKeyMaterial: invalid base64")
	}
	k, err := domain.ParseKeyPair(name, string(pub))
	if err == nil {
		k, err = s.cfg.Domain.ImportKeyPair(c.who, k)
	}
	if err != nil {
		return nil, keyPairObj.err(err)
	}
	id := keyPairID(c.who.TenantID, k.Name)
	if err := s.tagOnCreate(c, "key-pair", id); err != nil {
		return nil, err
	}
	return &createKeyPairResponse{KeyName: k.Name, Fingerprint: k.Fingerprint, KeyPairID: id}, nil
}

type keyPairItem struct {
	KeyPairID   string    `xml:"keyPairId"`
	KeyName     string    `xml:"keyName"`
	Fingerprint string    `xml:"keyFingerprint"`
	KeyType     string    `xml:"keyType"`
	PublicKey   string    `xml:"publicKey,omitempty"`
	CreateTime  string    `xml:"createTime"`
	Tags        []tagItem `xml:"tagSet>item"`
}

type keyPairsResponse struct {
	head
	KeyPairs []keyPairItem `xml:"keySet>item"`
}

// ec2KeyType names an SSH key type as EC2 does.
func ec2KeyType(sshType string) string {
	if sshType == "ssh-ed25519" {
		return domain.KeyTypeED25519
	}
	return domain.KeyTypeRSA
}

func (s *Server) describeKeyPairs(c call) (any, error) {
	names, err := c.p.list("KeyName")
	if err != nil {
		return nil, err
	}
	ids, err := c.p.list("KeyPairId")
	if err != nil {
		return nil, err
	}
	fs, err := c.p.filters()
	if err != nil {
		return nil, err
	}
	withPub, err := c.p.boolean("IncludePublicKey")
	if err != nil {
		return nil, err
	}
	ks, err := s.cfg.Domain.KeyPairs(c.who)
	if err != nil {
		return nil, err
	}
	tagged, err := s.cfg.Tags.All(c.who.TenantID)
	if err != nil {
		return nil, err
	}
	out := &keyPairsResponse{KeyPairs: []keyPairItem{}}
	seen := map[string]bool{}
	for _, k := range ks {
		id := keyPairID(c.who.TenantID, k.Name)
		if (len(names) > 0 || len(ids) > 0) && !slices.Contains(names, k.Name) && !slices.Contains(ids, id) {
			continue
		}
		seen[k.Name], seen[id] = true, true
		it := keyPairItem{KeyPairID: id, KeyName: k.Name, Fingerprint: k.Fingerprint, KeyType: ec2KeyType(k.Type),
			CreateTime: ts(k.CreateTime), Tags: tagItems(tagged[id])}
		if withPub {
			it.PublicKey = k.PublicKey
		}
		ok, err := matchAll(fs, map[string][]string{"key-name": {k.Name}, "key-pair-id": {id}, "fingerprint": {k.Fingerprint}}, it.Tags)
		if err != nil {
			return nil, err
		}
		if ok {
			out.KeyPairs = append(out.KeyPairs, it)
		}
	}
	for _, n := range append(names, ids...) {
		if !seen[n] {
			return nil, newError(keyPairObj.notFound, "The key pair '%s' does not exist", trim(n, 64))
		}
	}
	return out, nil
}

// deleteKeyPair deletes KeyName or KeyPairId; as on EC2, deleting a key
// pair that does not exist succeeds.
func (s *Server) deleteKeyPair(c call) (any, error) {
	name := c.p.str("KeyName")
	if id := c.p.str("KeyPairId"); id != "" {
		ks, err := s.cfg.Domain.KeyPairs(c.who)
		if err != nil {
			return nil, err
		}
		for _, k := range ks {
			if keyPairID(c.who.TenantID, k.Name) == id {
				name = k.Name
			}
		}
		if name == "" {
			return nil, newError(keyPairObj.notFound, "The key pair '%s' does not exist", trim(id, 64))
		}
	}
	if name == "" {
		return nil, missing("KeyName")
	}
	if err := s.cfg.Domain.DeleteKeyPair(c.who, name); err != nil && !errors.Is(err, apiv1.NotFound) {
		return nil, keyPairObj.err(err)
	}
	s.cfg.Tags.Forget(c.who.TenantID, keyPairID(c.who.TenantID, name))
	return &returnResponse{Return: true}, nil
}
