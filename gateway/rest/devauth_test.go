package rest_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/gateway/rest"
	"github.com/coalition-loyalty/coalition/gateway/server"
	"github.com/coalition-loyalty/coalition/gateway/server/servertest"
)

// The REST gateway calls the gRPC server over loopback, so the gRPC server
// cannot tell where a REST client is: the gateway itself must refuse dev
// credentials from a client that is not on this machine.
func TestDevCredentialsOverRESTOnlyFromLoopbackClients(t *testing.T) {
	srv := servertest.Start(t, server.Config{
		Pool:         pgtest.NewDB(t),
		DevAuth:      true,
		PhoneHashKey: servertest.PhoneHashKey,
		Settings:     ledger.Settings{Name: "T", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100},
	})
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	api, err := rest.Handler(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		client, auth string
		want         int
	}{
		{"127.0.0.1:40000", "Dev role=operator", http.StatusOK},
		{"[::1]:40000", "Dev role=operator", http.StatusOK},
		{"203.0.113.7:40000", "Dev role=operator", http.StatusUnauthorized},
		{"203.0.113.7:40000", "dev role=operator", http.StatusUnauthorized},
		{"[2001:db8::7]:40000", "Dev role=operator", http.StatusUnauthorized},
		{"[::ffff:203.0.113.7]:40000", "Dev role=operator", http.StatusUnauthorized},
		{"203.0.113.7:40000", "Basic b3BlcmF0b3I6", http.StatusUnauthorized},
		// Not refused by the gateway, but no key either: the gRPC server's 401.
		{"203.0.113.7:40000", "Bearer ck_not-a-key", http.StatusUnauthorized},
	} {
		req := httptest.NewRequest("GET", "/v1/network/partners", nil)
		req.RemoteAddr = c.client
		req.Header.Set("Authorization", c.auth)
		res := httptest.NewRecorder()
		api.ServeHTTP(res, req)
		if res.Code != c.want {
			t.Errorf("%q from %s = %d %s, want %d", c.auth, c.client, res.Code, res.Body, c.want)
		}
	}
	// Two headers, one dev: refused as well.
	req := httptest.NewRequest("GET", "/v1/network/partners", nil)
	req.RemoteAddr = "203.0.113.7:40000"
	req.Header.Add("Authorization", "Bearer ck_x")
	req.Header.Add("Authorization", "Dev role=operator")
	res := httptest.NewRecorder()
	api.ServeHTTP(res, req)
	if res.Code != http.StatusUnauthorized {
		t.Errorf("Bearer and Dev from afar = %d %s, want 401", res.Code, res.Body)
	}
}

// The same through the server's own HTTP listener, reached on an address
// of this machine's network interface, when it has one: the client's
// address is then really not loopback.
func TestDevCredentialsFromTheNetworkAreRefusedByTheServer(t *testing.T) {
	ip := interfaceAddr(t)
	lis, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	srv := servertest.Start(t, server.Config{
		Pool:         pgtest.NewDB(t),
		HTTPListener: lis,
		// Plain HTTP off loopback must be asked for, as the hole was.
		HTTPPlaintext: true,
		DevAuth:       true,
		PhoneHashKey:  servertest.PhoneHashKey,
		Settings:      ledger.Settings{Name: "T", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100},
	})
	code, body, _ := callAuth(t, "http://"+srv.HTTPAddr(), "GET", "/v1/network/partners", "Dev role=operator", "")
	if code != http.StatusUnauthorized {
		t.Fatalf("dev credentials from %s = %d %v, want 401", ip, code, body)
	}
}

// interfaceAddr is an IPv4 address of a network interface other than
// loopback; the test is skipped on a machine without one.
func interfaceAddr(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skipf("no interface addresses: %v", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("no network interface besides loopback")
	return ""
}
