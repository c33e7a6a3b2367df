package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// MaxFileSize bounds a JSON configuration file.
const MaxFileSize = 64 << 10

// DecodeJSON reads a JSON configuration object on top of base. Fields that
// are absent keep base's value; unknown fields, trailing data and files
// larger than MaxFileSize are errors. The result is not validated.
func DecodeJSON(base Config, r io.Reader) (Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return base, fmt.Errorf("read config: %w", err)
	}
	if len(data) > MaxFileSize {
		return base, fmt.Errorf("config is larger than %d bytes", MaxFileSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	c := base
	if err := dec.Decode(&c); err != nil {
		return base, fmt.Errorf("decode config: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return base, errors.New("decode config: trailing data after the JSON object")
	}
	return c, nil
}

// LoadFile reads the JSON configuration file at path on top of base.
func LoadFile(base Config, path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return base, fmt.Errorf("open config: %w", err)
	}
	defer f.Close()
	c, err := DecodeJSON(base, f)
	if err != nil {
		return base, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
