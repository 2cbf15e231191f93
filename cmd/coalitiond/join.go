package main

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/coalition-loyalty/coalition/coalition/enrolment/sender"
	"github.com/coalition-loyalty/coalition/gateway/server"
)

// joinOptions are the flags of joining by QR (README: "Joining by QR at
// the counter").
type joinOptions struct {
	sender       string
	outbox       string
	smtpAddr     string
	smtpFrom     string
	smtpUsername string
	smtpPassword string
	smsURL       string
	smsToken     string
	termsVersion string
	termsURL     string
	proxies      []string
}

func addJoinFlags(cmd *cobra.Command, j *joinOptions, defaultSender, defaultOutbox string) {
	f := cmd.Flags()
	f.StringVar(&j.sender, "join-sender", defaultSender, "joining by QR (/join/<partner>): how the one-time codes go out: off, dev (files in --join-outbox), smtp (e-mail: the pages ask for an e-mail address) or sms-http (SMS through a provider's HTTP API: the pages ask for a phone number)")
	f.StringVar(&j.outbox, "join-outbox", defaultOutbox, "with --join-sender dev: the folder each code's message is written to")
	f.StringVar(&j.smtpAddr, "join-smtp-addr", "", "with --join-sender smtp: the submission server, host:port; it must offer STARTTLS")
	f.StringVar(&j.smtpFrom, "join-smtp-from", "", "with --join-sender smtp: the From address of the codes' e-mails")
	f.StringVar(&j.smtpUsername, "join-smtp-username", "", "with --join-sender smtp: the user name for AUTH PLAIN (empty: no authentication)")
	f.StringVar(&j.smtpPassword, "join-smtp-password", "", "with --join-sender smtp: the password for AUTH PLAIN (prefer the environment variable)")
	f.StringVar(&j.smsURL, "join-sms-url", "", `with --join-sender sms-http: the URL that takes POST {"to": "+7…", "text": "…"} (https://, or http:// on loopback)`)
	f.StringVar(&j.smsToken, "join-sms-token", "", "with --join-sender sms-http: the bearer token of the SMS API (prefer the environment variable)")
	f.StringVar(&j.termsVersion, "join-terms-version", "", "the version of the programme's terms people accept when they join, recorded with their consent (required with a sender)")
	f.StringVar(&j.termsURL, "join-terms-url", "", "where the join page links the programme's terms")
	f.StringSliceVar(&j.proxies, "trusted-proxies", nil, "addresses or CIDR ranges of the proxies in front of the HTTP listener whose X-Forwarded-For names the client (for joining's per-address limit); others' X-Forwarded-For is ignored")
}

// config makes the sender and the server's JoinConfig.
func (j joinOptions) config(cfg server.Config) (server.JoinConfig, error) {
	snd, contact, err := sender.New(sender.Config{Kind: j.sender, OutboxDir: j.outbox,
		SMTPAddr: j.smtpAddr, SMTPFrom: j.smtpFrom, SMTPUsername: j.smtpUsername, SMTPPassword: j.smtpPassword,
		SMSURL: j.smsURL, SMSToken: j.smsToken, Clock: cfg.CredentialClock})
	if err != nil {
		return server.JoinConfig{}, err
	}
	out := server.JoinConfig{Sender: snd, Contact: contact, TermsVersion: j.termsVersion, TermsURL: j.termsURL}
	for _, p := range j.proxies {
		p = strings.TrimSpace(p)
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return server.JoinConfig{}, fmt.Errorf("--trusted-proxies %q: want an address or a CIDR range", p)
			}
			prefix = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out.TrustedProxies = append(out.TrustedProxies, prefix.Masked())
	}
	return out, nil
}

// devJoin is joining by QR as dev mode runs it unless told otherwise:
// codes written to <data-dir>/outbox, and terms of the demo's own version.
func (j joinOptions) devJoin(dataDir string) joinOptions {
	if j.sender == "" {
		j.sender = sender.KindDev
	}
	if j.outbox == "" {
		j.outbox = filepath.Join(dataDir, "outbox")
	}
	if j.termsVersion == "" {
		j.termsVersion = "demo"
	}
	return j
}
