package service

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironvisor/ironvisor/vmm/testutil"
)

// awsCLI returns Debian's aws (the awscli package, which make deps
// installs), or another on PATH.
func awsCLI(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/aws"); err == nil {
		return "/usr/bin/aws"
	}
	p, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("SKIP: aws-cli is not installed (make deps installs Debian's awscli)")
	}
	return p
}

// TestEC2WithAWSCLI types the commands a user would, with aws-cli
// pointed at "ironvisor serve": an access key from ctl, then regions,
// images, a security group, a generated key pair, an instance launched,
// described by tag, terminated with "aws ec2 wait instance-terminated",
// and an unknown action refused. --no-hypervisor keeps the instance
// pending; the SDK tests of package controlplane walk the running states.
func TestEC2WithAWSCLI(t *testing.T) {
	cli := awsCLI(t)
	s := startServe(t, "--insecure-http", "--no-hypervisor")
	admin := s.adminToken(t)
	var tenant struct{ Token string }
	s.ok(t, admin, &tenant, "tenants", "create", "cli", "--json")
	kernel := filepath.Join(t.TempDir(), "tiny.elf")
	os.WriteFile(kernel, testutil.PVHHello("hi\n", testutil.ExitHalt), 0o644)
	s.ok(t, admin, nil, "images", "upload", "--name", "tiny", "--kernel", kernel, "--cmdline", "console=ttyS0")
	var key struct{ ID, Secret string }
	s.ok(t, tenant.Token, &key, "access-keys", "create", "--json")

	home := t.TempDir()
	aws := func(args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(cli, append([]string{"--endpoint-url", s.url + "ec2/", "--output", "json"}, args...)...)
		cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "AWS_ACCESS_KEY_ID=" + key.ID,
			"AWS_SECRET_ACCESS_KEY=" + key.Secret, "AWS_DEFAULT_REGION=ironvisor-1", "AWS_EC2_METADATA_DISABLED=true",
			"AWS_CONFIG_FILE=" + filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials")}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(v any, args ...string) string {
		t.Helper()
		out, err := aws(args...)
		if err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, out)
		}
		if v != nil {
			if err := json.Unmarshal([]byte(out), v); err != nil {
				t.Fatalf("aws %v: %v\n%s", args, err, out)
			}
		}
		return out
	}

	if out := must(nil, "ec2", "describe-regions"); !strings.Contains(out, `"RegionName": "ironvisor-1"`) {
		t.Fatalf("describe-regions:\n%s", out)
	}
	if out := must(nil, "ec2", "describe-images", "--query", "Images[].Name", "--output", "text"); strings.TrimSpace(out) != "tiny" {
		t.Fatalf("describe-images: %q", out)
	}
	var sg struct{ GroupId string }
	must(&sg, "ec2", "create-security-group", "--group-name", "web", "--description", "web servers")
	must(nil, "ec2", "authorize-security-group-ingress", "--group-id", sg.GroupId, "--protocol", "tcp", "--port", "22", "--cidr", "192.0.2.0/24")
	if out := must(nil, "ec2", "describe-security-groups", "--group-ids", sg.GroupId); !strings.Contains(out, `"CidrIp": "192.0.2.0/24"`) {
		t.Fatalf("describe-security-groups:\n%s", out)
	}
	if out := must(nil, "ec2", "create-key-pair", "--key-name", "me", "--key-type", "ed25519", "--query", "KeyMaterial", "--output", "text"); !strings.HasPrefix(out, "-----BEGIN OPENSSH PRIVATE KEY-----") {
		t.Fatalf("create-key-pair: %q", out)
	}
	var run struct {
		Instances []struct {
			InstanceId string
			State      struct{ Name string }
		}
	}
	must(&run, "ec2", "run-instances", "--image-id", "tiny", "--instance-type", "nano", "--count", "1", "--key-name", "me",
		"--security-group-ids", sg.GroupId, "--user-data", "#!/bin/sh\necho hi",
		"--tag-specifications", "ResourceType=instance,Tags=[{Key=Name,Value=web}]")
	if len(run.Instances) != 1 || run.Instances[0].State.Name != "pending" {
		t.Fatalf("run-instances: %+v", run)
	}
	id := run.Instances[0].InstanceId
	if out := must(nil, "ec2", "describe-instances", "--filters", "Name=tag:Name,Values=web", "--query", "Reservations[].Instances[].InstanceId", "--output", "text"); strings.TrimSpace(out) != id {
		t.Fatalf("describe-instances by tag: %q", out)
	}
	must(nil, "ec2", "terminate-instances", "--instance-ids", id)
	must(nil, "ec2", "wait", "instance-terminated", "--instance-ids", id)
	if out, err := aws("ec2", "describe-instances", "--instance-ids", "i-0000000000000000"); err == nil || !strings.Contains(out, "InvalidInstanceID.NotFound") {
		t.Fatalf("unknown instance: %v\n%s", err, out)
	}
	if out, err := aws("ec2", "describe-spot-fleet-requests"); err == nil || !strings.Contains(out, "UnsupportedOperation") {
		t.Fatalf("unsupported action: %v\n%s", err, out)
	}
}
