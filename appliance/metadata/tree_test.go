package metadata

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ironvisor/ironvisor/appliance/lifecycle"
	"github.com/ironvisor/ironvisor/netcfg"
)

// cloudInstance is an instance as a stock cloud image's launch makes it:
// the third of its launch, with a key, user data and a root volume.
func cloudInstance() lifecycle.Instance {
	in := running("i-web1", "#cloud-config\nruncmd: [echo hi]\n")
	in.TenantID, in.LaunchIndex, in.RootSize = "t-acme", 2, 8<<30
	in.KeyName, in.PublicKey = "laptop", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPIHPGO5DGAXDw5MEScinqCQJyzdt0xtT+bmhgXeHyez alice@laptop"
	in.LaunchTime = time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	return in
}

// cloudServer serves cloudInstance behind web1, on network web with a
// public IP.
func cloudServer(t *testing.T) *Server {
	t.Helper()
	st := netcfg.State{
		Networks:  []netcfg.Network{{Name: "web", CIDR: netip.MustParsePrefix("10.9.0.0/24")}},
		PublicIPs: []netcfg.PublicIP{{Address: netip.MustParseAddr("203.0.113.10"), Instance: "i-web1", Network: "web"}},
	}
	s, err := New(Config{State: func() netcfg.State { return st }, Instance: instances{"i-web1": cloudInstance()}.get})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// crawl reads a tree as cloud-init's MetadataMaterializer does
// (cloudinit/sources/helpers/ec2.py): each line of a listing is a leaf,
// a directory (trailing "/", fetched with the slash) or, for keys,
// INDEX=NAME, read at INDEX/openssh-key. Every listed entry must answer.
func crawl(t *testing.T, get func(path string) (int, string), base string) map[string]string {
	t.Helper()
	out := map[string]string{}
	code, list := get(base)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d", base, code)
	}
	for _, field := range strings.Split(list, "\n") {
		field = strings.TrimSpace(field)
		switch {
		case field == "":
		case strings.HasSuffix(field, "/"):
			for k, v := range crawl(t, get, base+field) {
				out[strings.TrimSuffix(field, "/")+"/"+k] = v
			}
		default:
			name, resource := field, field
			if idx, key, ok := strings.Cut(field, "="); ok {
				name, resource = key, idx+"/openssh-key"
			}
			code, body := get(base + resource)
			if code != http.StatusOK {
				t.Fatalf("GET %s%s (listed): %d", base, resource, code)
			}
			out[name] = body
		}
	}
	return out
}

// TestCloudInitCrawl walks the tree the way DataSourceEc2 does, at each
// version it asks for, with an IMDSv2 token as it uses on EC2, and checks
// the keys it and other tools read.
func TestCloudInitCrawl(t *testing.T) {
	s := cloudServer(t)
	code, tok := do(s, web1, nil, "PUT", "/latest/api/token", map[string]string{tokenTTLHeader: "21600"})
	if code != http.StatusOK {
		t.Fatalf("token: %d", code)
	}
	get := func(path string) (int, string) {
		return do(s, web1, nil, "GET", path, map[string]string{tokenHeader: tok})
	}
	code, versions := get("/")
	for _, ver := range []string{"2021-03-23", "2018-09-24", "2016-09-02", "2009-04-04", "latest"} {
		if code != http.StatusOK || !strings.Contains(versions+"\n", ver+"\n") {
			t.Errorf("/ does not list %s: %q", ver, versions)
		}
		if code, id := get("/" + ver + "/meta-data/instance-id"); code != http.StatusOK || id != "i-web1" {
			t.Errorf("%s/meta-data/instance-id: %d %q", ver, code, id)
		}
	}
	md := crawl(t, get, "/2021-03-23/meta-data/")
	mac := "network/interfaces/macs/02:00:0a:09:00:02/"
	for k, want := range map[string]string{
		"public-ipv4":                  "203.0.113.10",
		"placement/availability-zone":  DefaultZone,
		"placement/region":             "ironvisor-1",
		"ami-launch-index":             "2",
		"ami-id":                       "img-debian",
		"block-device-mapping/ami":     "/dev/vda",
		"block-device-mapping/root":    "/dev/vda",
		"hostname":                     "i-web1",
		"local-hostname":               "i-web1",
		"local-ipv4":                   "10.9.0.2",
		"instance-type":                "nano",
		"laptop":                       cloudInstance().PublicKey + "\n", // public-keys: 0=laptop
		mac + "device-number":          "0",
		mac + "local-ipv4s":            "10.9.0.2",
		mac + "public-ipv4s":           "203.0.113.10",
		mac + "subnet-ipv4-cidr-block": "10.9.0.0/24",
		mac + "vpc-id":                 "web",
		mac + "mac":                    "02:00:0a:09:00:02",
	} {
		key := k
		if k == "laptop" {
			key = "public-keys/laptop"
		}
		if md[key] != want {
			t.Errorf("meta-data/%s = %q, want %q", key, md[key], want)
		}
	}
	id := crawl(t, get, "/2021-03-23/dynamic/instance-identity/")
	var doc map[string]string
	if err := json.Unmarshal([]byte(id["document"]), &doc); err != nil {
		t.Fatalf("identity document %q: %v", id["document"], err)
	}
	if doc["instanceId"] != "i-web1" || doc["availabilityZone"] != DefaultZone || doc["region"] != "ironvisor-1" ||
		doc["privateIp"] != "10.9.0.2" || doc["accountId"] != "t-acme" || doc["pendingTime"] != "2026-12-06T21:00:00Z" {
		t.Errorf("identity document %v", doc)
	}
	if code, ud := get("/2021-03-23/user-data"); code != http.StatusOK || ud != string(cloudInstance().UserData) {
		t.Errorf("user-data: %d %q", code, ud)
	}
	if code, top := get("/2009-04-04/"); code != http.StatusOK || top != "dynamic\nmeta-data\nuser-data" {
		t.Errorf("/2009-04-04/: %d %q", code, top)
	}
}

// TestTreeRefusals: unknown versions and malformed paths are 404s, and
// keys that need what an instance lacks are absent.
func TestTreeRefusals(t *testing.T) {
	s := cloudServer(t)
	for _, p := range []string{"/2099-01-01/meta-data/", "/latest/meta-data//instance-id", "/latest/meta-data/./instance-id",
		"/latest/dynamic/instance-identity/pkcs7", "/latest/meta-data/network/interfaces/macs/02:00:00:00:00:01/", "/latest/meta-data/public-keys/1/openssh-key"} {
		if code, _ := do(s, web1, nil, "GET", p, nil); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, code)
		}
	}
	now := time.Now()
	bare := testServer(t, instances{"i-web1": running("i-web1", "")}, &now)
	md := crawl(t, func(p string) (int, string) { return do(bare, web1, nil, "GET", p, nil) }, "/latest/meta-data/")
	for _, k := range []string{"public-ipv4", "block-device-mapping/root", "public-keys/laptop"} {
		if _, ok := md[k]; ok {
			t.Errorf("an instance without it lists %s", k)
		}
	}
	if code, top := do(bare, web1, nil, "GET", "/latest/", nil); code != http.StatusOK || top != "dynamic\nmeta-data" {
		t.Errorf("/latest/ without user data: %d %q", code, top)
	}
}
