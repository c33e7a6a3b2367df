package controlplane

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
	"github.com/ironvisor/ironvisor/appliance/images/imagetest"
	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// uploadDisk posts a cloud disk image alone and returns the status and
// answer.
func (e *env) uploadDisk(name string, disk []byte, fields map[string]string) (int, []byte) {
	e.t.Helper()
	all := map[string]string{"name": name}
	for k, v := range fields {
		all[k] = v
	}
	return e.postImage(all, map[string][]byte{"disk": disk})
}

// TestCloudDiskImageLifecycle: a cloud disk uploaded alone boots its own
// kernel; a launch sizes its root; the image cannot go while an instance
// uses it.
func TestCloudDiskImageLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	disk := imagetest.CloudDisk(t, testutil.PVHHello("hi", testutil.ExitHalt))
	if code, out := e.uploadDisk("bad", disk, map[string]string{"sha256": strings.Repeat("0", 64)}); code != 400 ||
		!strings.Contains(string(out), "sha256 mismatch") {
		t.Fatalf("bad digest: %d %s", code, out)
	}
	if dirs := e.imageDirs(); len(dirs) != 0 {
		t.Fatalf("a refused upload left %v", dirs)
	}
	code, out := e.uploadDisk("debian", disk, nil)
	if code != 201 {
		t.Fatalf("upload: %d %s", code, out)
	}
	var img apiv1.Image
	if err := json.Unmarshal(out, &img); err != nil {
		t.Fatal(err)
	}
	if img.Boot == nil || img.Source == nil || img.Source.Format != "raw" || !strings.HasPrefix(img.Cmdline, "root=UUID=") {
		t.Fatalf("image %s", out)
	}
	_, tok := e.tenant("acme")
	for _, bad := range []string{`"root_size_gib": 0`, `"root_size_gib": -1`} {
		if code, out := e.do("POST", "/v1/instances", tok, `{"image":"debian","type":"nano",`+bad+`}`); code != 400 {
			t.Errorf("%s: %d %s", bad, code, out)
		}
	}
	var insts []apiv1.Instance
	e.must(201, "POST", "/v1/instances", tok, `{"image":"debian","type":"nano","root_size_gib":2}`, &insts)
	if len(insts) != 1 || insts[0].RootSizeBytes != 2<<30 {
		t.Fatalf("launch: %+v", insts)
	}
	code, out = e.do("DELETE", "/v1/images/debian", e.admin, nil)
	if code != 409 || !strings.Contains(string(out), `"InUse"`) || !strings.Contains(string(out), insts[0].ID) {
		t.Fatalf("delete an image in use: %d %s", code, out)
	}
	e.must(200, "DELETE", "/v1/instances/"+insts[0].ID, tok, nil, nil)
	e.must(204, "DELETE", "/v1/images/debian", e.admin, nil, nil)
}

// TestStopTimeoutChecked: a stop's timeout_seconds is bounded.
func TestStopTimeoutChecked(t *testing.T) {
	e := newEnv(t, nil)
	e.tinyImage("tiny")
	_, tok := e.tenant("acme")
	var insts []apiv1.Instance
	e.must(201, "POST", "/v1/instances", tok, `{"image":"tiny","type":"nano"}`, &insts)
	for _, bad := range []string{`{"timeout_seconds": -1}`, `{"timeout_seconds": 601}`} {
		if code, out := e.do("POST", "/v1/instances/"+insts[0].ID+"/stop", tok, bad); code != 400 {
			t.Errorf("%s: %d %s", bad, code, out)
		}
	}
	e.must(200, "POST", "/v1/instances/"+insts[0].ID+"/stop", tok, `{"timeout_seconds": 5}`, nil)
}
