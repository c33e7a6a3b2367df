package controlplane

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/ironvisor/ironvisor/appliance/core/orchestrator"
	"github.com/ironvisor/ironvisor/appliance/frontend/ec2"
)

// TFPluginMirror is where a machine keeps Terraform providers for use
// without a registry (a filesystem mirror: HOST/NAMESPACE/TYPE/VERSION/OS_ARCH).
const TFPluginMirror = "/opt/tf-plugins"

// terraform returns the terraform binary and a CLI configuration that
// installs hashicorp/aws from the local mirror only, or skips.
func terraform(t *testing.T) (string, string) {
	t.Helper()
	bin, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("SKIP: terraform is not installed")
	}
	if m, _ := filepath.Glob(filepath.Join(TFPluginMirror, "*/hashicorp/aws/*/linux_amd64/terraform-provider-aws*")); len(m) == 0 {
		t.Skipf("SKIP: no hashicorp/aws provider in %s (terraform cannot fetch one here)", TFPluginMirror)
	}
	rc := filepath.Join(t.TempDir(), "terraformrc")
	os.WriteFile(rc, []byte(`provider_installation {
  filesystem_mirror {
    path    = "`+TFPluginMirror+`"
    include = ["hashicorp/aws"]
  }
  direct { exclude = ["hashicorp/aws"] }
}
`), 0o644)
	return bin, rc
}

// tfConfig is an aws_key_pair, an aws_security_group with one ingress
// rule, a subnet of the tenant's VPC and an aws_instance in them, for the
// provider pointed at the endpoint (STS on the same URL).
const tfConfig = `
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}
variable "endpoint" {}
variable "key_id" {}
variable "secret" {}
variable "ami" {}
provider "aws" {
  region                      = "ironvisor-1"
  access_key                  = var.key_id
  secret_key                  = var.secret
  skip_region_validation      = true
  skip_metadata_api_check     = true
  endpoints {
    ec2 = var.endpoint
    sts = var.endpoint
  }
}
variable "vpc" {}
resource "aws_subnet" "web" {
  vpc_id     = var.vpc
  cidr_block = "10.44.0.0/24"
  tags       = { Name = "web" }
}
resource "aws_key_pair" "me" {
  key_name   = "me"
  public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPIHPGO5DGAXDw5MEScinqCQJyzdt0xtT+bmhgXeHyez me@laptop"
}
resource "aws_security_group" "web" {
  name        = "web"
  description = "web servers"
  vpc_id      = var.vpc
  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["192.0.2.0/24"]
  }
}
resource "aws_instance" "web" {
  ami                    = var.ami
  instance_type          = "nano"
  subnet_id              = aws_subnet.web.id
  key_name               = aws_key_pair.me.key_name
  vpc_security_group_ids = [aws_security_group.web.id]
  user_data              = "#!/bin/sh\necho hi\n"
  tags                   = { Name = "web" }
}
output "instance" { value = aws_instance.web.id }
`

// TestEC2WithTerraform runs Terraform's own binary and the hashicorp/aws
// provider against the endpoint: apply creates the key pair, group,
// subnet and instance; a plan right after is empty twice (read back with
// no diff); destroy deletes them all. The provider's STS call learns the
// account. recRunner stands in for the VMMs (instances reach running).
func TestEC2WithTerraform(t *testing.T) {
	bin, rc := terraform(t)
	e := newEnv(t, &recRunner{started: map[string]orchestrator.RunSpec{}})
	_, tok := e.tenant("tf")
	e.tinyImage("tiny")
	c, k := e.sdkClient(tok)
	ctx := context.Background()
	imgs, err := c.DescribeImages(ctx, &awsec2.DescribeImagesInput{})
	if err != nil {
		t.Fatal(err)
	}
	vpcs, err := c.DescribeVpcs(ctx, &awsec2.DescribeVpcsInput{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "main.tf"), []byte(tfConfig), 0o644)
	vars := []string{"-var", "endpoint=" + e.srv.URL + ec2.Path, "-var", "key_id=" + k.ID, "-var", "secret=" + k.Secret,
		"-var", "ami=" + *imgs.Images[0].ImageId, "-var", "vpc=" + *vpcs.Vpcs[0].VpcId}
	tf := func(args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "TF_CLI_CONFIG_FILE=" + rc, "TF_IN_AUTOMATION=1",
			"CHECKPOINT_DISABLE=1", "AWS_EC2_METADATA_DISABLED=true", "TF_LOG=" + os.Getenv("TF_LOG")}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := tf(args...)
		if err != nil {
			t.Fatalf("terraform %s: %v\n%s", args[0], err, out)
		}
		return out
	}
	must("init", "-input=false", "-no-color")
	start := time.Now()
	must(append([]string{"apply", "-input=false", "-no-color", "-auto-approve"}, vars...)...)
	t.Logf("apply took %v", time.Since(start))
	id := strings.TrimSpace(must("output", "-raw", "instance"))
	d, err := c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil || d.Reservations[0].Instances[0].State.Name != "running" || *d.Reservations[0].Instances[0].KeyName != "me" {
		t.Fatalf("instance after apply: %+v %v", d, err)
	}
	for i := range 2 {
		// -detailed-exitcode: 0 no changes, 2 changes.
		if out, err := tf(append([]string{"plan", "-input=false", "-no-color", "-detailed-exitcode"}, vars...)...); err != nil {
			t.Fatalf("plan %d after apply is not empty: %v\n%s", i+1, err, out)
		}
	}
	must(append([]string{"destroy", "-input=false", "-no-color", "-auto-approve"}, vars...)...)
	d, err = c.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil || d.Reservations[0].Instances[0].State.Name != "terminated" {
		t.Fatalf("instance after destroy: %+v %v", d, err)
	}
	for what, n := range map[string]int{"key pairs": keyPairs(t, c), "groups": groups(t, c), "subnets": subnets(t, c)} {
		if n != 0 {
			t.Errorf("%d %s left after destroy", n, what)
		}
	}
}

func keyPairs(t *testing.T, c *awsec2.Client) int {
	out, err := c.DescribeKeyPairs(context.Background(), &awsec2.DescribeKeyPairsInput{})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.KeyPairs)
}

func groups(t *testing.T, c *awsec2.Client) int {
	out, err := c.DescribeSecurityGroups(context.Background(), &awsec2.DescribeSecurityGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.SecurityGroups)
}

func subnets(t *testing.T, c *awsec2.Client) int {
	out, err := c.DescribeSubnets(context.Background(), &awsec2.DescribeSubnetsInput{})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Subnets)
}

var _ = aws.String
