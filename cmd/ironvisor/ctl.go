package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
)

// ctlHelp is the --help text of "ironvisor ctl".
const ctlHelp = `usage: ironvisor ctl [--url URL] [--token TOKEN] [--fingerprint SHA256 | --insecure] RESOURCE VERB [flags] [args]

Command-line client of the Ironvisor API. --url and --token default to
$IRONVISOR_URL and $IRONVISOR_TOKEN. Every verb takes --json to print the
API's answer instead of a table.

  host                                   the host document
  host      update FILE|URL [--sha256 X] [--tries N]
                                         install a new appliance image (UKI)
                                         in the other boot slot and reboot
                                         into it; it rolls back by itself
                                         unless healthy in time
  openapi                                the API description
  tenants   list | create NAME
  tokens    list TENANT | issue TENANT | revoke TENANT TOKEN_ID
  access-keys list | create | delete ID   keys of the EC2 endpoint (SigV4);
                                         create shows the secret only once
  quotas    get TENANT | set TENANT [--networks N] [--security-groups N]
            [--rules-per-group N] [--tokens N] [--instances N] [--public-ips N]
            [--port-forwards N] [--key-pairs N] [--volume-bytes B]
  types     list | add --name N --vcpus V --mem-mib M
  images    list | get ID | delete ID
            import FILE|URL [--name N] [--sha256 X | --sha512 X] [--cmdline S]
            upload --name N --kernel FILE [--initrd FILE] [--disk FILE] [--cmdline S]
  instances list | get ID | reboot ID | terminate ID
            console ID [--attach | --dump]
            launch --image I --type T [--count N] [--user-data FILE] [--network N]
                   [--security-groups a,b] [--key-name K] [--root-size-gib G]
                   [--wait DURATION]
            stop ID [--force | --timeout DURATION] | start ID [--wait DURATION]
            resize ID --type T
  networks  list | get NAME | delete NAME | create --name N --cidr CIDR [--no-nat]
  security-groups list | get NAME | delete NAME | create --file RULES.json
  key-pairs list | get NAME | delete NAME | import --name N --public-key-file KEY.pub
  public-ips list | get ADDRESS | delete ADDRESS | allocate --instance ID
  port-forwards list | get ID | delete ID
            create --instance ID [--proto tcp|udp] --public-port P --port Q
  usage     [--from TIME] [--to TIME]
  rack      list | get MAC [--check] | delete MAC   machines this box network-
            boots (ironvisor.rack=on); --check calls the machine's API
            set MAC [--address A] [--hostname H] [--api HOST:PORT] [--data D]
                [--public-ips P] [--cmdline S]

console attaches to the instance's serial port, read and write, when
stdin is a terminal (or with --attach): the terminal goes raw, so every
key (Ctrl-C too) reaches the guest; Ctrl-] then q detaches, and Ctrl-]
twice sends one Ctrl-]. Otherwise (or with --dump) it prints the output
so far.

launch and start show a progress line until the instances run or --wait
passes (0 returns at once).

images import takes a distribution's cloud disk image (qcow2, compressed
or not, or raw; GPT with an ext4 root) and boots the kernel and initrd
found on it. A URL is fetched by the appliance and needs its digest
(--sha256 or --sha512); a FILE is uploaded from here.

global flags:
`

// ctlCtx is one ctl invocation.
type ctlCtx struct {
	c    *apiv1.Client
	out  io.Writer
	errw io.Writer
	json bool
	in   io.Reader // keys for an attached console; nil means os.Stdin
}

// runCtl is the "ctl" subcommand.
func runCtl(args []string) int {
	return ctlMain(args, os.Stdout, os.Stderr)
}

// ctlMain runs ctl with the given output streams and returns the exit code.
func ctlMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, ctlHelp); fs.PrintDefaults() }
	url := fs.String("url", os.Getenv("IRONVISOR_URL"), "API URL, e.g. https://10.0.0.5:8443")
	token := fs.String("token", os.Getenv("IRONVISOR_TOKEN"), "bearer token")
	fp := fs.String("fingerprint", "", "expected SHA-256 fingerprint of the server certificate")
	insecure := fs.Bool("insecure", false, "do not check the server certificate at all")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	c, err := newCtlClient(*url, *token, *fp, *insecure)
	if err != nil {
		fmt.Fprintf(stderr, "ironvisor ctl: %v\n", err)
		return 2
	}
	x := &ctlCtx{c: c, out: stdout, errw: stderr}
	rest := fs.Args()
	if err := x.dispatch(rest[0], rest[1:]); err != nil {
		fmt.Fprintf(stderr, "ironvisor ctl %s: %v\n", strings.Join(rest[:min(2, len(rest))], " "), err)
		var u usageError
		if errors.As(err, &u) {
			return 2
		}
		return 1
	}
	return 0
}

// usageError is a misuse of the command line (exit 2).
type usageError string

func (u usageError) Error() string { return string(u) }

// sub parses the flags of one verb (plus --json) and checks the number of
// positional arguments.
func (x *ctlCtx) sub(name string, args []string, nargs int, define func(fs *flag.FlagSet)) ([]string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(x.errw)
	fs.BoolVar(&x.json, "json", false, "print the API's JSON answer")
	if define != nil {
		define(fs)
	}
	// Allow flags after positional arguments ("stop ID --force").
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError(err.Error())
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != nargs {
		return nil, usageError(fmt.Sprintf("%s takes %d argument(s), got %d (see ctl --help)", name, nargs, len(pos)))
	}
	return pos, nil
}

// dispatch runs one resource command.
func (x *ctlCtx) dispatch(resource string, args []string) error {
	verb := "list"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		verb, args = args[0], args[1:]
	}
	switch resource {
	case "host":
		if verb == "update" {
			return x.hostUpdate(args)
		}
		return x.simple("GET /v1/host", args, nil)
	case "openapi":
		x.json = true
		return x.simple("GET /v1/openapi.json", args, nil)
	case "usage":
		return x.usage(args)
	case "tenants":
		return x.tenants(verb, args)
	case "tokens":
		return x.tokens(verb, args)
	case "access-keys":
		return x.accessKeys(verb, args)
	case "quotas":
		return x.quotas(verb, args)
	case "types":
		return x.types(verb, args)
	case "images":
		return x.images(verb, args)
	case "instances":
		return x.instances(verb, args)
	case "networks":
		return x.networks(verb, args)
	case "security-groups", "sgs":
		return x.groups(verb, args)
	case "port-forwards":
		return x.forwards(verb, args)
	case "key-pairs":
		return x.keyPairs(verb, args)
	case "public-ips":
		return x.publicIPs(verb, args)
	case "rack":
		return x.rack(verb, args)
	}
	return usageError(fmt.Sprintf("unknown resource %q (see ctl --help)", resource))
}

// call calls route key (apiv1.Routes) with the typed body in (nil for
// none) and returns the answer as it came, to print.
func (x *ctlCtx) call(key string, params []string, query url.Values, in any) ([]byte, error) {
	var raw []byte
	err := x.c.Do(context.Background(), key, params, query, in, &raw)
	return raw, err
}

// simple calls a route without a body or parameters and prints the answer
// as columns.
func (x *ctlCtx) simple(key string, args []string, cols []string) error {
	if _, err := x.sub(strings.Fields(key)[1], args, 0, nil); err != nil {
		return err
	}
	raw, err := x.call(key, nil, nil, nil)
	if err != nil {
		return err
	}
	return x.print(raw, cols)
}

// print prints an answer: raw JSON with --json or when no columns are
// given, else a table of cols.
func (x *ctlCtx) print(raw []byte, cols []string) error {
	if x.json || cols == nil {
		_, err := x.out.Write(raw)
		return err
	}
	var rows []map[string]any
	if err := json.Unmarshal(raw, &rows); err != nil {
		var one map[string]any
		if err := json.Unmarshal(raw, &one); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
		rows = []map[string]any{one}
	}
	tw := tabwriter.NewWriter(x.out, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(cols, "\t")))
	for _, r := range rows {
		cells := make([]string, len(cols))
		for i, c := range cols {
			cells[i] = cell(r[c])
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// cell renders one JSON value for a table.
func cell(v any) string {
	switch t := v.(type) {
	case nil:
		return "-"
	case string:
		if t == "" {
			return "-"
		}
		return t
	case float64:
		return fmt.Sprintf("%g", t)
	case []any:
		s := make([]string, len(t))
		for i, e := range t {
			s[i] = cell(e)
		}
		if len(s) == 0 {
			return "-"
		}
		return strings.Join(s, ",")
	case map[string]any:
		if sz, ok := t["size"]; ok {
			return cell(sz)
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return strings.Join(keys, ",")
	}
	return fmt.Sprint(v)
}

// waitRunning waits until instances run, leave pending, or the deadline
// passes, with a progress line on stderr. It fails unless all run. Each
// round long-polls the first pending instance, so that the line moves
// the moment one runs, and at least every second.
func (x *ctlCtx) waitRunning(ids []string, wait time.Duration) error {
	if wait <= 0 || len(ids) == 0 {
		return nil
	}
	start := time.Now()
	deadline := start.Add(wait)
	waitOn := ""
	for {
		states := map[string]int{}
		var stuck []string
		next := "" // the first pending instance, to long-poll next round
		for _, id := range ids {
			var in apiv1.Instance
			var err error
			if id == waitOn {
				poll, asked := time.Now(), min(time.Second, max(time.Until(deadline), 0))
				in, err = x.c.InstanceWait(context.Background(), id, "pending", asked)
				if err == nil && in.State == "pending" && time.Since(poll) < asked/2 {
					// A server from before the long-poll answers at once.
					time.Sleep(200 * time.Millisecond)
				}
			} else {
				in, err = x.c.Instance(context.Background(), id)
			}
			if err != nil {
				return err
			}
			if in.State == "pending" && next == "" {
				next = id
			}
			states[in.State]++
			if in.State != "running" && in.State != "pending" {
				stuck = append(stuck, fmt.Sprintf("%s is %s (%s)", id, in.State, in.Reason))
			}
			if in.State == "pending" && in.Reason == apiv1.ReasonNoHypervisor {
				stuck = append(stuck, fmt.Sprintf("%s stays pending: %s", id, in.Reason))
			}
		}
		fmt.Fprintf(x.errw, "\r%d/%d running, %d pending  %5.1fs ", states["running"], len(ids), states["pending"], time.Since(start).Seconds())
		switch {
		case states["running"] == len(ids):
			fmt.Fprintln(x.errw, "- all running")
			return nil
		case len(stuck) > 0:
			fmt.Fprintln(x.errw)
			return errors.New(strings.Join(stuck, "; "))
		case time.Now().After(deadline):
			fmt.Fprintln(x.errw)
			return fmt.Errorf("not running after %v", wait)
		}
		waitOn = next
	}
}
