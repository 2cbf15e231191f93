// Package clearing closes a business day and computes what partners owe each
// other for it: the gross issuer → redeemer matrix from lot consumptions,
// the operator's fees, breakage, every party's net position and the payment
// instructions that settle them. A window's report is computed once, stored
// as exact bytes, and never changes.
package clearing

import (
	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/settlement/netting"
)

// Operator names the coalition operator among the parties of a report.
const Operator = "operator"

// Section is the part of a report a line belongs to: the first column of the
// CSV export. The values are part of the export's format and never change;
// the API mirrors them as the ReportSection enum.
type Section string

const (
	// SectionFlow lines are points of one issuer used at one redeemer, and
	// the money the issuer pays for them.
	SectionFlow Section = "flow"
	// SectionFee lines are the operator's fees on a partner.
	SectionFee Section = "fee"
	// SectionNet lines are each party's net position: the flow and fee
	// lines summed per party (payee +, payer −).
	SectionNet Section = "net"
	// SectionHub lines are payments through the operator's settlement
	// account; SectionDirect lines are the fewest payments between parties.
	SectionHub    Section = "hub"
	SectionDirect Section = "direct"
	// SectionIssued, SectionBreakage and SectionLiability lines are
	// information in points: issued and clawed back, expired, outstanding.
	SectionIssued    Section = "issued"
	SectionBreakage  Section = "breakage"
	SectionLiability Section = "liability"
)

// Kind says what a line counts within its section: the fifth column of the
// CSV export. Flows and fees keep theirs in the stored report too, so like
// sections the values never change; the API mirrors them as the LineKind
// enum.
type Kind string

const (
	// Flows: points spent, or points that paid a member's debt to the
	// redeemer. A flow whose issuer is its redeemer moves no money and is
	// exported as self_burn or self_debt.
	KindBurn     Kind = "burn"
	KindDebt     Kind = "debt"
	KindSelfBurn Kind = "self_burn"
	KindSelfDebt Kind = "self_debt"
	// Fees: on the issuer's points spent at other partners, on the points
	// it issued (net of refunds), and on its points that expired.
	KindInterchange Kind = "interchange"
	KindIssue       Kind = "issue"
	KindBreakage    Kind = "breakage"
	// Net positions and payment instructions.
	KindNet     Kind = "net"
	KindPayment Kind = "payment"
	// Points: issued, clawed back by refunds, expired, outstanding.
	KindIssued      Kind = "issued"
	KindClawedBack  Kind = "clawed_back"
	KindExpired     Kind = "expired"
	KindOutstanding Kind = "outstanding"
)

// self is the kind a flow of this kind is exported as when its issuer is
// its redeemer.
func (k Kind) self() Kind {
	switch k {
	case KindBurn:
		return KindSelfBurn
	case KindDebt:
		return KindSelfDebt
	}
	return k
}

// Report is the clearing of one window. Every list is in a fixed order, so
// the same ledger always gives the same bytes.
type Report struct {
	BusinessDate    string `json:"business_date"`
	Currency        string `json:"currency"`
	PointValueMinor int64  `json:"point_value_minor"`
	// Partners of the coalition when the window was cleared, by code.
	Partners []Party `json:"partners"`
	// Flows are points issued by one partner and used at another (or the
	// same) in the window, net of refunds: KindBurn for points spent,
	// KindDebt for points that paid a member's debt to the redeemer. Money
	// moves only between different partners.
	Flows    []Flow     `json:"flows"`
	Issued   []Issued   `json:"issued"`
	Breakage []Breakage `json:"breakage"`
	Fees     []Fee      `json:"fees"`
	// Nets are each party's net position; they sum to exactly zero.
	Nets []Net `json:"nets"`
	// Hub settles every partner with the operator's settlement account;
	// Direct settles the nets with the fewest payments between parties.
	Hub    []netting.Payment `json:"hub_instructions"`
	Direct []netting.Payment `json:"direct_instructions"`
	// Liabilities are each partner's outstanding points (issued, not yet
	// spent or expired) at the end of the window.
	Liabilities    []Liability    `json:"liabilities"`
	Reconciliation Reconciliation `json:"reconciliation"`
}

type Party struct {
	ID   coalition.PartnerID `json:"id"`
	Code string              `json:"code"`
	Name string              `json:"name"`
}

type Flow struct {
	Issuer   string           `json:"issuer"`
	Redeemer string           `json:"redeemer"`
	Kind     Kind             `json:"kind"`
	Points   coalition.Points `json:"points"`
	// Minor is what the issuer pays the redeemer: Points × point value, or
	// zero when issuer and redeemer are the same partner.
	Minor int64 `json:"amount_minor"`
}

// Self reports a partner spending points it issued itself: no money moves.
func (f Flow) Self() bool { return f.Issuer == f.Redeemer }

// Issued is what a partner issued in the window and what refunds clawed back.
type Issued struct {
	Partner    string           `json:"partner"`
	Points     coalition.Points `json:"points"`
	ClawedBack coalition.Points `json:"clawed_back"`
}

// Breakage is a partner's points that expired unspent in the window.
type Breakage struct {
	Partner string           `json:"partner"`
	Points  coalition.Points `json:"points"`
	Minor   int64            `json:"amount_minor"`
}

// Fee is one of the operator's fees on a partner: Minor = BaseMinor × BP /
// 10000, truncated toward zero by coalition.MulDivTrunc (a fee never rounds
// up against the payer, and a refund of it never rounds up against the
// operator).
type Fee struct {
	Payer     string `json:"payer"`
	Kind      Kind   `json:"kind"` // KindInterchange, KindIssue or KindBreakage
	BP        int64  `json:"basis_points"`
	BaseMinor int64  `json:"base_minor"`
	Minor     int64  `json:"amount_minor"`
}

type Net struct {
	Party      string `json:"party"`
	Receivable int64  `json:"receivable_minor"`
	Payable    int64  `json:"payable_minor"`
	Net        int64  `json:"net_minor"`
}

type Liability struct {
	Partner     string           `json:"partner"`
	Outstanding coalition.Points `json:"outstanding_points"`
}

// Reconciliation is the report's totals checked against the ledger's entries
// for the window; clearing fails if any pair differs. Entries are amounts of
// points; NetsSum is money.
type Reconciliation struct {
	RedeemedPoints  coalition.Points `json:"redeemed_points"`
	RedeemedEntries coalition.Points `json:"redeemed_entries"`
	IssuedPoints    coalition.Points `json:"issued_points"`
	IssuedEntries   coalition.Points `json:"issued_entries"`
	ExpiredPoints   coalition.Points `json:"expired_points"`
	BreakageEntries coalition.Points `json:"breakage_entries"`
	MemberLotChange coalition.Points `json:"member_lot_change"`
	MemberEntries   coalition.Points `json:"member_entries"`
	NetsSum         int64            `json:"nets_sum"`
}
