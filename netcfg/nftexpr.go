package netcfg

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Small builders for nftables expressions. Every match loads into register 1
// and compares; a rule is the concatenation of matches and a verdict.

// objCounter is NFT_OBJECT_COUNTER for expr.Objref.
const objCounter = 1

// ifnameBytes pads an interface name to IFNAMSIZ, the way nft matches it.
func ifnameBytes(name string) []byte {
	b := make([]byte, 16)
	copy(b, name)
	return b
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func ne32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func ip4(a netip.Addr) []byte { b := a.As4(); return b[:] }

func cmp(op expr.CmpOp, data []byte) expr.Any {
	return &expr.Cmp{Op: op, Register: 1, Data: data}
}

func meta(key expr.MetaKey) expr.Any { return &expr.Meta{Key: key, Register: 1} }

func matchMeta(key expr.MetaKey, op expr.CmpOp, data []byte) []expr.Any {
	return []expr.Any{meta(key), cmp(op, data)}
}

func iifname(name string) []expr.Any {
	return matchMeta(expr.MetaKeyIIFNAME, expr.CmpOpEq, ifnameBytes(name))
}

func oifname(name string) []expr.Any {
	return matchMeta(expr.MetaKeyOIFNAME, expr.CmpOpEq, ifnameBytes(name))
}

func payload(base expr.PayloadBase, off, n uint32) expr.Any {
	return &expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: base, Offset: off, Len: n}
}

func matchPayload(base expr.PayloadBase, off uint32, op expr.CmpOp, data []byte) []expr.Any {
	return []expr.Any{payload(base, off, uint32(len(data))), cmp(op, data)}
}

// etherType matches the Ethernet type field (bridge family only).
func etherType(t uint16) []expr.Any {
	return matchPayload(expr.PayloadBaseLLHeader, 12, expr.CmpOpEq, be16(t))
}

// ipv4 matches IPv4 packets in the inet family.
func ipv4() []expr.Any {
	return matchMeta(expr.MetaKeyNFPROTO, expr.CmpOpEq, []byte{unix.NFPROTO_IPV4})
}

func l4proto(p byte) []expr.Any {
	return matchMeta(expr.MetaKeyL4PROTO, expr.CmpOpEq, []byte{p})
}

// portMatch matches a transport port (off 0: source, 2: destination).
func portMatch(off uint32, port uint16) []expr.Any {
	return matchPayload(expr.PayloadBaseTransportHeader, off, expr.CmpOpEq, be16(port))
}

func portRange(off uint32, from, to uint16) []expr.Any {
	if from == to {
		return portMatch(off, from)
	}
	return []expr.Any{
		payload(expr.PayloadBaseTransportHeader, off, 2),
		&expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: be16(from), ToData: be16(to)},
	}
}

// ipPrefix matches the IPv4 source (off 12) or destination (off 16) against
// a prefix.
func ipPrefix(off uint32, p netip.Prefix) []expr.Any {
	if p.Bits() == 32 {
		return matchPayload(expr.PayloadBaseNetworkHeader, off, expr.CmpOpEq, ip4(p.Addr()))
	}
	mask := net.CIDRMask(p.Bits(), 32)
	return []expr.Any{
		payload(expr.PayloadBaseNetworkHeader, off, 4),
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		cmp(expr.CmpOpEq, ip4(p.Masked().Addr())),
	}
}

// ctBits matches conntrack state or status bits (key CtKeySTATE/STATUS).
func ctBits(key expr.CtKey, bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: key},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(bits), Xor: ne32(0)},
		cmp(expr.CmpOpNeq, ne32(0)),
	}
}

// ctReply matches packets in the reply direction of a connection.
func ctReply() []expr.Any {
	return []expr.Any{&expr.Ct{Register: 1, Key: expr.CtKeyDIRECTION}, cmp(expr.CmpOpEq, []byte{1})}
}

func lookup(set *nftables.Set, invert bool) expr.Any {
	return &expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID, Invert: invert}
}

// vmap looks register 1 up in a verdict map.
func vmap(set *nftables.Set) expr.Any {
	return &expr.Lookup{SourceRegister: 1, DestRegister: 0, IsDestRegSet: true, SetName: set.Name, SetID: set.ID}
}

func counted(name string) expr.Any { return &expr.Objref{Type: objCounter, Name: name} }

func verdict(k expr.VerdictKind) expr.Any { return &expr.Verdict{Kind: k} }

func jump(chain string) expr.Any { return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain} }

// join concatenates expression lists.
func join(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func one(e ...expr.Any) []expr.Any { return e }
