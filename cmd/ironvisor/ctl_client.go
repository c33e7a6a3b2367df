package main

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ironvisor/ironvisor/appliance/apiv1"
)

// newCtlClient builds the typed API client (package apiv1). With
// fingerprint the server certificate must have that SHA-256 (colons and
// case ignored), whoever signed it; with insecure it is not checked at all.
func newCtlClient(url, token, fingerprint string, insecure bool) (*apiv1.Client, error) {
	if url == "" {
		return nil, errors.New("no API URL: use --url or IRONVISOR_URL")
	}
	if token == "" {
		return nil, errors.New("no token: use --token or IRONVISOR_TOKEN")
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if fingerprint != "" {
		want := strings.ToLower(strings.ReplaceAll(fingerprint, ":", ""))
		tc.InsecureSkipVerify = true // replaced by the pin below
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if got := hex.EncodeToString(sum[:]); got != want {
				return fmt.Errorf("server certificate fingerprint %s does not match --fingerprint", got)
			}
			return nil
		}
	} else if insecure {
		tc.InsecureSkipVerify = true
	}
	hc := &http.Client{Timeout: 10 * time.Minute, Transport: &http.Transport{TLSClientConfig: tc}}
	return apiv1.NewClient(url, token, hc), nil
}
