package sender_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/textproto"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/enrolment"
	"github.com/coalition-loyalty/coalition/coalition/enrolment/sender"
)

// at is the test's clock: the messages' dates.
var at = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

func clock() time.Time { return at }

const text = "123456 is your Coalition code.\nIt works for 10 minutes; do not share it. Код: 123456."

// received is what the loopback SMTP server took.
type received struct {
	tls      bool
	user     string
	from, to string
	data     string
}

// smtpServer is a loopback submission server that speaks just enough
// SMTP: EHLO, STARTTLS (unless plain), AUTH PLAIN (after TLS only), MAIL,
// RCPT, DATA and QUIT. It hands each message it took to got.
type smtpServer struct {
	addr  string
	roots *x509.CertPool
	got   chan received
	cmds  chan string // every command line, for what must not happen
}

func startSMTP(t *testing.T, offerTLS bool, user, pass string) *smtpServer {
	t.Helper()
	cert, roots := selfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &smtpServer{addr: ln.Addr().String(), roots: roots, got: make(chan received, 4), cmds: make(chan string, 64)}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(conn, offerTLS, &tls.Config{Certificates: []tls.Certificate{cert}}, user, pass)
		}
	}()
	return s
}

func (s *smtpServer) serve(conn net.Conn, offerTLS bool, conf *tls.Config, user, pass string) {
	defer conn.Close()
	tp := textproto.NewConn(conn)
	var m received
	tp.PrintfLine("220 loopback ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		s.cmds <- line
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			ext := []string{"250-loopback"}
			if offerTLS && !m.tls {
				ext = append(ext, "250-STARTTLS")
			}
			if m.tls {
				ext = append(ext, "250-AUTH PLAIN")
			}
			ext = append(ext, "250 8BITMIME")
			tp.PrintfLine("%s", strings.Join(ext, "\r\n"))
		case "STARTTLS":
			tp.PrintfLine("220 go ahead")
			tc := tls.Server(conn, conf)
			if tc.Handshake() != nil {
				return
			}
			conn, tp, m.tls = tc, textproto.NewConn(tc), true
		case "AUTH":
			b, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(arg, "PLAIN "))
			parts := strings.Split(string(b), "\x00")
			if !m.tls || len(parts) != 3 || parts[1] != user || parts[2] != pass {
				tp.PrintfLine("535 authentication failed")
				continue
			}
			m.user = parts[1]
			tp.PrintfLine("235 accepted")
		case "MAIL":
			m.from = arg
			tp.PrintfLine("250 ok")
		case "RCPT":
			m.to = arg
			tp.PrintfLine("250 ok")
		case "DATA":
			tp.PrintfLine("354 go on")
			b, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			m.data = string(b)
			s.got <- m
			tp.PrintfLine("250 queued")
		case "QUIT":
			tp.PrintfLine("221 bye")
			return
		default:
			tp.PrintfLine("502 not here")
		}
	}
}

// selfSigned is a certificate for 127.0.0.1 and the pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "loopback smtp"},
		NotBefore: at.AddDate(-1, 0, 0), NotAfter: at.AddDate(10, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

func TestSMTPDeliversTheCodeOverSTARTTLSWithTheFirstLineAsSubject(t *testing.T) {
	srv := startSMTP(t, true, "coalition", "s3cret")
	s := &sender.SMTP{Addr: srv.addr, From: "codes@coalition.example", Username: "coalition", Password: "s3cret",
		RootCAs: srv.roots, Clock: clock}
	if err := s.Send(context.Background(), "anna@example.com", text); err != nil {
		t.Fatal(err)
	}
	var m received
	select {
	case m = <-srv.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no message arrived")
	}
	if !m.tls || m.user != "coalition" || !strings.HasPrefix(m.from, "FROM:<codes@coalition.example>") || m.to != "TO:<anna@example.com>" {
		t.Fatalf("envelope: tls %v, user %q, %s, %s", m.tls, m.user, m.from, m.to)
	}
	msg, err := mail.ReadMessage(strings.NewReader(m.data))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != "123456 is your Coalition code." {
		t.Errorf("subject %q (%v)", subject, err)
	}
	if d, err := msg.Header.Date(); err != nil || !d.Equal(at) {
		t.Errorf("date %v (%v), want the clock's %v", d, err, at)
	}
	if msg.Header.Get("To") != "anna@example.com" || msg.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("headers %v", msg.Header)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.ReplaceAll(string(body), "\r\n", "\n"); strings.TrimSpace(got) != text {
		t.Errorf("body %q, want %q", got, text)
	}
}

// A server that does not offer STARTTLS gets neither the message nor the
// credentials.
func TestSMTPRefusesToSendInClear(t *testing.T) {
	srv := startSMTP(t, false, "coalition", "s3cret")
	s := &sender.SMTP{Addr: srv.addr, From: "codes@coalition.example", Username: "coalition", Password: "s3cret", RootCAs: srv.roots}
	err := s.Send(context.Background(), "anna@example.com", text)
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("sent without TLS: %v", err)
	}
	// The server records each command before it answers; the client
	// said nothing after its EHLO's answer.
	for {
		select {
		case c := <-srv.cmds:
			if v, _, _ := strings.Cut(c, " "); v != "EHLO" && v != "QUIT" {
				t.Errorf("the client said %q to a server without TLS", c)
			}
		default:
			return
		}
	}
}

func TestSMTPRefusesAnAddressThatCouldInjectHeaders(t *testing.T) {
	s := &sender.SMTP{Addr: "127.0.0.1:1", From: "codes@coalition.example"}
	for _, to := range []string{"anna@example.com\r\nBcc: all@example.com", "Anna <anna@example.com>", "not an address"} {
		if err := s.Send(context.Background(), to, text); err == nil {
			t.Errorf("sent to %q", to)
		}
	}
}

func TestSMSHTTPPostsTheCodeWithTheBearerToken(t *testing.T) {
	type call struct {
		auth, ctype string
		body        map[string]string
	}
	calls := make(chan call, 1)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c call
		c.auth, c.ctype = r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&c.body) != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		calls <- c
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"id":"m-1"}`)
	}))
	defer api.Close()
	s := &sender.SMSHTTP{URL: api.URL + "/v1/messages", Token: "tok-123"}
	if err := s.Send(context.Background(), "+79001234567", text); err != nil {
		t.Fatal(err)
	}
	c := <-calls
	if c.auth != "Bearer tok-123" || c.ctype != "application/json" {
		t.Errorf("headers: %q %q", c.auth, c.ctype)
	}
	if c.body["to"] != "+79001234567" || c.body["text"] != text || len(c.body) != 2 {
		t.Errorf("body %v", c.body)
	}
}

// A refusal is an error that names the status, not the number or the text.
func TestSMSHTTPReportsTheProvidersRefusal(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"no credit for +79001234567"}`, http.StatusPaymentRequired)
	}))
	defer api.Close()
	err := (&sender.SMSHTTP{URL: api.URL, Token: "t"}).Send(context.Background(), "+79001234567", text)
	if err == nil || !strings.Contains(err.Error(), "402") || strings.Contains(err.Error(), "7900") || strings.Contains(err.Error(), "123456") {
		t.Fatalf("error %v", err)
	}
}

func TestTheOutboxWritesEachMessageToAFileOfItsOwn(t *testing.T) {
	dir := t.TempDir() + "/outbox"
	o, err := sender.NewOutbox(dir, clock)
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"+79001234567", "+79007654321"} {
		if err := o.Send(context.Background(), to, text); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := sender.ReadOutbox(dir)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("%d messages (%v)", len(msgs), err)
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		seen[m.To] = true
		if m.Text != text {
			t.Errorf("text %q", m.Text)
		}
		fi, err := os.Stat(m.Path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600: the codes are for their owner only", m.Path, fi.Mode(), err)
		}
	}
	if !seen["+79001234567"] || !seen["+79007654321"] {
		t.Errorf("recipients %v", seen)
	}
}

func TestTheConfigurationChoosesTheSenderAndWhatThePagesAskFor(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		cfg     sender.Config
		contact enrolment.ContactKind
		fails   bool
	}{
		{cfg: sender.Config{Kind: "off"}},
		{cfg: sender.Config{}},
		{cfg: sender.Config{Kind: "dev", OutboxDir: dir}, contact: enrolment.Phone},
		{cfg: sender.Config{Kind: "dev"}, fails: true},
		{cfg: sender.Config{Kind: "smtp", SMTPAddr: "smtp.example.com:587", SMTPFrom: "codes@example.com"}, contact: enrolment.Email},
		{cfg: sender.Config{Kind: "smtp", SMTPAddr: "smtp.example.com", SMTPFrom: "codes@example.com"}, fails: true},
		{cfg: sender.Config{Kind: "smtp", SMTPAddr: "smtp.example.com:587", SMTPFrom: "Codes <codes@example.com>"}, fails: true},
		{cfg: sender.Config{Kind: "smtp", SMTPAddr: "smtp.example.com:587", SMTPFrom: "codes@example.com", SMTPUsername: "u"}, fails: true},
		{cfg: sender.Config{Kind: "sms-http", SMSURL: "https://sms.example.com/send", SMSToken: "t"}, contact: enrolment.Phone},
		{cfg: sender.Config{Kind: "sms-http", SMSURL: "http://127.0.0.1:9000/send", SMSToken: "t"}, contact: enrolment.Phone},
		{cfg: sender.Config{Kind: "sms-http", SMSURL: "http://sms.example.com/send", SMSToken: "t"}, fails: true},
		{cfg: sender.Config{Kind: "sms-http", SMSURL: "https://sms.example.com/send"}, fails: true},
		{cfg: sender.Config{Kind: "carrier-pigeon"}, fails: true},
	} {
		s, contact, err := sender.New(c.cfg)
		if (err != nil) != c.fails || contact != c.contact || (err == nil && (s == nil) != (contact == "")) {
			t.Errorf("%+v: sender %T, contact %q, error %v", c.cfg, s, contact, err)
		}
	}
}
