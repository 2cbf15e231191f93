package clearing_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
	"github.com/coalition-loyalty/coalition/settlement/netting"
)

// sampleReport has one of every part of a report, a self flow included.
func sampleReport() clearing.Report {
	return clearing.Report{
		BusinessDate: "2026-03-10", Currency: "RUB", PointValueMinor: 100,
		Partners: []clearing.Party{{ID: coalition.PartnerID(uuid.MustParse("00000000-0000-0000-0000-00000000000a")), Code: "cafe", Name: "Café"}},
		Flows: []clearing.Flow{
			{Issuer: "cafe", Redeemer: "cafe", Kind: clearing.KindBurn, Points: 5},
			{Issuer: "cafe", Redeemer: "fuel", Kind: clearing.KindDebt, Points: 2, Minor: 200},
		},
		Issued:      []clearing.Issued{{Partner: "cafe", Points: 50, ClawedBack: 10}},
		Breakage:    []clearing.Breakage{{Partner: "cafe", Points: 3, Minor: 300}},
		Fees:        []clearing.Fee{{Payer: "cafe", Kind: clearing.KindIssue, BP: 50, BaseMinor: 4000, Minor: 20}},
		Nets:        []clearing.Net{{Party: "cafe", Payable: 220, Net: -220}},
		Hub:         []netting.Payment{{From: "cafe", To: clearing.Operator, Minor: 220}},
		Direct:      []netting.Payment{{From: "cafe", To: "fuel", Minor: 200}},
		Liabilities: []clearing.Liability{{Partner: "cafe", Outstanding: 37}},
	}
}

// Stored reports are compared byte for byte with every recomputation, so
// the JSON of a report, the kinds of its flows and fees included, must not
// change shape.
func TestAReportsJSONKeepsItsShape(t *testing.T) {
	b, err := json.Marshal(sampleReport())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"business_date":"2026-03-10","currency":"RUB","point_value_minor":100,` +
		`"partners":[{"id":"00000000-0000-0000-0000-00000000000a","code":"cafe","name":"Café"}],` +
		`"flows":[{"issuer":"cafe","redeemer":"cafe","kind":"burn","points":5,"amount_minor":0},` +
		`{"issuer":"cafe","redeemer":"fuel","kind":"debt","points":2,"amount_minor":200}],` +
		`"issued":[{"partner":"cafe","points":50,"clawed_back":10}],` +
		`"breakage":[{"partner":"cafe","points":3,"amount_minor":300}],` +
		`"fees":[{"payer":"cafe","kind":"issue","basis_points":50,"base_minor":4000,"amount_minor":20}],` +
		`"nets":[{"party":"cafe","receivable_minor":0,"payable_minor":220,"net_minor":-220}],` +
		`"hub_instructions":[{"from":"cafe","to":"operator","amount_minor":220}],` +
		`"direct_instructions":[{"from":"cafe","to":"fuel","amount_minor":200}],` +
		`"liabilities":[{"partner":"cafe","outstanding_points":37}],` +
		`"reconciliation":{"redeemed_points":0,"redeemed_entries":0,"issued_points":0,"issued_entries":0,` +
		`"expired_points":0,"breakage_entries":0,"member_lot_change":0,"member_entries":0,"nets_sum":0}}`
	if string(b) != want {
		t.Fatalf("report JSON\n got %s\nwant %s", b, want)
	}
}

// The CSV export's section and kind columns are a documented format.
func TestTheCSVNamesEverySectionAndKind(t *testing.T) {
	var buf strings.Builder
	if err := sampleReport().WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	want := `section,line,payer,payee,kind,points,amount_minor,currency,basis_points,base_minor
flow,F1,cafe,cafe,self_burn,5,0,RUB,,
flow,F2,cafe,fuel,debt,2,200,RUB,,
fee,X1,cafe,operator,issue,,20,RUB,50,4000
net,N1,cafe,,net,,-220,RUB,,
hub,H1,cafe,operator,payment,,220,RUB,,
direct,D1,cafe,fuel,payment,,200,RUB,,
issued,I1,cafe,,issued,50,,,,
issued,I2,cafe,,clawed_back,10,,,,
breakage,B1,cafe,,expired,3,,RUB,,300
liability,L1,cafe,,outstanding,37,,,,
`
	if buf.String() != want {
		t.Fatalf("CSV\n got:\n%s\nwant:\n%s", buf.String(), want)
	}
}
