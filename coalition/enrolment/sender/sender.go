// Package sender delivers self-enrolment's one-time codes: by e-mail over
// SMTP, by SMS through a provider's HTTP API, or, in dev mode, into files
// in an outbox folder that a person (or a test) reads.
package sender

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/enrolment"
)

// Kinds of sender, as --join-sender names them.
const (
	KindOff     = "off"
	KindDev     = "dev"
	KindSMTP    = "smtp"
	KindSMSHTTP = "sms-http"
)

// Config chooses and configures a sender.
type Config struct {
	Kind string
	// OutboxDir: the dev sink's folder.
	OutboxDir string
	// SMTP: the submission server (host:port, STARTTLS), the From address
	// and, if it asks for them, the credentials (AUTH PLAIN, over TLS).
	SMTPAddr, SMTPFrom, SMTPUsername, SMTPPassword string
	// SMS: the provider's endpoint and bearer token.
	SMSURL, SMSToken string
	// Clock dates the messages (time.Now if nil).
	Clock func() time.Time
}

// New makes the sender Config names and says what the pages ask for: an
// e-mail address for SMTP, a phone number otherwise. KindOff (or "")
// returns no sender: self-enrolment is off.
func New(c Config) (enrolment.Sender, enrolment.ContactKind, error) {
	switch c.Kind {
	case "", KindOff:
		return nil, "", nil
	case KindDev:
		if c.OutboxDir == "" {
			return nil, "", errors.New("--join-sender dev needs --join-outbox")
		}
		o, err := NewOutbox(c.OutboxDir, c.Clock)
		return o, enrolment.Phone, err
	case KindSMTP:
		if _, _, err := net.SplitHostPort(c.SMTPAddr); err != nil {
			return nil, "", fmt.Errorf("--join-smtp-addr %q: want host:port (submission, e.g. :587): %w", c.SMTPAddr, err)
		}
		if a, err := mail.ParseAddress(c.SMTPFrom); err != nil || a.Name != "" {
			return nil, "", fmt.Errorf("--join-smtp-from %q: want a bare e-mail address", c.SMTPFrom)
		}
		if (c.SMTPUsername == "") != (c.SMTPPassword == "") {
			return nil, "", errors.New("--join-smtp-username and --join-smtp-password go together")
		}
		return &SMTP{Addr: c.SMTPAddr, From: c.SMTPFrom, Username: c.SMTPUsername, Password: c.SMTPPassword, Clock: c.Clock},
			enrolment.Email, nil
	case KindSMSHTTP:
		u, err := url.Parse(c.SMSURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, "", fmt.Errorf("--join-sms-url %q: want an http(s) URL", c.SMSURL)
		}
		// The token would cross the network in clear.
		if u.Scheme == "http" && !loopback(u.Hostname()) {
			return nil, "", fmt.Errorf("--join-sms-url %q: use https:// (plain http only on loopback)", c.SMSURL)
		}
		if c.SMSToken == "" {
			return nil, "", errors.New("--join-sender sms-http needs --join-sms-token")
		}
		return &SMSHTTP{URL: c.SMSURL, Token: c.SMSToken}, enrolment.Phone, nil
	}
	return nil, "", fmt.Errorf("--join-sender %q: want off, dev, smtp or sms-http", c.Kind)
}

func loopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}
