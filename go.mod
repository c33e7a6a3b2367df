module github.com/ironvisor/ironvisor

go 1.26.8

require (
	// why aws-sdk-go-v2, its credentials, service/ec2, service/sts and smithy-go (tests
	// of appliance/frontend/ec2/sigv4 and appliance/controlplane only): the
	// real AWS client and signer prove the EC2 endpoint speaks EC2 (issue
	// 17, named in DESIGN.md); no binary links them.
	github.com/aws/aws-sdk-go-v2 v1.48.0
	github.com/aws/aws-sdk-go-v2/credentials v1.21.3
	github.com/aws/aws-sdk-go-v2/service/ec2 v1.350.0
	github.com/aws/smithy-go v1.28.9
	// why chromedp (build/racktest tests only): drives Debian's headless
	// Chromium over the DevTools protocol for the web console's end-to-end
	// test (issue 15); no chromedriver, no binary links it.
	github.com/chromedp/chromedp v0.23.1
	// why go-systemd (appliance/service): sd_notify readiness, watchdog and
	// stopping for `ironvisor serve` under systemd; named by the owner.
	github.com/coreos/go-systemd/v22 v22.7.0
	// why creack/pty (cmd/ironvisor tests only): opens a pty so the test of
	// `ctl instances console` sees raw mode set and restored; already in
	// the module graph through u-root.
	github.com/creack/pty v1.1.24
	// why go-diskfs (appliance/datadisk): makes the ext4 file system on
	// the flashed disk's blank data partition at first boot, in pure Go;
	// the initramfs carries no mkfs (issue 13 asks for a kept library).
	github.com/diskfs/go-diskfs v1.9.4
	// why go-seccomp-bpf (vmm/jail/seccompgen, go generate only): compiles
	// the VMM's syscall allow-list to BPF; no VMM links it.
	github.com/elastic/go-seccomp-bpf v1.6.0
	// why nftables (netcfg): netlink-native nftables rules in one
	// transaction, no nft binary.
	github.com/google/nftables v0.3.0
	// why insomniacslk/dhcp (appliance/uplink client, netcfg guest server):
	// named by the owner; RFC 2131 message handling both ways.
	github.com/insomniacslk/dhcp v0.0.0-20260901064844-234b97448fae
	// why klauspost/compress (appliance/images/qcow2): its zstd decoder
	// reads qcow2 clusters compressed with compression_type=zstd; the
	// standard library has none. Already in the build through u-root.
	github.com/klauspost/compress v1.20.1
	github.com/mdlayher/netlink v1.7.3-0.20250113171957-fbb4dce95f42
	// why pin/tftp (appliance/rackboot): a maintained TFTP server (RFC
	// 1350 with the blksize/tsize options of RFC 2347-2349) that hands
	// plain PXE firmware its iPXE binary; no hand-written packet parser.
	github.com/pin/tftp/v3 v3.1.0
	// why client_golang (appliance/controlplane /metrics): the standard
	// Prometheus exposition format and registry, asked for by issue 5.
	github.com/prometheus/client_golang v1.25.0
	// why u-root (initramfs cpio, appliance/boot kmodule): named by the
	// owner; reproducible newc archives and modprobe without binaries.
	github.com/u-root/u-root v0.16.0
	// why vishvananda/netlink and netns (netcfg, uplink): named by the
	// owner; links, addresses, routes and namespaces over netlink.
	github.com/vishvananda/netlink v1.3.1
	github.com/vishvananda/netns v0.0.5
	// why bbolt (appliance/store): pure Go, one file, fsync'd transactions,
	// so a write is acknowledged only after it is durable.
	go.etcd.io/bbolt v1.5.0
	// why x/crypto/ssh (appliance/controlplane key pairs): it parses
	// authorized_keys lines and computes OpenSSH's SHA256 fingerprints
	// exactly as OpenSSH does, which is not worth writing again.
	golang.org/x/crypto v0.57.0
	golang.org/x/net v0.59.0
	golang.org/x/sys v0.50.0
	// why x/term (cmd/ironvisor ctl): raw mode for `ctl instances console`
	// and its restore, the termios dance done right; pure Go over x/sys.
	golang.org/x/term v0.46.0
)

require (
	github.com/aws/aws-sdk-go-v2/service/sts v1.53.0
	github.com/chromedp/cdproto v0.160.1
	// why x/perf (build/benchdoc, make bench only): benchfmt reads the
	// standard Go benchmark format that docs/bench/ keeps as data (what
	// benchstat reads), and benchmath gives the medians and confidence
	// intervals of docs/benchmarks.md; no product binary links it.
	golang.org/x/perf v0.0.0-20260908200009-22c9c6c9d4da
)

require (
	github.com/aclements/go-moremath v0.0.0-20210112150236-f10218a38794 // indirect
	github.com/aws/aws-sdk-go-v2/internal/configsources v1.5.12 // indirect
	github.com/aws/aws-sdk-go-v2/internal/endpoints/v2 v2.8.12 // indirect
	github.com/aws/aws-sdk-go-v2/internal/v4a v1.5.12 // indirect
	github.com/aws/aws-sdk-go-v2/service/internal/accept-encoding v1.13.25 // indirect
	github.com/aws/aws-sdk-go-v2/service/internal/presigned-url v1.14.12 // indirect
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dustin/go-humanize v1.0.1 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/josharian/native v1.1.0 // indirect
	github.com/klauspost/pgzip v1.2.6 // indirect
	github.com/kylelemons/godebug v1.1.0 // indirect
	github.com/mdlayher/packet v1.1.2 // indirect
	github.com/mdlayher/socket v0.5.1 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/pierrec/lz4/v4 v4.1.26 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	github.com/u-root/uio v0.0.0-20240224005618-d2acac8f3701 // indirect
	github.com/ulikunitz/xz v0.5.15 // indirect
	golang.org/x/sync v0.22.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
