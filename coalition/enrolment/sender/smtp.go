package sender

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"
)

// SMTP sends each message as a plain-text e-mail through a submission
// server, over STARTTLS (a server that does not offer it is refused, so
// neither the code nor the credentials ever cross the network in clear).
// The message's first line is its subject.
type SMTP struct {
	Addr string // host:port
	From string // a bare address
	// Username and Password, if set, authenticate with AUTH PLAIN.
	Username, Password string
	// RootCAs verify the server's certificate (nil: the system's).
	RootCAs *x509.CertPool
	// Hello is the name given in EHLO ("localhost" if empty).
	Hello string
	// Timeout bounds a whole delivery (30 s if zero), besides ctx.
	Timeout time.Duration
	Clock   func() time.Time
}

// Send delivers text to the address to.
func (s *SMTP) Send(ctx context.Context, to, text string) error {
	rcpt, err := mail.ParseAddress(to)
	if err != nil || rcpt.Name != "" || strings.ContainsAny(to, "\r\n") {
		return errors.New("smtp: not a bare e-mail address")
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	// net/smtp knows no context: the deadline bounds every read and
	// write, and a cancelled ctx closes the connection.
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	host, _, _ := net.SplitHostPort(s.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: %w", err)
	}
	defer c.Close()
	hello := s.Hello
	if hello == "" {
		hello = "localhost"
	}
	if err := c.Hello(hello); err != nil {
		return fmt.Errorf("smtp: EHLO: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return fmt.Errorf("smtp: %s offers no STARTTLS: refusing to send in clear", s.Addr)
	}
	if err := c.StartTLS(&tls.Config{ServerName: host, RootCAs: s.RootCAs, MinVersion: tls.VersionTLS12}); err != nil {
		return fmt.Errorf("smtp: STARTTLS: %w", err)
	}
	if s.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, host)); err != nil {
			return fmt.Errorf("smtp: AUTH: %w", err)
		}
	}
	msg, err := s.message(rcpt.Address, text)
	if err != nil {
		return err
	}
	if err := c.Mail(s.From); err != nil {
		return fmt.Errorf("smtp: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(rcpt.Address); err != nil {
		return fmt.Errorf("smtp: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: message refused: %w", err)
	}
	return c.Quit()
}

// message is the RFC 5322 message: UTF-8 text, quoted-printable, with the
// first line of text as the subject.
func (s *SMTP) message(to, text string) ([]byte, error) {
	now := time.Now
	if s.Clock != nil {
		now = s.Clock
	}
	subject, _, _ := strings.Cut(text, "\n")
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	_, domain, _ := strings.Cut(s.From, "@")
	var b bytes.Buffer
	for _, h := range [][2]string{
		{"From", s.From},
		{"To", to},
		{"Subject", mime.QEncoding.Encode("utf-8", strings.TrimSpace(subject))},
		{"Date", now().Format(time.RFC1123Z)},
		{"Message-ID", "<" + hex.EncodeToString(id) + "@" + domain + ">"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "quoted-printable"},
		{"Auto-Submitted", "auto-generated"},
	} {
		b.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\n", "\r\n"))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	b.WriteString("\r\n")
	return b.Bytes(), nil
}
