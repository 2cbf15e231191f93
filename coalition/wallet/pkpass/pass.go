package pkpass

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/card"
)

// Pass is one member's card as Wallet should show it.
type Pass struct {
	// SerialNumber identifies the pass within the pass type; Wallet puts it
	// in the web service's URLs, so it must not contain "/".
	SerialNumber string
	// AuthenticationToken is what the device sends back to WebServiceURL
	// (as "ApplePass <token>"); Apple requires at least 16 characters.
	AuthenticationToken string
	// WebServiceURL is the https base of the pass web service. Empty: the
	// pass has no web service (and no authentication token) and is never
	// updated, as in dev mode served over plain HTTP.
	WebServiceURL string

	CardNumber string // 16 digits; printed under the barcode for a cashier to key in
	// BarcodeMessage is what the QR code holds: what the till scans from
	// the member's phone (the member's QR token). CardNumber if empty.
	BarcodeMessage string
	// Silent leaves out the change messages, so that Wallet updates the
	// pass without a notification (a member who turned them off).
	Silent     bool
	MemberName string // optional
	Balance    coalition.Points
	Tier       string // optional
	Partners   []string
	Expiring   []Expiry
	// LastChange, such as "+75 points at Coffee Corner", leads the
	// lock-screen message Wallet shows when this pass replaces one with a
	// different balance. Optional.
	LastChange string
	// News is the latest notice that changes no number on the card, such
	// as "120 points expire by 31 Mar 2026". It is a back field whose
	// change Wallet shows on the lock screen. Optional.
	News string
	// Offers are the personal offers the member can use now, the one to
	// show first first: it goes on the front, all of them on the back.
	Offers []Offer

	OrganizationName string
	Description      string // read by VoiceOver; required by Apple
	LogoText         string // optional
	Foreground       RGB
	Background       RGB
	Label            RGB
	// Images maps file names (icon.png, icon@2x.png, logo.png, strip.png and
	// their @2x/@3x forms) to PNG data. When nil, plain images in the
	// pass's colours are generated.
	Images map[string][]byte
}

// Expiry is a lot of points that lapses on a date.
type Expiry struct {
	Points coalition.Points
	On     time.Time
}

// Offer is a personal offer as the card shows it.
type Offer struct {
	Name  string
	Gives string    // what it gives, in words ("+50% of the base points")
	Until time.Time // its end, in the zone the date should read in
	// Coupon is the member's own coupon for it, printed; optional.
	Coupon string
}

// Line is the offer on one line of the back of a card.
func (o Offer) Line() string {
	s := fmt.Sprintf("%s: %s, until %s", o.Name, o.Gives, o.Until.Format("2 Jan 2006"))
	if o.Coupon != "" {
		s += ", coupon " + o.Coupon
	}
	return s
}

// RGB is a colour as pass.json writes it.
type RGB struct{ R, G, B uint8 }

func (c RGB) String() string { return fmt.Sprintf("rgb(%d, %d, %d)", c.R, c.G, c.B) }

// pass.json, with the key names of Apple's "Pass" reference. Only the keys
// a store card of ours uses are here.
type passFile struct {
	FormatVersion       int       `json:"formatVersion"`
	PassTypeIdentifier  string    `json:"passTypeIdentifier"`
	SerialNumber        string    `json:"serialNumber"`
	TeamIdentifier      string    `json:"teamIdentifier"`
	OrganizationName    string    `json:"organizationName"`
	Description         string    `json:"description"`
	LogoText            string    `json:"logoText,omitempty"`
	ForegroundColor     string    `json:"foregroundColor"`
	BackgroundColor     string    `json:"backgroundColor"`
	LabelColor          string    `json:"labelColor"`
	WebServiceURL       string    `json:"webServiceURL,omitempty"`
	AuthenticationToken string    `json:"authenticationToken,omitempty"`
	SharingProhibited   bool      `json:"sharingProhibited"`
	Barcodes            []barcode `json:"barcodes"`
	StoreCard           fields    `json:"storeCard"`
}

type barcode struct {
	Format          string `json:"format"`
	Message         string `json:"message"`
	MessageEncoding string `json:"messageEncoding"`
	AltText         string `json:"altText,omitempty"`
}

type fields struct {
	PrimaryFields   []field `json:"primaryFields"`
	SecondaryFields []field `json:"secondaryFields,omitempty"`
	AuxiliaryFields []field `json:"auxiliaryFields,omitempty"`
	BackFields      []field `json:"backFields,omitempty"`
}

type field struct {
	Key             string `json:"key"`
	Label           string `json:"label,omitempty"`
	Value           any    `json:"value"` // string, number, or ISO 8601 date string
	ChangeMessage   string `json:"changeMessage,omitempty"`
	NumberStyle     string `json:"numberStyle,omitempty"`
	DateStyle       string `json:"dateStyle,omitempty"`
	TimeStyle       string `json:"timeStyle,omitempty"`
	IgnoresTimeZone bool   `json:"ignoresTimeZone,omitempty"`
}

func (b *Builder) passJSON(p Pass) ([]byte, error) {
	if err := validate(p); err != nil {
		return nil, err
	}
	balance := field{
		Key: "balance", Label: "Points", Value: int64(p.Balance),
		NumberStyle:   "PKNumberStyleDecimal",
		ChangeMessage: "Balance: %@ points",
	}
	switch {
	case p.Silent:
		balance.ChangeMessage = ""
	case p.LastChange != "":
		// The whole message is a format string: a "%" of the member's text
		// must not be read as a directive.
		balance.ChangeMessage = strings.ReplaceAll(p.LastChange, "%", "%%") + ". Balance: %@"
	}
	f := fields{PrimaryFields: []field{balance}}
	if p.Tier != "" {
		tier := field{Key: "tier", Label: "Tier", Value: p.Tier, ChangeMessage: "Your tier is now %@"}
		if p.Silent {
			tier.ChangeMessage = ""
		}
		f.SecondaryFields = append(f.SecondaryFields, tier)
	}
	if len(p.Offers) > 0 {
		// A store card has room for four secondary and auxiliary fields
		// together: tier, offer, member and the next expiry.
		f.SecondaryFields = append(f.SecondaryFields, field{Key: "offer", Label: "Offer", Value: p.Offers[0].Name})
	}
	if p.MemberName != "" {
		f.AuxiliaryFields = append(f.AuxiliaryFields, field{Key: "member", Label: "Member", Value: p.MemberName})
	}
	expiring := slices.Clone(p.Expiring)
	slices.SortStableFunc(expiring, func(a, b Expiry) int { return a.On.Compare(b.On) })
	if len(expiring) > 0 {
		next := expiring[0]
		f.AuxiliaryFields = append(f.AuxiliaryFields, expiryField("nextExpiry", next, "PKDateStyleShort"))
	}
	if p.News != "" {
		news := field{Key: "news", Label: "News", Value: p.News, ChangeMessage: "%@"}
		if p.Silent {
			news.ChangeMessage = ""
		}
		f.BackFields = append(f.BackFields, news)
	}
	if len(p.Offers) > 0 {
		lines := make([]string, len(p.Offers))
		for i, o := range p.Offers {
			lines[i] = o.Line()
		}
		f.BackFields = append(f.BackFields, field{Key: "offers", Label: "Your offers", Value: strings.Join(lines, "\n")})
	}
	if len(p.Partners) > 0 {
		f.BackFields = append(f.BackFields, field{Key: "partners", Label: "Earn and spend at", Value: strings.Join(p.Partners, "\n")})
	}
	for i, e := range expiring {
		f.BackFields = append(f.BackFields, expiryField(fmt.Sprintf("expiry%d", i+1), e, "PKDateStyleLong"))
	}

	message := p.BarcodeMessage
	if message == "" {
		message = p.CardNumber
	}
	token := p.AuthenticationToken
	if p.WebServiceURL == "" {
		token = ""
	}
	pf := passFile{
		FormatVersion:       1,
		PassTypeIdentifier:  b.cfg.PassTypeIdentifier,
		SerialNumber:        p.SerialNumber,
		TeamIdentifier:      b.cfg.TeamIdentifier,
		OrganizationName:    p.OrganizationName,
		Description:         p.Description,
		LogoText:            p.LogoText,
		ForegroundColor:     p.Foreground.String(),
		BackgroundColor:     p.Background.String(),
		LabelColor:          p.Label.String(),
		WebServiceURL:       p.WebServiceURL,
		AuthenticationToken: token,
		// The barcode spends the member's points at any till; a forwarded
		// pass would hand them to someone else.
		SharingProhibited: true,
		Barcodes: []barcode{{
			Format:          "PKBarcodeFormatQR",
			Message:         message,
			MessageEncoding: "iso-8859-1",
			AltText:         grouped(p.CardNumber),
		}},
		StoreCard: f,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // partner names such as "Fish & Chips" stay readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(pf); err != nil {
		return nil, fmt.Errorf("pkpass: pass.json: %w", err)
	}
	return buf.Bytes(), nil
}

// expiryField shows the date in the zone the expiry was set in
// (ignoresTimeZone), so a member abroad does not see the day shift.
func expiryField(key string, e Expiry, style string) field {
	return field{
		Key:             key,
		Label:           fmt.Sprintf("%d points expire", e.Points),
		Value:           e.On.Format(time.RFC3339),
		DateStyle:       style,
		TimeStyle:       "PKDateStyleNone",
		IgnoresTimeZone: true,
	}
}

// grouped writes a card number in fours, as printed on a plastic card, so a
// cashier can key it in when the barcode does not scan.
func grouped(number string) string {
	var b strings.Builder
	for i, r := range number {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func validate(p Pass) error {
	switch {
	case p.SerialNumber == "" || strings.Contains(p.SerialNumber, "/"):
		return invalid("serial_number", "must be non-empty and contain no %q", "/")
	case p.WebServiceURL != "" && len(p.AuthenticationToken) < 16:
		return invalid("authentication_token", "must be at least 16 characters (Apple's minimum)")
	case strings.IndexFunc(p.AuthenticationToken, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0:
		return invalid("authentication_token", "must be printable ASCII without spaces: devices send it in an HTTP header")
	case !card.ValidNumber(p.CardNumber):
		return invalid("card_number", "is not a valid card number")
	case strings.IndexFunc(p.BarcodeMessage, func(r rune) bool { return r < ' ' || r > '~' }) >= 0:
		return invalid("barcode_message", "must be printable ASCII: the barcode is encoded as ISO 8859-1")
	case p.OrganizationName == "":
		return invalid("organization_name", "is required")
	case p.Description == "":
		return invalid("description", "is required")
	case p.Foreground == p.Background:
		return invalid("foreground", "is the same colour as the background: the pass would be unreadable")
	}
	if u, err := url.Parse(p.WebServiceURL); p.WebServiceURL != "" && (err != nil || u.Scheme != "https" || u.Host == "") {
		// Wallet talks only https to a web service outside its developer
		// settings.
		return invalid("web_service_url", "must be an absolute https URL")
	}
	for i, e := range p.Expiring {
		if e.Points <= 0 || e.On.IsZero() {
			return invalid(fmt.Sprintf("expiring[%d]", i), "needs positive points and a date")
		}
	}
	return nil
}
