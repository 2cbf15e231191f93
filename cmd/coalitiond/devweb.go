package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/coalition-loyalty/coalition/cmd/coalitiond/internal/demo"
	"github.com/coalition-loyalty/coalition/coalition/apikeys"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/sessions"
)

// devPages is how a person opens the web pages of the dev coalition.
type devPages struct {
	url      string
	file     string // the credentials and the member link, for the person only
	card     string
	partner  string
	linkCurl string
	outbox   string // joining by QR: where the codes' messages go ("": off)
}

// devPortalCredential is the café admin's credential for the partner
// portal, issued once and kept in dir beside the others.
func devPortalCredential(ctx context.Context, dir string, keys *apikeys.Store, ps []partners.Partner) (string, error) {
	path := filepath.Join(dir, "cafe-admin.credential")
	if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	i := slices.IndexFunc(ps, func(p partners.Partner) bool { return p.Code == "cafe" })
	if i < 0 || keys == nil {
		return "", errors.New("the café's portal credential needs the demo's café and Vault")
	}
	_, secret, err := keys.Issue(ctx, &ps[i].ID, apikeys.RolePartnerAdmin, "dev cafe admin")
	if err != nil {
		return "", err
	}
	return secret, os.WriteFile(path, []byte(secret+"\n"), 0o600)
}

// devWeb makes sure the dev coalition has a finance and an operator staff
// credential (issued once, kept in dir/web/, readable by the owner only) and
// issues a fresh one-time link to the first demo member's page. The secrets
// go to a file, not to the logs.
func devWeb(ctx context.Context, dir, url string, keys *apikeys.Store, sess *sessions.Store, l *ledger.Ledger, reg *partners.Register, seeded []demo.Member) (*devPages, error) {
	webDir := filepath.Join(dir, "web")
	if err := os.MkdirAll(webDir, 0o700); err != nil {
		return nil, err
	}
	creds := map[string]string{}
	for _, role := range []string{sessions.RoleFinance, sessions.RoleOperator} {
		path := filepath.Join(webDir, role+".credential")
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			creds[role] = strings.TrimSpace(string(b))
			continue
		}
		if keys == nil {
			return nil, errors.New("staff credentials need Vault")
		}
		_, secret, err := keys.Issue(ctx, nil, role, "dev "+role)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
			return nil, err
		}
		creds[role] = secret
	}
	// The demo member whose page the link opens: the first one seeded, kept
	// for later runs (which seed nothing).
	cardPath := filepath.Join(webDir, "member.card")
	if len(seeded) > 0 {
		if err := os.WriteFile(cardPath, []byte(seeded[0].CardNumber+"\n"), 0o600); err != nil {
			return nil, err
		}
	}
	b, err := os.ReadFile(cardPath)
	if err != nil {
		return nil, fmt.Errorf("demo member: %w", err)
	}
	card := strings.TrimSpace(string(b))
	m, err := l.MemberOf(ctx, ledger.MemberRef{CardNumber: card})
	if err != nil {
		return nil, err
	}
	code, until, err := sess.IssueMemberLink(ctx, m.HomePartnerID, m.ID, m.HomePartnerID)
	if err != nil {
		return nil, err
	}
	p := &devPages{url: url, file: filepath.Join(webDir, "README.txt"), card: card}
	var home string
	ps, err := reg.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, pt := range ps {
		if pt.ID == m.HomePartnerID {
			home = pt.Code
		}
	}
	p.partner = home
	admin, err := devPortalCredential(ctx, webDir, keys, ps)
	if err != nil {
		return nil, err
	}
	p.linkCurl = fmt.Sprintf(`curl -s -X POST -H 'Authorization: Dev %s' %s/v1/partner/member-links -d '{"member": {"card_number": "%s"}}'`, home, url, card)
	text := fmt.Sprintf(`Coalition dev mode: the web pages at %s

Finance (settlement reports; the demo's first day, yesterday, is cleared): sign in at %s/signin with
  %s
Operator (network): sign in at %s/signin with
  %s
The café's partner portal (its admin: statements, staff, keys, certificates, analytics, segments, offers and their coupons): sign in at %s/signin with
  %s
Member (card %s): open this one-time link (valid until %s UTC)
  %s/m/%s
A new member link, as the member's partner would issue it:
  %s
`, url, url, creds[sessions.RoleFinance], url, creds[sessions.RoleOperator], url, admin, card, until.Format("15:04"), url, code, p.linkCurl)
	if err := os.WriteFile(p.file, []byte(text), 0o600); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *devPages) banner(b *strings.Builder) {
	fmt.Fprintf(b, "\n  Web pages   %s  (member, finance, operator, the café's partner portal; Russian and English)\n", p.url)
	fmt.Fprintf(b, "    staff credentials and a one-time member link: %s\n", p.file)
	fmt.Fprintf(b, "    a new member link for card %s: POST %s/v1/partner/member-links as %s\n", p.card, p.url, p.partner)
	if p.outbox != "" {
		fmt.Fprintf(b, "    join by QR: %s/join/%s (poster: %s/join/%s/poster); the codes are written to %s/\n",
			p.url, p.partner, p.url, p.partner, p.outbox)
	}
}
