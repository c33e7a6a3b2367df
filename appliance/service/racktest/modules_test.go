package racktest

// netModules are what the host network needs on Debian's kernel, which
// cannot autoload them here (no /sbin/modprobe): tun and the bridge with
// br_netfilter, and the nftables expressions netcfg's rules use.
// crc32c_generic first: libcrc32c names it only through an alias.
var netModules = []string{"crc32c_generic", "kvm_amd", "tun", "bridge", "br_netfilter",
	"nf_tables", "nf_conntrack", "nf_nat", "nft_ct", "nft_nat", "nft_masq", "nft_redir", "nft_chain_nat",
	"nft_reject_inet", "nft_reject_bridge", "nft_fib_inet", "nft_limit", "nft_log", "nft_objref", "nft_meta_bridge", "veth",
	"inet_diag", "tcp_diag", "udp_diag"}
