package rack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// Get fetches path (e.g. "/v1/host") from a forwarded guest TCP port over
// HTTP and returns the body. Anything but 200 OK is an error holding the
// status and body.
func (s *Server) Get(ctx context.Context, guestPort int, path string) ([]byte, error) {
	addr := s.Addr(guestPort)
	if addr == "" {
		return nil, fmt.Errorf("rack %s: guest port %d is not forwarded", s.opts.Name, guestPort)
	}
	url := "http://" + addr + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return body, nil
}

// GetJSON fetches path like Get and decodes the JSON body into v.
func (s *Server) GetJSON(ctx context.Context, guestPort int, path string, v any) error {
	body, err := s.Get(ctx, guestPort, path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: decode: %w: %.200s", path, err, body)
	}
	return nil
}
