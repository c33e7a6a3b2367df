package service

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/ironvisor/ironvisor/appliance/api"
	"github.com/ironvisor/ironvisor/appliance/auth"
	"github.com/ironvisor/ironvisor/appliance/controlplane"
	"github.com/ironvisor/ironvisor/appliance/hostinfo"
	"github.com/ironvisor/ironvisor/appliance/store"
	"github.com/ironvisor/ironvisor/appliance/timeline"
	"github.com/ironvisor/ironvisor/appliance/types"
)

// housekeepEvery is the period of metering checkpoints and of forgetting
// terminated instances.
const housekeepEvery = 30 * time.Second

// guestMemShare is the share of host memory given to guests in service
// mode; the rest stays with the host's own processes.
const guestMemShare = 0.75

// openControlPlane opens the store, bootstraps the admin token and, unless
// InsecureHTTP, the TLS identity, and composes the control plane. The
// returned function closes the store.
func openControlPlane(tl *timeline.Timeline, o Options) (*controlplane.ControlPlane, func(), error) {
	var db *store.DB
	err := tl.Run("store", func() (err error) {
		db, err = store.Open(filepath.Join(o.DataDir, StoreFile))
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	fingerprint := ""
	if !o.InsecureHTTP {
		_, fp, created, err := LoadOrCreateCert(o.DataDir)
		if err != nil {
			db.Close()
			return nil, nil, err
		}
		fingerprint = fp
		verb := "loaded"
		if created {
			verb = "generated"
		}
		tl.Logf("TLS certificate %s; SHA-256 fingerprint %s", verb, fp)
	}
	var cp *controlplane.ControlPlane
	if o.Runner == nil && !o.NoHypervisor {
		o.Runner = newRunner(tl, o.DataDir, func(id, reason string, crashed bool) { cp.VMMExited(id, reason, crashed) })
	}
	host := hostinfo.New("service", tl)
	doc := host.Collect()
	cp, err = controlplane.New(controlplane.Config{
		DB: db, DataDir: o.DataDir, Host: host, Runner: o.Runner, TLSFingerprint: fingerprint,
		HostCapacity: types.Host{CPUs: runtime.NumCPU(), MemBytes: uint64(float64(doc.Memory.TotalBytes) * guestMemShare)},
	})
	if err == nil {
		var created bool
		if _, created, err = cp.Bootstrap(); err == nil && created {
			tl.Logf("admin token written to %s (mode 0600)", filepath.Join(o.DataDir, auth.AdminTokenFile))
		}
	}
	if err == nil {
		err = reattach(context.Background(), tl, cp, o.Runner)
	}
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	if o.Runner == nil {
		tl.Logf("no hypervisor wired into this appliance: instances stay pending (%q)", controlplane.NoHypervisor)
	}
	return cp, func() { db.Close() }, nil
}

// listen opens the API listener, wrapped in TLS unless InsecureHTTP.
func listen(tl *timeline.Timeline, o Options) (net.Listener, error) {
	var ln net.Listener
	err := tl.Run("listen", func() (err error) {
		ln, err = net.Listen("tcp", o.Listen)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", o.Listen, err)
	}
	if o.InsecureHTTP {
		return ln, nil
	}
	cert, _, _, err := LoadOrCreateCert(o.DataDir)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), nil
}

// readyURL is the URL announced on the READY line.
func readyURL(addr net.Addr, insecure bool) string {
	u := api.URL(addr, net.IPv4(127, 0, 0, 1))
	if insecure {
		return u
	}
	return "https://" + strings.TrimPrefix(u, "http://")
}
