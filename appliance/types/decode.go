package types

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// MaxRequestBytes bounds the JSON body DecodeType accepts.
const MaxRequestBytes = 4096

// typeRequest is the body an admin sends to add a type. Memory may be given
// in bytes or MiB, not both.
type typeRequest struct {
	Name     string  `json:"name"`
	VCPUs    int     `json:"vcpus"`
	MemBytes *uint64 `json:"mem_bytes"`
	MemMiB   *uint64 `json:"mem_mib"`
}

// DecodeType parses an untrusted add-type request body such as
// {"name":"tiny","vcpus":1,"mem_mib":32} and validates the result. Unknown
// fields, trailing data, negative or oversized numbers and bodies over
// MaxRequestBytes are refused with an ErrInvalid error.
func DecodeType(body []byte) (Type, error) {
	if len(body) > MaxRequestBytes {
		return Type{}, fmt.Errorf("%w: request body is %d bytes, limit %d", ErrInvalid, len(body), MaxRequestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req typeRequest
	if err := dec.Decode(&req); err != nil {
		return Type{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Type{}, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalid)
	}
	t := Type{Name: req.Name, VCPUs: req.VCPUs}
	switch {
	case req.MemBytes != nil && req.MemMiB != nil:
		return Type{}, fmt.Errorf("%w: give mem_bytes or mem_mib, not both", ErrInvalid)
	case req.MemBytes != nil:
		t.MemBytes = *req.MemBytes
	case req.MemMiB != nil:
		if *req.MemMiB > MaxMemBytes/MiB {
			return Type{}, fmt.Errorf("%w: mem_mib %d too large", ErrInvalid, *req.MemMiB)
		}
		t.MemBytes = *req.MemMiB * MiB
	default:
		return Type{}, fmt.Errorf("%w: mem_bytes or mem_mib is required", ErrInvalid)
	}
	if err := Validate(t); err != nil {
		return Type{}, err
	}
	return t, nil
}
