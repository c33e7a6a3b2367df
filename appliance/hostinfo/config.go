package hostinfo

// ConfigSource is one source of the appliance configuration, in the order
// the sources apply (see package config): "defaults", "file" (--config
// FILE), "url" (ironvisor.config) and "cmdline" (the kernel command line).
type ConfigSource struct {
	Source string `json:"source"`
	// Where is the file's path or the URL, with its checksum.
	Where string `json:"where,omitempty"`
	// Applied is false when the source was not read at all (an
	// unreadable file, an unreachable URL, a wrong checksum, bad JSON);
	// the box then runs on the other sources.
	Applied bool `json:"applied"`
	// Error says why the source, or some of its values, were not used;
	// values that fail validation are replaced by their defaults.
	Error string `json:"error,omitempty"`
	// Ignored are the keys of a source read too late for them: the URL
	// is fetched once the uplink is up, so the uplink keys it sets are
	// kept from the sources before it.
	Ignored []string `json:"ignored,omitempty"`
}
