package web

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

// The per-address limit counts the client a trusted proxy names, and
// believes nothing a client writes itself.
func TestTheClientAddressIsTheConnectionsUnlessATrustedProxyNamesIt(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	for _, c := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"203.0.113.7:5000", nil, "203.0.113.7"},
		{"203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"}, // not a proxy of ours: its header is ignored
		{"10.1.2.3:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"10.1.2.3:5000", []string{"6.6.6.6, 198.51.100.1"}, "198.51.100.1"},             // the client wrote 6.6.6.6 itself
		{"10.1.2.3:5000", []string{"6.6.6.6", "198.51.100.1, 10.9.9.9"}, "198.51.100.1"}, // two proxies of ours
		{"10.1.2.3:5000", []string{"10.9.9.9"}, "10.9.9.9"},                              // only proxies: the farthest
		{"10.1.2.3:5000", []string{"garbage, 198.51.100.1"}, "198.51.100.1"},
		{"10.1.2.3:5000", []string{"198.51.100.1, garbage"}, "10.1.2.3"},
		{"10.1.2.3:5000", nil, "10.1.2.3"},
		{"[::ffff:127.0.0.1]:5000", []string{"2001:db8::1"}, "2001:db8::1"},
		{"[2001:db8::7]:5000", nil, "2001:db8::7"},
	} {
		r := httptest.NewRequest("GET", "/join/cafe", nil)
		r.RemoteAddr = c.remote
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientAddr(r, trusted); got.String() != c.want {
			t.Errorf("%s with X-Forwarded-For %q: %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.1.2.3:5000"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	if got := clientAddr(r, nil); got.String() != "10.1.2.3" {
		t.Errorf("no trusted proxies: %s", got)
	}
}
