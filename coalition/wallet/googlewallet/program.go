package googlewallet

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/card"
)

// Program is what every member's card shares: the issuer account and the
// loyalty class.
type Program struct {
	IssuerID        string // numeric, from the Google Pay & Wallet console
	ClassSuffix     string // e.g. "coalition-rewards"
	IssuerName      string
	ProgramName     string
	LogoURL         string // public https PNG; Google fetches it
	BackgroundColor string // "#rrggbb"
}

// Card is one member's card in domain terms.
type Card struct {
	// ObjectSuffix names the member's object within the issuer; a stable
	// member identifier, never the card number (ids show up in URLs and
	// Google's logs).
	ObjectSuffix string
	CardNumber   string
	// BarcodeValue is what the QR code holds: what the till scans from
	// the member's phone (the member's QR token). CardNumber if empty; the
	// card number is the barcode's text either way.
	BarcodeValue string
	MemberName   string // optional
	Balance      coalition.Points
	Tier         string // optional
	Partners     []string
	Expiring     []Expiry
	// Offers are the member's personal offers now, one line each (as
	// pkpass.Offer.Line writes them), the one to show first first.
	Offers []string
}

// Expiry is a lot of points that lapses on a date.
type Expiry struct {
	Points coalition.Points
	On     time.Time
}

var (
	issuerIDPattern = regexp.MustCompile(`^[0-9]+$`)
	// Google allows letters, digits, '.', '_' and '-' after the issuer id.
	suffixPattern = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	hexColour     = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
)

// ResourceID returns "issuerID.suffix", the form Google requires of class
// and object ids, or an Invalid error if either part has characters Google
// refuses.
func ResourceID(issuerID, suffix string) (string, error) {
	if !issuerIDPattern.MatchString(issuerID) {
		return "", coalition.Errorf(coalition.Invalid, "issuer_id", "must be the numeric issuer id")
	}
	if !suffixPattern.MatchString(suffix) {
		return "", coalition.Errorf(coalition.Invalid, "suffix", "%q may hold only letters, digits, '.', '_' and '-'", suffix)
	}
	return issuerID + "." + suffix, nil
}

// Class returns the programme's loyalty class, ready for UpsertClass.
func (p Program) Class() (LoyaltyClass, error) {
	id, err := ResourceID(p.IssuerID, p.ClassSuffix)
	if err != nil {
		return LoyaltyClass{}, err
	}
	switch {
	case p.IssuerName == "" || p.ProgramName == "":
		return LoyaltyClass{}, coalition.Errorf(coalition.Invalid, "program_name", "issuer and programme names are required")
	case p.BackgroundColor != "" && !hexColour.MatchString(p.BackgroundColor):
		return LoyaltyClass{}, coalition.Errorf(coalition.Invalid, "background_color", "must be #rrggbb")
	case !strings.HasPrefix(p.LogoURL, "https://"):
		return LoyaltyClass{}, coalition.Errorf(coalition.Invalid, "logo_url", "Google requires a public https logo")
	}
	return LoyaltyClass{
		ID:          id,
		IssuerName:  p.IssuerName,
		ProgramName: p.ProgramName,
		ProgramLogo: &Image{
			SourceURI:          ImageURI{URI: p.LogoURL},
			ContentDescription: &LocalizedString{DefaultValue: TranslatedString{Language: "en-US", Value: p.ProgramName + " logo"}},
		},
		HexBackgroundColor: p.BackgroundColor,
		ReviewStatus:       "UNDER_REVIEW",
		AccountIDLabel:     "Card number",
		AccountNameLabel:   "Member",
	}, nil
}

// Object returns the member's loyalty object, ready for UpsertObject or a
// save link.
func (p Program) Object(c Card) (LoyaltyObject, error) {
	classID, err := ResourceID(p.IssuerID, p.ClassSuffix)
	if err != nil {
		return LoyaltyObject{}, err
	}
	id, err := ResourceID(p.IssuerID, c.ObjectSuffix)
	if err != nil {
		return LoyaltyObject{}, err
	}
	if !card.ValidNumber(c.CardNumber) {
		return LoyaltyObject{}, coalition.Errorf(coalition.Invalid, "card_number", "is not a valid card number")
	}
	value := c.BarcodeValue
	if value == "" {
		value = c.CardNumber
	}
	o := LoyaltyObject{
		ID:            id,
		ClassID:       classID,
		State:         StateActive,
		AccountID:     c.CardNumber,
		AccountName:   c.MemberName,
		LoyaltyPoints: &LoyaltyPoints{Label: "Points", Balance: balance(c.Balance)},
		Barcode:       &Barcode{Type: "QR_CODE", Value: value, AlternateText: c.CardNumber},
	}
	if c.Tier != "" {
		o.SecondaryLoyaltyPoints = &LoyaltyPoints{Label: "Tier", Balance: LoyaltyPointsBalance{String: c.Tier}}
	}
	if len(c.Offers) > 0 {
		o.TextModulesData = append(o.TextModulesData, TextModuleData{ID: "offers", Header: "Your offers", Body: strings.Join(c.Offers, "\n")})
	}
	if len(c.Partners) > 0 {
		o.TextModulesData = append(o.TextModulesData, TextModuleData{ID: "partners", Header: "Earn and spend at", Body: strings.Join(c.Partners, "\n")})
	}
	if len(c.Expiring) > 0 {
		expiring := slices.SortedStableFunc(slices.Values(c.Expiring), func(a, b Expiry) int { return a.On.Compare(b.On) })
		lines := make([]string, len(expiring))
		for i, e := range expiring {
			lines[i] = fmt.Sprintf("%d points on %s", e.Points, e.On.Format("2 Jan 2006"))
		}
		o.TextModulesData = append(o.TextModulesData, TextModuleData{ID: "expiring", Header: "Points expiring", Body: strings.Join(lines, "\n")})
	}
	return o, nil
}

func balance(p coalition.Points) LoyaltyPointsBalance {
	if p >= math.MinInt32 && p <= math.MaxInt32 {
		n := int32(p)
		return LoyaltyPointsBalance{Int: &n}
	}
	return LoyaltyPointsBalance{String: fmt.Sprint(int64(p))}
}
