package rest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// checkDecodeErr: a decoder either accepts or refuses with errBadRequest;
// it never panics and never accepts an oversized body.
func checkDecodeErr(t *testing.T, body []byte, err error) {
	if err != nil && !errors.Is(err, errBadRequest) {
		t.Fatalf("error is not a bad request: %v", err)
	}
	if err == nil && len(body) > MaxBody {
		t.Fatalf("accepted a %d-byte body", len(body))
	}
}

func FuzzDecodeLaunch(f *testing.F) {
	f.Add([]byte(`{"image":"tiny","type":"nano","count":2,"user_data":"aGk="}`))
	f.Add([]byte(`{"image":"../x","type":"nano","count":-1}`))
	f.Add([]byte(`{"image":"a","type":"nano","bogus":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := decodeLaunch(bytes.NewReader(b))
		n := q.Count
		checkDecodeErr(t, b, err)
		if err == nil && (n < 1 || len(q.UserData) > 16<<10 || strings.ContainsAny(q.Image, "/\\") || strings.Contains(q.Image, "..")) {
			t.Fatalf("accepted %+v count %d", q, n)
		}
	})
}

func FuzzDecodePatch(f *testing.F) {
	f.Add([]byte(`{"type":"micro"}`))
	f.Add([]byte(`{"type":"../x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := decodePatch(bytes.NewReader(b))
		checkDecodeErr(t, b, err)
		if err == nil && (q.Type == "" || strings.ContainsAny(q.Type, "/.") && strings.Contains(q.Type, "..")) {
			t.Fatalf("accepted %+v", q)
		}
	})
}

func FuzzDecodeTenant(f *testing.F) {
	f.Add([]byte(`{"name":"acme"}`))
	f.Add([]byte(`{"name":"a/b"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := decodeTenant(bytes.NewReader(b))
		checkDecodeErr(t, b, err)
		if err == nil && (q.Name == "" || strings.ContainsAny(q.Name, "/\\") || strings.Contains(q.Name, "..")) {
			t.Fatalf("accepted %+v", q)
		}
	})
}

func FuzzDecodeNetwork(f *testing.F) {
	f.Add([]byte(`{"name":"web","cidr":"10.0.0.0/24"}`))
	f.Add([]byte(`{"name":"..","cidr":"10.0.0.0/33"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := decodeNetwork(bytes.NewReader(b))
		checkDecodeErr(t, b, err)
		if err == nil && (!n.CIDR.IsValid() || strings.ContainsAny(n.Name, "/\\")) {
			t.Fatalf("accepted %+v", n)
		}
	})
}

func FuzzDecodeGroup(f *testing.F) {
	f.Add([]byte(`{"name":"ssh","ingress":[{"proto":"tcp","from_port":22,"to_port":22,"cidr":"0.0.0.0/0"}]}`))
	f.Add([]byte(`{"name":"x","egress":[{"proto":"udp","from_port":-1}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := decodeGroup(bytes.NewReader(b))
		checkDecodeErr(t, b, err)
		if err == nil && (len(g.Ingress)+len(g.Egress) > MaxGroupRules || strings.ContainsAny(g.Name, "/\\")) {
			t.Fatalf("accepted %+v", g)
		}
	})
}

func TestDecodersRefuse(t *testing.T) {
	big := `{"name":"` + strings.Repeat("a", MaxBody) + `"}`
	cases := map[string]error{}
	_, cases["oversized"] = decodeTenant(strings.NewReader(big))
	_, cases["unknown field"] = decodeTenant(strings.NewReader(`{"name":"a","admin":true}`))
	_, cases["trailing"] = decodeTenant(strings.NewReader(`{"name":"a"} {}`))
	_, cases["dotdot"] = decodeTenant(strings.NewReader(`{"name":".."}`))
	_, cases["slash"] = decodeNetwork(strings.NewReader(`{"name":"a/b","cidr":"10.0.0.0/24"}`))
	_, cases["negative count"] = decodeLaunch(strings.NewReader(`{"image":"a","type":"nano","count":-3}`))
	_, cases["negative user data"] = decodeLaunch(strings.NewReader(`{"image":"a","type":"nano","user_data":-1}`))
	_, cases["negative port"] = decodeGroup(strings.NewReader(`{"name":"g","ingress":[{"proto":"tcp","from_port":-1}]}`))
	_, cases["empty"] = decodePatch(strings.NewReader(``))
	for name, err := range cases {
		if !errors.Is(err, errBadRequest) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzDecodeForward(f *testing.F) {
	f.Add([]byte(`{"instance":"i-1","proto":"tcp","public_port":2222,"port":22}`))
	f.Add([]byte(`{"instance":"../x","proto":"udp","public_port":65535,"port":1,"extra":1}`))
	f.Add([]byte(`{"instance":"i","proto":"tcp","public_port":-5,"port":99999}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := decodeForward(bytes.NewReader(b))
		checkDecodeErr(t, b, err)
		if err == nil && (q.PublicPort == 0 || q.Port == 0 || (q.Proto != "tcp" && q.Proto != "udp") || checkName("instance", q.Instance) != nil) {
			t.Fatalf("accepted %+v", q)
		}
	})
}

func FuzzDecodePublicIP(f *testing.F) {
	f.Add([]byte(`{"instance":"i-1"}`))
	f.Add([]byte(`{"instance":"../x","address":"1.2.3.4"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := decodePublicIP(bytes.NewReader(b))
		checkDecodeErr(t, b, err)
		// No instance holds the address unassociated (an Elastic IP).
		if err == nil && q.Instance != "" && checkName("instance", q.Instance) != nil {
			t.Fatalf("accepted %+v", q)
		}
	})
}

// fuzzKey is an ed25519 public key made with ssh-keygen (OpenSSH 9.2).
const fuzzKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPIHPGO5DGAXDw5MEScinqCQJyzdt0xtT+bmhgXeHyez alice@laptop"

func FuzzDecodeKeyPair(f *testing.F) {
	f.Add([]byte(`{"name":"k","public_key":"` + fuzzKey + `"}`))
	f.Add([]byte(`{"name":"../k","public_key":"ssh-rsa AAAA"}`))
	f.Add([]byte(`{"name":"k","public_key":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPIHPGO5DGAXDw5MEScinqCQJyzdt0xtT+bmhgXeHyez a\\nb"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := decodeKeyPair(bytes.NewReader(b))
		checkDecodeErr(t, b, err)
		if err == nil && (k.Fingerprint == "" || strings.ContainsAny(k.PublicKey, "\r\n\x00") || checkName("name", k.Name) != nil) {
			t.Fatalf("accepted %+v", k)
		}
	})
}
