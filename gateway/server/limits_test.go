package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/gateway/server"
	"github.com/coalition-loyalty/coalition/gateway/server/servertest"
)

// exchange sends raw on a new connection to addr, waits stall, sends rest,
// and reads the answer: its status code, 0 if the server closed the
// connection without one, or -1 if it did neither within the given time.
func exchange(t *testing.T, addr, raw string, stall time.Duration, rest string, within time.Duration) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(within))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	if stall > 0 {
		time.Sleep(stall)
	}
	if rest != "" {
		io.WriteString(conn, rest) // the server may have given up already
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return -1
	case err != nil:
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

func post(path, auth string, length int64, headers string) string {
	h := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: coalition\r\nContent-Type: application/json\r\n", path)
	if auth != "" {
		h += "Authorization: " + auth + "\r\n"
	}
	if length >= 0 {
		h += fmt.Sprintf("Content-Length: %d\r\n", length)
	} else {
		h += "Transfer-Encoding: chunked\r\n"
	}
	return h + headers + "\r\n"
}

func chunked(body string) string {
	return fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
}

// TestTheHTTPServersBoundWhatAClientMayHold checks the limits on every
// HTTP server the process runs: anonymous REST requests are refused before
// their body is read, bodies over the limit get 413 however they are
// sent, and a client that sends its headers or body too slowly is cut off.
// The timeouts are short here; the test checks what the server answers,
// not how fast.
func TestTheHTTPServersBoundWhatAClientMayHold(t *testing.T) {
	// A request's body may take readTimeout; an answer that comes well
	// before it did not wait for the body.
	const readTimeout = 5 * time.Second
	srv := servertest.Start(t, server.Config{
		Pool: pgtest.NewDB(t), HTTPAddr: "127.0.0.1:0", PprofAddr: "127.0.0.1:0",
		DevAuth: true, PhoneHashKey: servertest.PhoneHashKey, Settings: settings,
		HTTPLimits: server.HTTPLimits{MaxBodyBytes: 4096, MaxHeaderBytes: 8 << 10,
			ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: readTimeout},
	})
	if _, err := srv.Partners().Add(context.Background(), partners.Partner{Code: "cafe", Name: "cafe", Kind: "cafe",
		EarnRateBP: 500, PointsTTLDays: 365}); err != nil {
		t.Fatal(err)
	}
	api := srv.HTTPAddr()
	enroll := `{"idempotency_key": "e1"}`
	unsent := func(t *testing.T, what, raw string, want int) {
		t.Helper()
		switch code := exchange(t, api, raw, 0, "", readTimeout*4/5); code {
		case want:
		case -1:
			t.Fatalf("%s: no answer without the body: the server waits for it", what)
		default:
			t.Fatalf("%s = %d, want %d", what, code, want)
		}
	}

	t.Run("an anonymous POST is refused with its body unsent", func(t *testing.T) {
		unsent(t, "anonymous POST of 1000 bytes", post("/v1/partner/accruals", "", 1000, ""), http.StatusUnauthorized)
	})
	t.Run("a body announced too large is refused unsent", func(t *testing.T) {
		unsent(t, "POST of 200 MiB", post("/v1/partner/accruals", "Dev cafe", 200<<20, ""), http.StatusRequestEntityTooLarge)
		unsent(t, "sign-in form of 200 MiB", post("/signin", "", 200<<20, ""), http.StatusRequestEntityTooLarge)
	})
	t.Run("a chunked body is cut at the limit", func(t *testing.T) {
		big := `{"idempotency_key": "` + strings.Repeat("x", 8<<10) + `"}`
		if code := exchange(t, api, post("/v1/partner/members", "Dev cafe", -1, "")+chunked(big), 0, "", time.Minute); code != http.StatusRequestEntityTooLarge {
			t.Fatalf("chunked POST of 8 KiB = %d, want 413", code)
		}
		if code := exchange(t, api, post("/v1/partner/members", "Dev cafe", -1, "")+chunked(enroll), 0, "", time.Minute); code != http.StatusOK {
			t.Fatalf("chunked POST within the limit = %d, want 200", code)
		}
	})
	t.Run("a body sent too slowly is cut off", func(t *testing.T) {
		code := exchange(t, api, post("/v1/partner/members", "Dev cafe", int64(len(enroll)), "")+enroll[:5],
			readTimeout+2*time.Second, enroll[5:], time.Minute)
		if code == http.StatusOK || code == -1 {
			t.Fatalf("a body that took longer than the read timeout: %d", code)
		}
	})
	t.Run("headers too large are refused", func(t *testing.T) {
		big := "X-Padding: " + strings.Repeat("p", 16<<10) + "\r\n"
		if code := exchange(t, api, post("/v1/partner/members", "Dev cafe", 0, big), 0, "", time.Minute); code != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("16 KiB of headers = %d, want 431", code)
		}
	})
	for name, addr := range map[string]string{"REST and web": api, "profiler": srv.PprofAddr()} {
		t.Run("headers sent too slowly are cut off: "+name, func(t *testing.T) {
			code := exchange(t, addr, "GET /healthz HTTP/1.1\r\nHost: coalition\r\n", 2*time.Second, "\r\n", time.Minute)
			if code == http.StatusOK || code == -1 {
				t.Fatalf("%s: headers that took longer than the header timeout: %d", name, code)
			}
		})
	}
}
