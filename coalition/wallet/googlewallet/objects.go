package googlewallet

// The walletobjects v1 resources this package uses, with the REST API's
// field names. They are written out here rather than taken from
// google.golang.org/api/walletobjects/v1: that module brings the generic
// Google client stack (its own OAuth2 and transport packages, which read the
// wall clock) for the sake of a dozen structs.

// LoyaltyClass is the programme: one per coalition (or per co-branded
// programme), shared by every member's object.
type LoyaltyClass struct {
	ID                 string `json:"id"`
	IssuerName         string `json:"issuerName"`
	ProgramName        string `json:"programName"`
	ProgramLogo        *Image `json:"programLogo,omitempty"`
	HexBackgroundColor string `json:"hexBackgroundColor,omitempty"`
	// ReviewStatus must be "UNDER_REVIEW" or "DRAFT" on insert and patch;
	// Google sets the others.
	ReviewStatus     string `json:"reviewStatus,omitempty"`
	AccountIDLabel   string `json:"accountIdLabel,omitempty"`
	AccountNameLabel string `json:"accountNameLabel,omitempty"`
	CountryCode      string `json:"countryCode,omitempty"`
}

// LoyaltyObject is one member's card.
type LoyaltyObject struct {
	ID                     string           `json:"id"`
	ClassID                string           `json:"classId,omitempty"`
	State                  string           `json:"state,omitempty"`
	AccountID              string           `json:"accountId,omitempty"`
	AccountName            string           `json:"accountName,omitempty"`
	LoyaltyPoints          *LoyaltyPoints   `json:"loyaltyPoints,omitempty"`
	SecondaryLoyaltyPoints *LoyaltyPoints   `json:"secondaryLoyaltyPoints,omitempty"`
	Barcode                *Barcode         `json:"barcode,omitempty"`
	TextModulesData        []TextModuleData `json:"textModulesData,omitempty"`
	Messages               []Message        `json:"messages,omitempty"`
}

// Object states.
const (
	StateActive   = "ACTIVE"
	StateInactive = "INACTIVE"
	StateExpired  = "EXPIRED"
)

// LoyaltyPoints is a labelled balance.
type LoyaltyPoints struct {
	Label   string               `json:"label,omitempty"`
	Balance LoyaltyPointsBalance `json:"balance"`
}

// LoyaltyPointsBalance holds exactly one of its fields. Int is the API's
// 32-bit integer; a larger balance goes in String.
type LoyaltyPointsBalance struct {
	Int    *int32 `json:"int,omitempty"`
	String string `json:"string,omitempty"`
}

// Barcode is what the till scans.
type Barcode struct {
	Type          string `json:"type"`
	Value         string `json:"value"`
	AlternateText string `json:"alternateText,omitempty"`
}

// TextModuleData is a titled block of text on the card's details.
type TextModuleData struct {
	ID     string `json:"id,omitempty"`
	Header string `json:"header,omitempty"`
	Body   string `json:"body,omitempty"`
}

// Message is a note on the card's details; with MessageTypeTextAndNotify
// Google also notifies the member (at most three per card a day).
type Message struct {
	ID              string        `json:"id,omitempty"`
	Header          string        `json:"header,omitempty"`
	Body            string        `json:"body,omitempty"`
	MessageType     string        `json:"messageType,omitempty"`
	DisplayInterval *TimeInterval `json:"displayInterval,omitempty"`
}

// Message types.
const (
	MessageTypeText          = "TEXT"
	MessageTypeTextAndNotify = "TEXT_AND_NOTIFY"
)

// TimeInterval bounds when a message shows.
type TimeInterval struct {
	Start *DateTime `json:"start,omitempty"`
	End   *DateTime `json:"end,omitempty"`
}

// DateTime is an ISO 8601 date-time with offset.
type DateTime struct {
	Date string `json:"date"`
}

// Image is an image Google fetches from a public https URI.
type Image struct {
	SourceURI          ImageURI         `json:"sourceUri"`
	ContentDescription *LocalizedString `json:"contentDescription,omitempty"`
}

// ImageURI is where the image is.
type ImageURI struct {
	URI string `json:"uri"`
}

// LocalizedString is a text with its default language.
type LocalizedString struct {
	DefaultValue TranslatedString `json:"defaultValue"`
}

// TranslatedString is a text in one language.
type TranslatedString struct {
	Language string `json:"language"`
	Value    string `json:"value"`
}
