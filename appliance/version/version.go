// Package version holds the build version of Ironvisor, set at link time
// with -ldflags "-X github.com/ironvisor/ironvisor/appliance/version.Version=...".
package version

// Version is the release version; "dev" for untagged builds.
var Version = "dev"

// String returns the version for display.
func String() string { return "ironvisor " + Version }
