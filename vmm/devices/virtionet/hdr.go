package virtionet

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Feature bits (virtio 1.2 §5.1.3).
const (
	FeatureCsum      = 1 << 0
	FeatureGuestCsum = 1 << 1
	FeatureMTU       = 1 << 3
	FeatureMAC       = 1 << 5
	FeatureGuestTSO4 = 1 << 7
	FeatureGuestTSO6 = 1 << 8
	FeatureGuestECN  = 1 << 9
	FeatureGuestUFO  = 1 << 10
	FeatureHostTSO4  = 1 << 11
	FeatureHostTSO6  = 1 << 12
	FeatureHostECN   = 1 << 13
	FeatureHostUFO   = 1 << 14
	FeatureMrgRxbuf  = 1 << 15
	FeatureStatus    = 1 << 16
)

// Header flags and GSO types (virtio 1.2 §5.1.6).
const (
	HdrFNeedsCsum = 1
	HdrFDataValid = 2
	HdrFRSCInfo   = 4

	GSONone  = 0
	GSOTCPv4 = 1
	GSOUDP   = 3
	GSOTCPv6 = 4
	GSOUDPL4 = 5
	GSOECN   = 0x80
)

// HeaderLen is sizeof(struct virtio_net_hdr) with VIRTIO_F_VERSION_1: the
// num_buffers field is always there (virtio 1.2 §5.1.6).
const HeaderLen = 12

// MaxFrame bounds one frame without its header: a 64 KiB GSO packet plus
// its Ethernet header (and a VLAN tag).
const MaxFrame = 65535 + 14 + 4

// minFrame is an Ethernet header: destination, source, EtherType.
const minFrame = 14

// ErrBadHeader wraps every header a driver may not send.
var ErrBadHeader = errors.New("bad virtio-net header")

// Header is struct virtio_net_hdr (virtio 1.2 §5.1.6).
type Header struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16
	GSOSize    uint16
	CsumStart  uint16
	CsumOffset uint16
	NumBuffers uint16
}

// ParseHeader decodes the first HeaderLen bytes of b.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, fmt.Errorf("%w: %d bytes, need %d", ErrBadHeader, len(b), HeaderLen)
	}
	return Header{
		Flags:      b[0],
		GSOType:    b[1],
		HdrLen:     binary.LittleEndian.Uint16(b[2:]),
		GSOSize:    binary.LittleEndian.Uint16(b[4:]),
		CsumStart:  binary.LittleEndian.Uint16(b[6:]),
		CsumOffset: binary.LittleEndian.Uint16(b[8:]),
		NumBuffers: binary.LittleEndian.Uint16(b[10:]),
	}, nil
}

// Put encodes h into the first HeaderLen bytes of b.
func (h Header) Put(b []byte) {
	b[0], b[1] = h.Flags, h.GSOType
	binary.LittleEndian.PutUint16(b[2:], h.HdrLen)
	binary.LittleEndian.PutUint16(b[4:], h.GSOSize)
	binary.LittleEndian.PutUint16(b[6:], h.CsumStart)
	binary.LittleEndian.PutUint16(b[8:], h.CsumOffset)
	binary.LittleEndian.PutUint16(b[10:], h.NumBuffers)
}

// CheckTX applies the driver requirements of virtio 1.2 §5.1.6.2 to the
// header of a frame of frameLen bytes the driver wants to send, given the
// negotiated features: offloads only when negotiated, checksum position
// inside the frame, no receive-only flags. It returns the header to hand to
// the tap, with num_buffers cleared.
func CheckTX(h Header, frameLen int, acked uint64) (Header, error) {
	if h.Flags&^HdrFNeedsCsum != 0 {
		return h, fmt.Errorf("%w: flags %#x not allowed on transmit", ErrBadHeader, h.Flags)
	}
	if h.Flags&HdrFNeedsCsum != 0 {
		if acked&FeatureCsum == 0 {
			return h, fmt.Errorf("%w: NEEDS_CSUM without VIRTIO_NET_F_CSUM", ErrBadHeader)
		}
		if int(h.CsumStart)+int(h.CsumOffset)+2 > frameLen {
			return h, fmt.Errorf("%w: checksum at %d+%d outside a %d-byte frame", ErrBadHeader, h.CsumStart, h.CsumOffset, frameLen)
		}
	}
	gso := h.GSOType &^ GSOECN
	if err := gsoAllowed(h.GSOType, acked, true); err != nil {
		return h, err
	}
	if gso != GSONone && (h.GSOSize == 0 || h.Flags&HdrFNeedsCsum == 0) {
		return h, fmt.Errorf("%w: GSO needs gso_size and NEEDS_CSUM", ErrBadHeader)
	}
	h.NumBuffers = 0
	return h, nil
}

// CheckRX adapts the header the tap gave a received frame to what the
// driver negotiated (virtio 1.2 §5.1.6.3.2, device requirements): without
// VIRTIO_NET_F_GUEST_CSUM flags are zero; a GSO packet the driver cannot
// take is refused.
func CheckRX(h Header, acked uint64) (Header, error) {
	if acked&FeatureGuestCsum == 0 {
		if h.Flags&HdrFNeedsCsum != 0 {
			return h, fmt.Errorf("%w: partial checksum for a driver without GUEST_CSUM", ErrBadHeader)
		}
		h.Flags = 0
	}
	h.Flags &= HdrFNeedsCsum | HdrFDataValid
	if err := gsoAllowed(h.GSOType, acked, false); err != nil {
		return h, err
	}
	h.NumBuffers = 1
	return h, nil
}

// gsoAllowed checks a header's gso_type against the negotiated features:
// the HOST_* offloads for frames the driver sends (tx), the GUEST_* ones
// for frames it receives (virtio 1.2 §5.1.6.2, §5.1.6.3).
func gsoAllowed(gsoType uint8, acked uint64, tx bool) error {
	var host, guest uint64
	switch gsoType &^ GSOECN {
	case GSONone:
		if gsoType&GSOECN != 0 {
			return fmt.Errorf("%w: ECN without GSO", ErrBadHeader)
		}
		return nil
	case GSOTCPv4:
		host, guest = FeatureHostTSO4, FeatureGuestTSO4
	case GSOTCPv6:
		host, guest = FeatureHostTSO6, FeatureGuestTSO6
	case GSOUDP:
		host, guest = FeatureHostUFO, FeatureGuestUFO
	default:
		return fmt.Errorf("%w: gso_type %#x", ErrBadHeader, gsoType)
	}
	if gsoType&GSOECN != 0 {
		host, guest = host|FeatureHostECN, guest|FeatureGuestECN
	}
	need := guest
	if tx {
		need = host
	}
	if acked&need != need {
		return fmt.Errorf("%w: gso_type %#x not negotiated", ErrBadHeader, gsoType)
	}
	return nil
}
