package boot

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ironvisor/ironvisor/appliance/hostinfo"
	"github.com/ironvisor/ironvisor/config"
)

// The configuration's sources apply in the order package config documents
// (config/url.go): defaults, --config FILE, the config URL's document,
// the kernel command line. The "config" step applies all but the URL,
// whose document can only be fetched once the uplink is up; the
// "config-url" step then fetches it and applies the sources again, the
// URL's document in its place.

// configURLWait bounds the "config-url" step: the attempts to fetch the
// document, retried while the server cannot be reached or answers 5xx.
var configURLWait = 20 * time.Second

// earlyKeys are the configuration's keys that steps before "config-url"
// consume for good (the uplink), with the field each sets.
var earlyKeys = []struct {
	key string
	get func(config.Config) any
}{
	{config.KeyUplink, func(c config.Config) any { return c.Uplink }},
	{config.KeyAddress, func(c config.Config) any { return c.Address }},
	{config.KeyGateway, func(c config.Config) any { return c.Gateway }},
	{config.KeyDNS, func(c config.Config) any { return c.DNS }},
	{config.KeyIface, func(c config.Config) any { return c.Iface }},
}

// layerConfig builds the configuration from its sources in order, with
// urlDoc as the config URL's document (nil: not fetched, or failed), and
// returns it sanitised with the record of each source and the joined
// errors. A value that fails validation is reset to its default; its
// error is told against the source after which it first appears.
func (a *appliance) layerConfig(urlDoc []byte) (config.Config, []hostinfo.ConfigSource, error) {
	cfg := config.Defaults()
	srcs := []hostinfo.ConfigSource{{Source: "defaults", Applied: true}}
	var errs []error
	// own[i] are the errors of source i: its own, then the validation
	// errors that first appear after it.
	own := [][]string{nil}
	seen := map[string]bool{}
	add := func(src hostinfo.ConfigSource, c config.Config, err error) {
		srcs, cfg = append(srcs, src), c
		var msgs []string
		if err != nil {
			errs = append(errs, err)
			msgs = append(msgs, err.Error())
		}
		for _, e := range unjoin(cfg.Validate()) {
			if !seen[e.Error()] {
				seen[e.Error()] = true
				msgs = append(msgs, e.Error())
			}
		}
		own = append(own, msgs)
	}
	if path := configFlag(a.o.Args); path != "" {
		c, err := config.LoadFile(cfg, path)
		add(hostinfo.ConfigSource{Source: "file", Where: path, Applied: err == nil}, c, err)
	}
	if urlDoc != nil {
		c, err := config.DecodeJSON(cfg, bytes.NewReader(urlDoc))
		add(hostinfo.ConfigSource{Source: "url", Where: a.cfg.ConfigURL, Applied: err == nil}, c, err)
	}
	if b, err := os.ReadFile(a.cmdline); err != nil {
		add(hostinfo.ConfigSource{Source: "cmdline", Where: a.cmdline}, cfg, fmt.Errorf("read kernel command line: %w", err))
	} else {
		c, err := config.ApplyCmdline(cfg, string(b))
		add(hostinfo.ConfigSource{Source: "cmdline", Where: a.cmdline, Applied: true}, c, err)
	}
	final := map[string]bool{}
	for _, e := range unjoin(cfg.Validate()) {
		final[e.Error()] = true
	}
	for i := range srcs {
		var msgs []string
		for _, m := range own[i] {
			if !seen[m] || final[m] { // its own error, or a bad value still in force
				msgs = append(msgs, m)
			}
		}
		srcs[i].Error = strings.Join(msgs, "; ")
	}
	cfg, err := cfg.Sanitize()
	errs = append(errs, err)
	return cfg, srcs, errors.Join(errs...)
}

// unjoin flattens an error made by errors.Join; nil is none.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// loadConfig is the "config" step: the configuration from every source
// but the URL (fetched by fetchConfigURL once the uplink is up).
// Whatever is invalid is reported and replaced by its default.
func (a *appliance) loadConfig() error {
	cfg, srcs, err := a.layerConfig(nil)
	if cfg.ConfigURL != "" {
		i := len(srcs) - 1 // before the command line
		srcs = slices.Insert(srcs, i, hostinfo.ConfigSource{Source: "url", Where: cfg.ConfigURL, Error: "not fetched yet: it is read once the uplink is up"})
	}
	a.cfg = cfg
	a.setSources(srcs)
	if cfg.TestHook != "" {
		a.tl.Logf("TEST HOOK %s=%s is on: for tests only", config.KeyTestHook, cfg.TestHook)
	}
	if err != nil {
		return fmt.Errorf("%w (defaults used instead)", err)
	}
	return nil
}

// fetchConfigURL is the "config-url" step: with ironvisor.config set, it
// fetches the document (bounded by configURLWait and config.MaxFileSize),
// checks its SHA-256 and applies the sources again with it in its place.
// A failure (an unreachable URL, a wrong checksum, bad JSON) is returned
// and recorded against the source in /v1/host; the box goes on with the
// other sources. The uplink's keys that the document changes are kept
// from before it and listed as ignored; a new hostname is set and new
// modules are loaded.
func (a *appliance) fetchConfigURL(uplinkErr error) error {
	if a.cfg.ConfigURL == "" {
		return nil
	}
	src, err := config.ParseConfigURL(a.cfg.ConfigURL) // sanitised, so it parses
	if err == nil && uplinkErr != nil {
		err = fmt.Errorf("not fetched: the uplink did not come up (%v)", uplinkErr)
	}
	var doc []byte
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), configURLWait)
		start := time.Now()
		doc, err = config.FetchURL(ctx, src, config.FetchOptions{Client: configClient(), Logf: a.tl.Logf})
		cancel()
		if err == nil {
			a.tl.Logf("config url: %s: %d bytes in %.1fs, sha256 checked", src.URL, len(doc), time.Since(start).Seconds())
		}
	}
	if err != nil {
		err = fmt.Errorf("%s=%s: %w; going on with the other sources", config.KeyConfigURL, a.cfg.ConfigURL, err)
		a.markURLSource(false, err.Error())
		return err
	}
	cfg, srcs, lerr := a.layerConfig(doc)
	ignored := a.keepEarly(&cfg)
	for i := range srcs {
		if srcs[i].Source == "url" {
			srcs[i].Ignored = ignored
			if !srcs[i].Applied && lerr != nil {
				err = fmt.Errorf("%s: %s; going on with the other sources", a.cfg.ConfigURL, srcs[i].Error)
			}
		}
	}
	if err == nil && lerr != nil {
		err = fmt.Errorf("%w (defaults used instead)", lerr)
	}
	if len(ignored) > 0 {
		a.tl.Logf("config url: ignored %s: the uplink was up before the document was read; set them on the kernel command line",
			strings.Join(ignored, ", "))
	}
	old := a.cfg
	a.cfg = cfg
	a.setSources(srcs)
	a.applyLate(old)
	return err
}

// configClient is the HTTP client for the config URL. It uses no proxy,
// and does not verify the server's TLS certificate: the document is
// authenticated by the SHA-256 the kernel command line pins, and the
// appliance image carries no CA bundle to verify against.
func configClient() *http.Client {
	return &http.Client{Transport: &http.Transport{Proxy: nil,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the checksum authenticates
}

// keepEarly resets the keys in cfg that steps before the URL consumed to
// their values in a.cfg, and returns the ones it reset.
func (a *appliance) keepEarly(cfg *config.Config) []string {
	var ignored []string
	for _, k := range earlyKeys {
		if !reflect.DeepEqual(k.get(*cfg), k.get(a.cfg)) {
			ignored = append(ignored, k.key)
		}
	}
	if len(ignored) > 0 {
		cfg.Uplink, cfg.Address, cfg.Gateway = a.cfg.Uplink, a.cfg.Address, a.cfg.Gateway
		cfg.DNS, cfg.Iface = a.cfg.DNS, a.cfg.Iface
	}
	return ignored
}

// applyLate applies what the config URL changed of the steps already
// done: the hostname and the extra modules.
func (a *appliance) applyLate(old config.Config) {
	if a.cfg.Hostname != old.Hostname {
		set := unix.Sethostname
		if a.sethostname != nil {
			set = a.sethostname
		}
		if err := set([]byte(a.cfg.Hostname)); err != nil {
			a.tl.Fail("config-url", fmt.Errorf("set hostname %s: %w", a.cfg.Hostname, err))
		}
	}
	var mods []string
	for _, m := range a.cfg.Modules {
		if !slices.Contains(old.Modules, m) && !slices.Contains(EarlyModules, m) {
			mods = append(mods, m)
		}
	}
	if len(mods) > 0 && a.o.ModuleOpts != nil {
		if _, err := LoadModules(mods, *a.o.ModuleOpts, a.tl.Logf); err != nil {
			a.tl.Fail("config-url", fmt.Errorf("modules: %w", err))
		}
	}
}

// markURLSource records the config URL's outcome on its source.
func (a *appliance) markURLSource(applied bool, msg string) {
	a.srcMu.Lock()
	defer a.srcMu.Unlock()
	for i := range a.sources {
		if a.sources[i].Source == "url" {
			a.sources[i].Applied, a.sources[i].Error = applied, msg
		}
	}
}

// setSources records the configuration's sources.
func (a *appliance) setSources(srcs []hostinfo.ConfigSource) {
	a.srcMu.Lock()
	defer a.srcMu.Unlock()
	a.sources = srcs
}

// configSources is the configuration's part of /v1/host.
func (a *appliance) configSources() []hostinfo.ConfigSource {
	a.srcMu.Lock()
	defer a.srcMu.Unlock()
	out := make([]hostinfo.ConfigSource, len(a.sources))
	for i, s := range a.sources {
		s.Ignored = slices.Clone(s.Ignored)
		out[i] = s
	}
	return out
}
