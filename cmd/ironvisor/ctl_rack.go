package main

import (
	"flag"
	"net/url"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
)

// rackCols are the columns of `ctl rack` tables.
var rackCols = []string{"mac", "address", "hostname", "api", "configured", "last_boot"}

// rack runs `ctl rack list | get MAC [--check] | delete MAC | set MAC ...`:
// the machines a bootstrap box (ironvisor.rack=on) network-boots.
func (x *ctlCtx) rack(verb string, args []string) error {
	switch verb {
	case "list", "delete":
		_, err := x.getListDelete(verb, "/v1/rack/machines", "/v1/rack/machines/{mac}", args, rackCols)
		return err
	case "get":
		var check bool
		pos, err := x.sub(verb, args, 1, func(fs *flag.FlagSet) {
			fs.BoolVar(&check, "check", false, "also call the machine's API over the rack network")
		})
		if err != nil {
			return err
		}
		var q url.Values
		if check {
			q = url.Values{"check": {"true"}}
		}
		raw, err := x.call("GET /v1/rack/machines/{mac}", pos, q, nil)
		if err != nil {
			return err
		}
		return x.print(raw, append(rackCols, "api_check"))
	case "set":
		var q apiv1.RackMachineRequest
		pos, err := x.sub(verb, args, 1, func(fs *flag.FlagSet) {
			fs.StringVar(&q.Address, "address", "", "pin its lease to this rack address")
			fs.StringVar(&q.Hostname, "hostname", "", "ironvisor.hostname")
			fs.StringVar(&q.API, "api", "", "ironvisor.api, HOST:PORT (default ADDRESS:8080)")
			fs.StringVar(&q.Data, "data", "", "ironvisor.data (default auto)")
			fs.StringVar(&q.PublicIPs, "public-ips", "", "ironvisor.public_ips")
			fs.StringVar(&q.Cmdline, "cmdline", "", "more kernel command line words")
		})
		if err != nil {
			return err
		}
		raw, err := x.call("PUT /v1/rack/machines/{mac}", pos, nil, q)
		if err != nil {
			return err
		}
		return x.print(raw, rackCols)
	}
	return usageError("rack: list, get, set or delete")
}
