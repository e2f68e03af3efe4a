package supervisor

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// HTTPGetCheck is ready when GET url answers 200 OK. The client carries the
// transport security, e.g. a TLS config trusting the cluster CA.
func HTTPGetCheck(client *http.Client, url string) ReadinessCheck {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
		}
		return nil
	}
}
