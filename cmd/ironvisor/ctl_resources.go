package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
)

// Table columns per resource.
var (
	tenantCols    = []string{"id", "name", "created"}
	tokenCols     = []string{"id", "tenant_id", "created"}
	typeCols      = []string{"name", "vcpus", "mem_bytes", "builtin"}
	imageCols     = []string{"id", "name", "kernel_format", "kernel", "initrd", "disk", "cmdline"}
	instanceCols  = []string{"id", "state", "type", "image", "ips", "launch_time", "reason"}
	networkCols   = []string{"name", "tenant", "index", "cidr", "no_nat"}
	groupCols     = []string{"name", "tenant", "ingress", "egress"}
	forwardCols   = []string{"id", "instance", "proto", "public_port", "port", "network"}
	keyPairCols   = []string{"name", "type", "fingerprint", "create_time"}
	publicIPCols  = []string{"address", "instance", "network", "create_time"}
	accessKeyCols = []string{"id", "tenant_id", "created"}
)

// getListDelete handles the list, get and delete verbs shared by resources:
// list is the collection's pattern, item the pattern of one object.
func (x *ctlCtx) getListDelete(verb, list, item string, args []string, cols []string) (bool, error) {
	switch verb {
	case "list":
		return true, x.simple("GET "+list, args, cols)
	case "get", "delete":
		pos, err := x.sub(verb, args, 1, nil)
		if err != nil {
			return true, err
		}
		method := map[string]string{"get": "GET", "delete": "DELETE"}[verb]
		raw, err := x.call(method+" "+item, pos, nil, nil)
		if err != nil || len(raw) == 0 {
			return true, err
		}
		return true, x.print(raw, cols)
	}
	return false, nil
}

func (x *ctlCtx) tenants(verb string, args []string) error {
	if verb == "create" {
		pos, err := x.sub(verb, args, 1, nil)
		if err != nil {
			return err
		}
		raw, err := x.call("POST /v1/tenants", nil, nil, apiv1.TenantRequest{Name: pos[0]})
		if err != nil {
			return err
		}
		return x.print(raw, []string{"id", "name", "token"})
	}
	if verb == "list" {
		return x.simple("GET /v1/tenants", args, tenantCols)
	}
	return usageError("tenants: list or create")
}

func (x *ctlCtx) tokens(verb string, args []string) error {
	n := map[string]int{"list": 1, "issue": 1, "revoke": 2}[verb]
	if n == 0 {
		return usageError("tokens: list, issue or revoke")
	}
	pos, err := x.sub(verb, args, n, nil)
	if err != nil {
		return err
	}
	var raw []byte
	switch verb {
	case "list":
		raw, err = x.call("GET /v1/tenants/{id}/tokens", pos, nil, nil)
		if err == nil {
			err = x.print(raw, tokenCols)
		}
	case "issue":
		raw, err = x.call("POST /v1/tenants/{id}/tokens", pos, nil, nil)
		if err == nil {
			err = x.print(raw, []string{"id", "token"})
		}
	case "revoke":
		_, err = x.call("DELETE /v1/tenants/{id}/tokens/{token_id}", pos, nil, nil)
	}
	return err
}

func (x *ctlCtx) accessKeys(verb string, args []string) error {
	if verb == "list" || verb == "delete" {
		_, err := x.getListDelete(verb, "/v1/access-keys", "/v1/access-keys/{id}", args, accessKeyCols)
		return err
	}
	if verb != "create" {
		return usageError("access-keys: list, create or delete")
	}
	if _, err := x.sub(verb, args, 0, nil); err != nil {
		return err
	}
	raw, err := x.call("POST /v1/access-keys", nil, nil, nil)
	if err != nil {
		return err
	}
	return x.print(raw, []string{"id", "secret"})
}

func (x *ctlCtx) types(verb string, args []string) error {
	switch verb {
	case "list":
		return x.simple("GET /v1/instance-types", args, typeCols)
	case "add":
		var name string
		var vcpus int
		var mem uint64
		if _, err := x.sub(verb, args, 0, func(fs *flag.FlagSet) {
			fs.StringVar(&name, "name", "", "type name")
			fs.IntVar(&vcpus, "vcpus", 1, "vCPUs")
			fs.Uint64Var(&mem, "mem-mib", 64, "memory in MiB")
		}); err != nil {
			return err
		}
		raw, err := x.call("POST /v1/instance-types", nil, nil, apiv1.InstanceTypeRequest{Name: name, VCPUs: vcpus, MemMiB: &mem})
		if err != nil {
			return err
		}
		return x.print(raw, typeCols)
	}
	return usageError("types: list or add")
}

func (x *ctlCtx) images(verb string, args []string) error {
	if done, err := x.getListDelete(verb, "/v1/images", "/v1/images/{id}", args, imageCols); done {
		return err
	}
	if verb == "import" {
		return x.importImage(args)
	}
	if verb != "upload" {
		return usageError("images: list, get, delete, import or upload")
	}
	fields, files := map[string]string{}, map[string]string{}
	var name, kernel, initrd, disk, cmdline string
	if _, err := x.sub(verb, args, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "image name")
		fs.StringVar(&kernel, "kernel", "", "kernel file (bzImage or PVH ELF)")
		fs.StringVar(&initrd, "initrd", "", "initrd file")
		fs.StringVar(&disk, "disk", "", "root disk file")
		fs.StringVar(&cmdline, "cmdline", "", "default kernel command line")
	}); err != nil {
		return err
	}
	fields["name"] = name
	if cmdline != "" {
		fields["cmdline"] = cmdline
	}
	for k, v := range map[string]string{"kernel": kernel, "initrd": initrd, "disk": disk} {
		if v != "" {
			files[k] = v
		}
	}
	var raw []byte
	err := x.c.Upload(context.Background(), fields, files, &raw)
	if err != nil {
		return err
	}
	return x.print(raw, imageCols)
}

func (x *ctlCtx) instances(verb string, args []string) error {
	if verb == "terminate" {
		verb = "delete"
	}
	if done, err := x.getListDelete(verb, "/v1/instances", "/v1/instances/{id}", args, instanceCols); done {
		return err
	}
	switch verb {
	case "launch":
		return x.launch(args)
	case "console":
		return x.console(args)
	case "stop", "start", "reboot", "resize":
		return x.action(verb, args)
	}
	return usageError("instances: list, get, launch, stop, start, reboot, resize, terminate or console")
}

// launch is "instances launch".
func (x *ctlCtx) launch(args []string) error {
	var image, typ, userData, network, groups, key string
	var count, rootGiB int
	var wait time.Duration
	if _, err := x.sub("launch", args, 0, func(fs *flag.FlagSet) {
		fs.IntVar(&rootGiB, "root-size-gib", 0, "root volume size in GiB (default: the image's disk)")
		fs.StringVar(&image, "image", "", "image name or ID")
		fs.StringVar(&typ, "type", "nano", "instance type")
		fs.IntVar(&count, "count", 1, "number of instances")
		fs.StringVar(&userData, "user-data", "", "file with user data (at most 16 KiB)")
		fs.StringVar(&network, "network", "", "network name")
		fs.StringVar(&groups, "security-groups", "", "comma-separated security groups")
		fs.StringVar(&key, "key-name", "", "key name")
		fs.DurationVar(&wait, "wait", 2*time.Minute, "wait this long for running (0: do not wait)")
	}); err != nil {
		return err
	}
	q := apiv1.LaunchRequest{Image: image, Type: typ, Count: &count, Network: network, KeyName: key}
	if userData != "" {
		b, err := os.ReadFile(userData)
		if err != nil {
			return err
		}
		q.UserData = b
	}
	if groups != "" {
		q.SecurityGroups = strings.Split(groups, ",")
	}
	if rootGiB != 0 {
		q.RootSizeGiB = &rootGiB
	}
	raw, err := x.call("POST /v1/instances", nil, nil, q)
	if err != nil {
		return err
	}
	var insts []apiv1.Instance
	if err := json.Unmarshal(raw, &insts); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	if err := x.print(raw, instanceCols); err != nil {
		return err
	}
	ids := make([]string, len(insts))
	for i, in := range insts {
		ids[i] = in.ID
	}
	return x.waitRunning(ids, wait)
}

// action is stop, start, reboot and resize.
func (x *ctlCtx) action(verb string, args []string) error {
	var force bool
	var timeout time.Duration
	var typ string
	var wait time.Duration
	pos, err := x.sub(verb, args, 1, func(fs *flag.FlagSet) {
		switch verb {
		case "stop":
			fs.BoolVar(&force, "force", false, "stop at once, without a graceful shutdown")
			fs.DurationVar(&timeout, "timeout", 0, "force the stop if the guest has not shut down after this long (default: the appliance's, 30s)")
		case "resize":
			fs.StringVar(&typ, "type", "", "new instance type")
		case "start":
			fs.DurationVar(&wait, "wait", 2*time.Minute, "wait this long for running (0: do not wait)")
		}
	})
	if err != nil {
		return err
	}
	var raw []byte
	switch verb {
	case "resize":
		raw, err = x.call("PATCH /v1/instances/{id}", pos, nil, apiv1.PatchRequest{Type: typ})
	case "stop":
		raw, err = x.call("POST /v1/instances/{id}/stop", pos, nil, apiv1.StopRequest{Force: force, TimeoutSeconds: int(timeout.Seconds())})
	default:
		raw, err = x.call("POST /v1/instances/{id}/"+verb, pos, nil, nil)
	}
	if err != nil {
		return err
	}
	if err := x.print(raw, instanceCols); err != nil {
		return err
	}
	return x.waitRunning(pos, wait)
}

func (x *ctlCtx) networks(verb string, args []string) error {
	if done, err := x.getListDelete(verb, "/v1/networks", "/v1/networks/{name}", args, networkCols); done {
		return err
	}
	if verb != "create" {
		return usageError("networks: list, get, create or delete")
	}
	var name, cidr string
	var noNAT bool
	if _, err := x.sub(verb, args, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "network name")
		fs.StringVar(&cidr, "cidr", "", "IPv4 subnet, /16 to /29")
		fs.BoolVar(&noNAT, "no-nat", false, "no outbound masquerade")
	}); err != nil {
		return err
	}
	raw, err := x.call("POST /v1/networks", nil, nil, apiv1.NetworkRequest{Name: name, CIDR: cidr, NoNAT: noNAT})
	if err != nil {
		return err
	}
	return x.print(raw, networkCols)
}

func (x *ctlCtx) groups(verb string, args []string) error {
	if done, err := x.getListDelete(verb, "/v1/security-groups", "/v1/security-groups/{name}", args, groupCols); done {
		return err
	}
	if verb != "create" {
		return usageError("security-groups: list, get, create or delete")
	}
	var file string
	if _, err := x.sub(verb, args, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&file, "file", "", `JSON file: {"name":..., "ingress":[...], "egress":[...]}`)
	}); err != nil {
		return err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var q apiv1.SecurityGroupRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	raw, err := x.call("POST /v1/security-groups", nil, nil, q)
	if err != nil {
		return err
	}
	return x.print(raw, groupCols)
}

func (x *ctlCtx) usage(args []string) error {
	var from, to string
	if _, err := x.sub("usage", args, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&from, "from", "", "start (RFC 3339 or Unix seconds; default: start of the month)")
		fs.StringVar(&to, "to", "", "end (default: now)")
	}); err != nil {
		return err
	}
	raw, err := x.call("GET /v1/usage", nil, url.Values{"from": {from}, "to": {to}}, nil)
	if err != nil {
		return err
	}
	if x.json {
		return x.print(raw, nil)
	}
	var rep apiv1.Usage
	if err := json.Unmarshal(raw, &rep); err != nil {
		return err
	}
	var rows []map[string]any
	for _, t := range rep.Tenants {
		for _, in := range t.Instances {
			rows = append(rows, map[string]any{"tenant": t.TenantID, "instance": in.InstanceID,
				"seconds": in.Total.Seconds, "vcpu_seconds": in.Total.VCPUSeconds, "gib_seconds": in.Total.GiBSeconds})
		}
	}
	b, _ := json.Marshal(rows)
	if rows == nil {
		b = []byte("[]")
	}
	return x.print(b, []string{"tenant", "instance", "seconds", "vcpu_seconds", "gib_seconds"})
}

func (x *ctlCtx) forwards(verb string, args []string) error {
	if done, err := x.getListDelete(verb, "/v1/port-forwards", "/v1/port-forwards/{id}", args, forwardCols); done {
		return err
	}
	if verb != "create" {
		return usageError("port-forwards: list, get, create or delete")
	}
	var inst, proto string
	var public, port uint
	if _, err := x.sub(verb, args, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&inst, "instance", "", "instance id (in a network)")
		fs.StringVar(&proto, "proto", "tcp", "tcp or udp")
		fs.UintVar(&public, "public-port", 0, "port on the host's uplink")
		fs.UintVar(&port, "port", 0, "port on the instance")
	}); err != nil {
		return err
	}
	if public > 65535 || port > 65535 {
		return usageError("port-forwards create: ports are 1 to 65535")
	}
	raw, err := x.call("POST /v1/port-forwards", nil, nil, apiv1.PortForwardRequest{Instance: inst, Proto: proto, PublicPort: uint16(public), Port: uint16(port)})
	if err != nil {
		return err
	}
	return x.print(raw, forwardCols)
}

func (x *ctlCtx) keyPairs(verb string, args []string) error {
	if done, err := x.getListDelete(verb, "/v1/key-pairs", "/v1/key-pairs/{name}", args, keyPairCols); done {
		return err
	}
	if verb != "import" {
		return usageError("key-pairs: list, get, import or delete")
	}
	var name, file string
	if _, err := x.sub(verb, args, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "key pair name")
		fs.StringVar(&file, "public-key-file", "", "OpenSSH public key file (id_ed25519.pub)")
	}); err != nil {
		return err
	}
	key, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	raw, err := x.call("POST /v1/key-pairs", nil, nil, apiv1.KeyPairRequest{Name: name, PublicKey: string(key)})
	if err != nil {
		return err
	}
	return x.print(raw, keyPairCols)
}

func (x *ctlCtx) publicIPs(verb string, args []string) error {
	if done, err := x.getListDelete(verb, "/v1/public-ips", "/v1/public-ips/{address}", args, publicIPCols); done {
		return err
	}
	if verb != "allocate" {
		return usageError("public-ips: list, get, allocate or delete")
	}
	var inst string
	if _, err := x.sub(verb, args, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&inst, "instance", "", "instance id (in a network)")
	}); err != nil {
		return err
	}
	raw, err := x.call("POST /v1/public-ips", nil, nil, apiv1.PublicIPRequest{Instance: inst})
	if err != nil {
		return err
	}
	return x.print(raw, publicIPCols)
}
