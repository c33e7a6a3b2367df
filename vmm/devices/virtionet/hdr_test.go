package virtionet

import (
	"bytes"
	"errors"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	b := []byte{1, 0x81, 0x36, 0, 0xb4, 0x05, 0x22, 0, 0x10, 0, 3, 0, 0xee}
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{Flags: 1, GSOType: 0x81, HdrLen: 0x36, GSOSize: 1460, CsumStart: 0x22, CsumOffset: 0x10, NumBuffers: 3}
	if h != want {
		t.Fatalf("parsed %+v", h)
	}
	out := make([]byte, HeaderLen)
	h.Put(out)
	if !bytes.Equal(out, b[:HeaderLen]) {
		t.Fatalf("Put = %x", out)
	}
	if _, err := ParseHeader(b[:11]); !errors.Is(err, ErrBadHeader) {
		t.Fatalf("short header: %v", err)
	}
}

func TestCheckTX(t *testing.T) {
	all := uint64(FeatureCsum | FeatureHostTSO4 | FeatureHostTSO6 | FeatureHostUFO | FeatureHostECN)
	csum := Header{Flags: HdrFNeedsCsum, CsumStart: 34, CsumOffset: 16}
	tso4 := Header{Flags: HdrFNeedsCsum, GSOType: GSOTCPv4, GSOSize: 1448, HdrLen: 66, CsumStart: 34, CsumOffset: 16}
	for _, tc := range []struct {
		name  string
		h     Header
		acked uint64
		ok    bool
	}{
		{"plain", Header{NumBuffers: 7}, 0, true},
		{"csum negotiated", csum, FeatureCsum, true},
		{"csum not negotiated", csum, 0, false},
		{"csum outside frame", Header{Flags: HdrFNeedsCsum, CsumStart: 90, CsumOffset: 9}, all, false},
		{"data valid on tx", Header{Flags: HdrFDataValid}, all, false},
		{"rsc info on tx", Header{Flags: HdrFRSCInfo}, all, false},
		{"tso4 negotiated", tso4, all, true},
		{"tso4 not negotiated", tso4, FeatureCsum, false},
		{"tso6 needs host_tso6", Header{Flags: 1, GSOType: GSOTCPv6, GSOSize: 1, CsumStart: 1}, FeatureCsum | FeatureHostTSO4, false},
		{"ufo needs host_ufo", Header{Flags: 1, GSOType: GSOUDP, GSOSize: 1, CsumStart: 1}, FeatureCsum | FeatureHostTSO4, false},
		{"ecn needs host_ecn", Header{Flags: 1, GSOType: GSOTCPv4 | GSOECN, GSOSize: 1, CsumStart: 1}, FeatureCsum | FeatureHostTSO4, false},
		{"ecn negotiated", Header{Flags: 1, GSOType: GSOTCPv4 | GSOECN, GSOSize: 1, CsumStart: 1}, all, true},
		{"ecn without gso", Header{GSOType: GSOECN}, all, false},
		{"gso without size", Header{Flags: 1, GSOType: GSOTCPv4, CsumStart: 1}, all, false},
		{"gso without csum", Header{GSOType: GSOTCPv4, GSOSize: 1}, all, false},
		{"unknown gso", Header{Flags: 1, GSOType: 9, GSOSize: 1}, all, false},
	} {
		h, err := CheckTX(tc.h, 100, tc.acked)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err == nil && h.NumBuffers != 0 {
			t.Errorf("%s: num_buffers not cleared", tc.name)
		}
	}
}

func TestCheckRX(t *testing.T) {
	gc := uint64(FeatureGuestCsum)
	for _, tc := range []struct {
		name      string
		h         Header
		acked     uint64
		ok        bool
		wantFlags uint8
	}{
		{"plain", Header{}, 0, true, 0},
		{"data valid cleared without guest_csum", Header{Flags: HdrFDataValid}, 0, true, 0},
		{"data valid kept", Header{Flags: HdrFDataValid}, gc, true, HdrFDataValid},
		{"partial csum without guest_csum", Header{Flags: HdrFNeedsCsum}, 0, false, 0},
		{"partial csum", Header{Flags: HdrFNeedsCsum}, gc, true, HdrFNeedsCsum},
		{"tso4 not negotiated", Header{Flags: 1, GSOType: GSOTCPv4}, gc, false, 0},
		{"tso4", Header{Flags: 1, GSOType: GSOTCPv4}, gc | FeatureGuestTSO4, true, 1},
		{"tso6", Header{Flags: 1, GSOType: GSOTCPv6}, gc | FeatureGuestTSO6, true, 1},
		{"ufo", Header{Flags: 1, GSOType: GSOUDP}, gc | FeatureGuestUFO, true, 1},
		{"ecn not negotiated", Header{Flags: 1, GSOType: GSOTCPv4 | GSOECN}, gc | FeatureGuestTSO4, false, 0},
		{"unknown gso", Header{GSOType: 7}, gc, false, 0},
		{"ecn without gso", Header{GSOType: GSOECN}, gc | FeatureGuestECN, false, 0},
	} {
		h, err := CheckRX(tc.h, tc.acked)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
			continue
		}
		if err == nil && (h.Flags != tc.wantFlags || h.NumBuffers != 1) {
			t.Errorf("%s: header %+v", tc.name, h)
		}
	}
}

func TestTunOffloads(t *testing.T) {
	for acked, want := range map[uint64]uint32{
		0:                                   0,
		FeatureGuestTSO4:                    0, // TSO needs checksum offload
		FeatureGuestCsum:                    tunFCsum,
		FeatureGuestCsum | FeatureGuestTSO4: tunFCsum | tunFTSO4,
		FeatureGuestCsum | FeatureGuestTSO4 | FeatureGuestTSO6 | FeatureGuestUFO | FeatureGuestECN: tunFCsum | tunFTSO4 | tunFTSO6 | tunFUFO | tunFTSOECN,
	} {
		if got := tunOffloads(acked); got != want {
			t.Errorf("tunOffloads(%#x) = %#x, want %#x", acked, got, want)
		}
	}
}

// FuzzNetHeader parses arbitrary header bytes and runs both checks under
// fuzzer-chosen features: no panic, encoding round-trips, and an accepted
// header never carries an offload that was not negotiated.
func FuzzNetHeader(f *testing.F) {
	f.Add([]byte{1, 1, 66, 0, 0xa8, 5, 34, 0, 16, 0, 0, 0}, uint64(FeatureCsum|FeatureHostTSO4), 100)
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0}, uint64(FeatureGuestCsum), 60)
	f.Fuzz(func(t *testing.T, b []byte, acked uint64, frameLen int) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		out := make([]byte, HeaderLen)
		h.Put(out)
		if !bytes.Equal(out, b[:HeaderLen]) {
			t.Fatalf("round trip %x -> %x", b[:HeaderLen], out)
		}
		if tx, err := CheckTX(h, frameLen, acked); err == nil {
			if tx.Flags&HdrFNeedsCsum != 0 && acked&FeatureCsum == 0 {
				t.Fatal("NEEDS_CSUM accepted without CSUM")
			}
			if tx.GSOType != GSONone && acked&(FeatureHostTSO4|FeatureHostTSO6|FeatureHostUFO) == 0 {
				t.Fatal("GSO accepted without host offloads")
			}
		}
		if rx, err := CheckRX(h, acked); err == nil {
			if rx.Flags != 0 && acked&FeatureGuestCsum == 0 {
				t.Fatal("RX flags without GUEST_CSUM")
			}
			if rx.GSOType != GSONone && acked&(FeatureGuestTSO4|FeatureGuestTSO6|FeatureGuestUFO) == 0 {
				t.Fatal("RX GSO without guest offloads")
			}
		}
	})
}
