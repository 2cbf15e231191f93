package server_test

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/gateway/server"
	"github.com/coalition-loyalty/coalition/gateway/server/readiness"
	"github.com/coalition-loyalty/coalition/gateway/server/servertest"
)

// TestWithVaultRESTIsTLSAndReadinessDetailsStayOnTheAdminPort runs the
// server as `coalitiond serve` with Vault: REST and the web pages answer
// only over TLS with the server's Vault certificate, and the public port
// tells a load balancer ready or not, while the Vault token's and the
// certificate's expiry and the metrics are on the admin port only.
func TestWithVaultRESTIsTLSAndReadinessDetailsStayOnTheAdminPort(t *testing.T) {
	vs, _, creds := servertest.Vault(t)
	srv := servertest.Start(t, server.Config{
		Pool: pgtest.NewDB(t), HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		Vault:    server.VaultConfig{Addr: vs.Addr, RoleID: creds.RoleID, SecretID: creds.SecretID},
		TLSHosts: []string{"localhost", "127.0.0.1"}, Settings: settings,
	})
	if !srv.HTTPTLS() || !strings.HasPrefix(srv.PublicURL(), "https://") {
		t.Fatalf("with Vault, HTTP TLS is %v and the public URL %s", srv.HTTPTLS(), srv.PublicURL())
	}
	tlsClient := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: srv.CAPool(), ServerName: "localhost"}}}
	fetch := func(c *http.Client, url string) (int, string) {
		t.Helper()
		res, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	public, admin := "https://"+srv.HTTPAddr(), "http://"+srv.AdminAddr()

	if code, body := fetch(http.DefaultClient, "http://"+srv.HTTPAddr()+"/healthz"); code == 200 {
		t.Fatalf("plain HTTP on the TLS port = %d %q", code, body)
	}
	if code, body := fetch(tlsClient, public+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz over TLS = %d %q", code, body)
	}
	var ready readiness.Report
	for deadline := time.Now().Add(30 * time.Second); !ready.Ready && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		_, body := fetch(http.DefaultClient, admin+"/readyz")
		json.Unmarshal([]byte(body), &ready)
	}
	if _, ok := ready.Checks["vault"].Credentials["token"]; !ready.Ready || !ok {
		t.Fatalf("admin /readyz = %+v, want ready with the Vault token's expiry", ready)
	}
	if code, body := fetch(tlsClient, public+"/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("public /readyz = %d %q, want 200 \"ready\" and nothing more", code, body)
	}
	if code, _ := fetch(tlsClient, public+"/metrics"); code != 404 {
		t.Fatalf("public /metrics = %d, want 404", code)
	}
	if code, body := fetch(http.DefaultClient, admin+"/metrics"); code != 200 || !strings.Contains(body, "coalition_vault_credential_remaining") {
		t.Fatalf("admin /metrics = %d, without the credentials' remaining time", code)
	}
	if code, _ := fetch(tlsClient, public+"/v1/settlement/windows"); code != 401 {
		t.Fatalf("REST over TLS without credentials = %d, want 401", code)
	}
}
