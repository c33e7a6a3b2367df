// Package racktest runs the netcfg tests inside a virtual-rack server: the
// Debian host kernel booted from an initramfs with the networking modules
// the appliance carries (VLANs, bonds, bridges, veths, taps, nftables,
// conntrack and NAT) loaded, so TestVLANAndBond, which this host's kernel
// skips, runs with the kernel the appliance really boots. It has only
// tests.
package racktest
