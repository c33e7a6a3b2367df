package controlplane

import (
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/lifecycle"
)

// Test vectors made with ssh-keygen (OpenSSH 9.2); the fingerprint is what
// ssh-keygen -l printed for the first.
const (
	aliceKey   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPIHPGO5DGAXDw5MEScinqCQJyzdt0xtT+bmhgXeHyez alice@laptop"
	aliceKeyFP = "SHA256:J73/1A9skFNW/EO8pbSozigU9zflESYZnmaqUk8UUoo"
	rsaKey     = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCzBtqrh0J37ssho5fEthPpi01JmOZ2TG4PUjX8WyirZyvPfTu/mY1YdLDhnPItXs9V8nlJsDglir3C6fwtswG5LW/67G45wNunCzfT1/Zx7w1iem0an2kZwaK/wfGMq3+jh2Q3ytGcVpuidmyfHfI2ygxnRixhVcYWwo6fgra8NPFq8aicNDwk3Jfc3+0h4eU1H6O6kW2P7+gscjfk75OLM7Snr9ZU5kTXiop/LfDhM1XkRMzjtgWyBjQYwSUQmxaKhT5Qzm3wC0cHoBviwe5jEraZlB7WaxKf/l6K3d7W/xT3ZUQBjv5/9MLpkMQ8gp7JOnwjAcdgFHjW9pcdXrNr "
)

// TestKeyPairs: a tenant imports public keys by name (per tenant: two
// tenants may use one name), a launch with key_name keeps the key in the
// instance, an unknown key_name is a 400, a bad key is refused, and the
// instance keeps its key after the key pair is deleted.
func TestKeyPairs(t *testing.T) {
	e := newEnv(t, nil)
	_, alice := e.tenant("alice")
	_, bob := e.tenant("bob")
	e.tinyImage("tiny")
	var k apiv1.KeyPair
	e.must(201, "POST", "/v1/key-pairs", alice, map[string]any{"name": "laptop", "public_key": aliceKey + "\n"}, &k)
	if k.Type != "ssh-ed25519" || k.Fingerprint != aliceKeyFP || k.PublicKey != aliceKey {
		t.Fatalf("imported %+v", k)
	}
	e.must(201, "POST", "/v1/key-pairs", alice, map[string]any{"name": "rsa", "public_key": rsaKey}, nil)
	e.must(201, "POST", "/v1/key-pairs", bob, map[string]any{"name": "laptop", "public_key": rsaKey}, nil)
	e.must(409, "POST", "/v1/key-pairs", alice, map[string]any{"name": "laptop", "public_key": rsaKey}, nil)
	for _, bad := range []string{
		"", "ssh-ed25519", "ssh-ed25519 AAAA", "not a key", "ssh-ed25519 " + strings.Repeat("A", 9000),
		aliceKey + "\n" + rsaKey,          // two keys
		"command=\"/bin/sh\" " + aliceKey, // options
		"-----BEGIN OPENSSH PRIVATE KEY-----",
		aliceKey + "\x1b[31m", // control characters in the comment
	} {
		if code, out := e.do("POST", "/v1/key-pairs", alice, map[string]any{"name": "bad", "public_key": bad}); code != 400 {
			t.Errorf("key %q: %d %s, want 400", bad, code, out)
		}
	}
	var list []apiv1.KeyPair
	e.must(200, "GET", "/v1/key-pairs", alice, nil, &list)
	if len(list) != 2 {
		t.Fatalf("alice's key pairs: %+v", list)
	}

	var insts []apiv1.Instance
	e.must(201, "POST", "/v1/instances", alice, map[string]any{"image": "tiny", "type": "nano", "key_name": "laptop"}, &insts)
	e.must(400, "POST", "/v1/instances", alice, map[string]any{"image": "tiny", "type": "nano", "key_name": "nope"}, nil)
	e.must(204, "DELETE", "/v1/key-pairs/laptop", alice, nil, nil)
	e.must(404, "GET", "/v1/key-pairs/laptop", alice, nil, nil)
	e.must(200, "GET", "/v1/key-pairs/laptop", bob, nil, nil) // bob's own "laptop"
	in, err := e.cp.Instance(insts[0].ID)
	if err != nil || in.KeyName != "laptop" || in.PublicKey != aliceKey || in.State != lifecycle.Pending {
		t.Fatalf("instance %+v %v: want key laptop kept", in, err)
	}
}
