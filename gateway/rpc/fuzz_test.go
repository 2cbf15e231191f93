package rpc_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/gateway/server"
	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// The fuzz targets send random and mutated requests, as raw bytes, through
// the real server (its codec, interceptors and handlers) to a real ledger,
// and check what a client would see: never Internal or Unknown (a panic in
// a handler is recovered as Internal), never a hang, and for every refused
// request nothing written. Seeds are valid requests (below, and in
// testdata/fuzz/FuzzXxx); `go test` runs them, and scripts/fuzz.sh fuzzes
// each target for a while.
//
// Seeds name the fuzz coalition's member, hold and transactions by
// placeholders of the same length as the real values, which each input has
// substituted, so that mutations of a valid request reach the paths where
// it succeeds.
const (
	fuzzMember = "00000000-0000-4000-8000-00000000000a"
	fuzzHold   = "00000000-0000-4000-8000-00000000000b"
	fuzzEarn   = "00000000-0000-4000-8000-00000000000c"
	fuzzBurn   = "00000000-0000-4000-8000-00000000000d"
	fuzzCard   = "7700000000000000"
	fuzzPhone  = "+79165550101"
)

// fuzzEnv is a coalition with a member who has points, a hold, an earn and
// a burn, and the placeholders' real values.
type fuzzEnv struct {
	*served
	real [][2][]byte // placeholder, real value
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	s := serve(f, pgtest.NewDB(f), server.Config{})
	x := &fuzzEnv{served: s}
	ctx := as(f, "cafe")
	m, err := s.partner.EnrollMember(ctx, &pb.EnrollMemberRequest{IdempotencyKey: "fuzz-enroll", Phone: fuzzPhone})
	if err != nil {
		f.Fatal(err)
	}
	member := m.GetMember()
	earn, err := s.partner.Accrue(ctx, &pb.AccrueRequest{IdempotencyKey: "fuzz-earn", Member: byID(member), Purchase: rub(1_000_000), OrderId: "fuzz-earn"})
	if err != nil {
		f.Fatal(err)
	}
	hold, err := s.partner.Authorize(ctx, &pb.AuthorizeRequest{IdempotencyKey: "fuzz-hold", Member: byID(member), Points: 100, OrderId: "fuzz-hold",
		Ttl: durationpb.New(7 * 24 * time.Hour)})
	if err != nil {
		f.Fatal(err)
	}
	burn, err := s.partner.Redeem(ctx, &pb.RedeemRequest{IdempotencyKey: "fuzz-burn", Member: byID(member), Points: 100, OrderId: "fuzz-burn"})
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range [][2]string{
		{fuzzMember, member.GetId()}, {fuzzHold, hold.GetHold().GetId()}, {fuzzEarn, earn.GetTransaction().GetId()},
		{fuzzBurn, burn.GetTransaction().GetId()}, {fuzzCard, member.GetCardNumber()},
	} {
		if len(p[0]) != len(p[1]) {
			f.Fatalf("placeholder %s and its value %s differ in length", p[0], p[1])
		}
		x.real = append(x.real, [2][]byte{[]byte(p[0]), []byte(p[1])})
	}
	// Whatever the inputs did, the ledger's invariants hold.
	f.Cleanup(func() {
		breaches, err := s.Ledger().Check(context.Background(), time.Hour)
		if err != nil {
			f.Errorf("ledger check: %v", err)
		}
		for _, b := range breaches {
			f.Errorf("ledger check: %s: %s", b.Invariant, b.Detail)
		}
	})
	return x
}

// fuzzState is what any request may change; a refused one must change
// none of it (a business refusal the ledger records under its key, to
// refuse a replay the same way, is no posting).
type fuzzState struct {
	Transactions, Entries, Lots, Consumptions, Holds, Debts, Members, Keys, RuleSets int
	BankAccounts, StatementLines, Adjustments                                        int
	Remaining                                                                        int64
	HoldStates                                                                       string
}

func (x *fuzzEnv) state(t *testing.T) fuzzState {
	t.Helper()
	var s fuzzState
	err := x.pool.QueryRow(context.Background(), `
		SELECT (SELECT count(*) FROM transactions), (SELECT count(*) FROM entries), (SELECT count(*) FROM lots),
		       (SELECT count(*) FROM lot_consumptions), (SELECT count(*) FROM holds), (SELECT count(*) FROM member_debts),
		       (SELECT count(*) FROM members), (SELECT count(*) FROM idempotency_keys WHERE outcome = 'posted'), (SELECT count(*) FROM rule_sets),
		       (SELECT count(*) FROM bank_accounts), (SELECT count(*) FROM bank_statement_lines), (SELECT count(*) FROM adjustments),
		       (SELECT COALESCE(sum(remaining), 0) FROM lots),
		       (SELECT COALESCE(string_agg(status || '/' || captured_points, ',' ORDER BY id), '') FROM holds)`).Scan(
		&s.Transactions, &s.Entries, &s.Lots, &s.Consumptions, &s.Holds, &s.Debts, &s.Members, &s.Keys, &s.RuleSets,
		&s.BankAccounts, &s.StatementLines, &s.Adjustments, &s.Remaining, &s.HoldStates)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fuzzRPC fuzzes one method, called with the credential cred ("cafe",
// "role=operator"), from the seeds.
func fuzzRPC(f *testing.F, method, cred string, seeds ...proto.Message) {
	for _, m := range seeds {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	x := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, req []byte) {
		for _, r := range x.real {
			req = bytes.ReplaceAll(req, r[0], r[1])
		}
		before := x.state(t)
		// Well inside the fuzzing worker's own limit of 10 s an input, so
		// that a hung call is reported with its input.
		ctx, cancel := context.WithTimeout(as(t, cred), 5*time.Second)
		defer cancel()
		err := invokeRaw(ctx, x.conn, method, req)
		st := status.Convert(err)
		switch st.Code() {
		case codes.OK:
			return
		case codes.Internal, codes.Unknown, codes.DeadlineExceeded, codes.Unavailable:
			t.Fatalf("%s answered %s %q to %q", method, st.Code(), st.Message(), req)
		}
		if after := x.state(t); after != before {
			t.Fatalf("%s refused %q (%s %q) but wrote:\nbefore %+v\nafter  %+v", method, req, st.Code(), st.Message(), before, after)
		}
	})
}

func fuzzByID() *pb.MemberRef {
	return &pb.MemberRef{Ref: &pb.MemberRef_MemberId{MemberId: fuzzMember}}
}

func FuzzEnrollMember(f *testing.F) {
	fuzzRPC(f, "/coalition.v1.PartnerService/EnrollMember", "cafe",
		&pb.EnrollMemberRequest{IdempotencyKey: "e1"},
		&pb.EnrollMemberRequest{IdempotencyKey: "e2", Phone: "+79165550199"},
		&pb.EnrollMemberRequest{IdempotencyKey: "fuzz-enroll", Phone: fuzzPhone}, // a replay
		&pb.EnrollMemberRequest{IdempotencyKey: "e3", ReferralCode: "ABCDEFGH"})
}

func FuzzLookupMember(f *testing.F) {
	fuzzRPC(f, "/coalition.v1.PartnerService/LookupMember", "cafe",
		&pb.LookupMemberRequest{Member: fuzzByID()},
		&pb.LookupMemberRequest{Member: byCard(fuzzCard)},
		&pb.LookupMemberRequest{Member: byPhone(fuzzPhone)},
		&pb.LookupMemberRequest{Member: byQR("AAAAAAAAAAAAAAAAAAAA")})
}

func FuzzAccrue(f *testing.F) {
	fuzzRPC(f, "/coalition.v1.PartnerService/Accrue", "cafe",
		&pb.AccrueRequest{IdempotencyKey: "a1", Member: fuzzByID(), Purchase: rub(10_000), OrderId: "o1"},
		&pb.AccrueRequest{IdempotencyKey: "a2", Member: byCard(fuzzCard), Purchase: rub(123_456), OrderId: "o2", Category: "coffee"},
		&pb.AccrueRequest{IdempotencyKey: "a3", Member: byPhone(fuzzPhone), Purchase: &pb.Money{Minor: 1_000_000_000_000, Currency: "RUB"}, OrderId: "o3"},
		&pb.AccrueRequest{IdempotencyKey: "fuzz-earn", Member: fuzzByID(), Purchase: rub(1_000_000), OrderId: "fuzz-earn"})
}

func FuzzAccrueBatch(f *testing.F) {
	line := func(key string, ref *pb.MemberRef, minor int64) *pb.AccrueRequest {
		return &pb.AccrueRequest{IdempotencyKey: key, Member: ref, Purchase: rub(minor), OrderId: key}
	}
	fuzzRPC(f, "/coalition.v1.PartnerService/AccrueBatch", "cafe",
		&pb.AccrueBatchRequest{Accruals: []*pb.AccrueRequest{line("b1", fuzzByID(), 10_000), line("b2", byCard(fuzzCard), 20_000)}},
		&pb.AccrueBatchRequest{Accruals: []*pb.AccrueRequest{line("b3", byPhone(fuzzPhone), 1), line("b3", byPhone(fuzzPhone), 1)}},
		&pb.AccrueBatchRequest{Accruals: []*pb.AccrueRequest{line("fuzz-earn", fuzzByID(), 1_000_000), line("b4", byQR("AAAAAAAAAAAAAAAAAAAA"), 5)}})
}

func FuzzAuthorize(f *testing.F) {
	fuzzRPC(f, "/coalition.v1.PartnerService/Authorize", "cafe",
		&pb.AuthorizeRequest{IdempotencyKey: "h1", Member: fuzzByID(), Points: 10, OrderId: "o1"},
		&pb.AuthorizeRequest{IdempotencyKey: "h2", Member: byCard(fuzzCard), Points: 1, OrderId: "o2", Ttl: durationpb.New(time.Minute)},
		&pb.AuthorizeRequest{IdempotencyKey: "h3", Member: fuzzByID(), Points: 1, OrderId: "o3", Ttl: &durationpb.Duration{Seconds: 60, Nanos: 500}},
		&pb.AuthorizeRequest{IdempotencyKey: "h4", Member: byPhone(fuzzPhone), Points: 1_000_000_000_000, OrderId: "o4"})
}

func FuzzCapture(f *testing.F) {
	fuzzRPC(f, "/coalition.v1.PartnerService/Capture", "cafe",
		&pb.CaptureRequest{IdempotencyKey: "c1", HoldId: fuzzHold},
		&pb.CaptureRequest{IdempotencyKey: "c2", HoldId: fuzzHold, Points: proto.Int64(1)},
		&pb.CaptureRequest{IdempotencyKey: "c3", HoldId: fuzzHold, Points: proto.Int64(1_000_000_000_000)})
}

func FuzzVoid(f *testing.F) {
	fuzzRPC(f, "/coalition.v1.PartnerService/Void", "cafe",
		&pb.VoidRequest{IdempotencyKey: "v1", HoldId: fuzzHold},
		&pb.VoidRequest{IdempotencyKey: "v2", HoldId: fuzzBurn})
}

func FuzzRedeem(f *testing.F) {
	fuzzRPC(f, "/coalition.v1.PartnerService/Redeem", "cafe",
		&pb.RedeemRequest{IdempotencyKey: "r1", Member: fuzzByID(), Points: 1, OrderId: "o1"},
		&pb.RedeemRequest{IdempotencyKey: "r2", Member: byCard(fuzzCard), Points: 100, OrderId: "o2"},
		&pb.RedeemRequest{IdempotencyKey: "r3", Member: byPhone(fuzzPhone), Points: 1_000_000_000_000, OrderId: "o3"})
}

func FuzzRefund(f *testing.F) {
	fuzzRPC(f, "/coalition.v1.PartnerService/Refund", "cafe",
		&pb.RefundRequest{IdempotencyKey: "f1", TransactionId: fuzzEarn, Amount: &pb.RefundRequest_Purchase{Purchase: rub(1_000)}},
		&pb.RefundRequest{IdempotencyKey: "f2", TransactionId: fuzzBurn, Amount: &pb.RefundRequest_Points{Points: 1}},
		&pb.RefundRequest{IdempotencyKey: "f3", TransactionId: fuzzEarn, Amount: &pb.RefundRequest_Points{Points: 5}},
		&pb.RefundRequest{IdempotencyKey: "f4", TransactionId: fuzzBurn, Amount: &pb.RefundRequest_Purchase{Purchase: rub(1_000_000_000_000)}})
}

func FuzzGetBalance(f *testing.F) {
	fuzzRPC(f, "/coalition.v1.PartnerService/GetBalance", "cafe",
		&pb.GetBalanceRequest{Member: fuzzByID()},
		&pb.GetBalanceRequest{Member: byCard(fuzzCard)},
		&pb.GetBalanceRequest{Member: byPhone(fuzzPhone)})
}

func FuzzListHistory(f *testing.F) {
	fuzzRPC(f, "/coalition.v1.PartnerService/ListHistory", "cafe",
		&pb.ListHistoryRequest{Member: fuzzByID()},
		&pb.ListHistoryRequest{Member: byCard(fuzzCard), PageSize: 1},
		&pb.ListHistoryRequest{Member: fuzzByID(), PageSize: 200, PageToken: "eyJ0IjoiMjAyNi0wMy0xMFQwOTowMDowMFoifQ"})
}

// fuzzRuleSets are rule sets with one of everything, effective after the
// fuzz coalition's clock, for PutRules and ValidateRules.
func fuzzRuleSets() []*pb.RuleSet {
	from := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(start.Add(d)) }
	return []*pb.RuleSet{
		{Note: "spring"},
		{EffectiveFrom: from(time.Hour), Note: "everything",
			Partners: []*pb.PartnerRules{
				{Partner: "cafe", RateBp: proto.Int64(700), Categories: []*pb.CategoryRate{{Category: "coffee", RateBp: 1_000}},
					MinPurchaseMinor: 10_000, CapPerPurchase: 500, CapPerMemberDay: 800, WelcomePoints: 100},
				{Partner: "cinema", Steps: []*pb.Step{{FromMinor: 100_000, RateBp: 400}, {FromMinor: 300_000, RateBp: 600}}},
				{Partner: "fuel", PointsPer: &pb.PointsPer{Points: 1, MoneyMinor: 5_000}},
			},
			Tiers: &pb.Tiers{PeriodDays: 365, Levels: []*pb.Tier{
				{Code: "silver", Name: "Silver", ThresholdMinor: 1_000_000, MultiplierBp: 12_500},
				{Code: "gold", Name: "Gold", ThresholdMinor: 5_000_000, MultiplierBp: 15_000},
			}},
			Promotions: []*pb.Promotion{
				{Code: "happy-hours", Name: "Happy hours", Starts: from(time.Hour), Ends: from(30 * 24 * time.Hour),
					Weekdays: []string{"tue", "wed"}, FromHour: 17, ToHour: 19, Partners: []string{"cafe"}, MultiplierBp: 10_000, FundedBy: "partner"},
				{Code: "dinner-and-a-movie", Name: "Dinner and a movie", Starts: from(time.Hour), Ends: from(365 * 24 * time.Hour),
					Partners: []string{"cafe"}, Categories: []string{"dinner"}, BonusPoints: 50, FundedBy: "cinema", UnlockAt: "cinema", BudgetPoints: 10_000},
				{Code: "gold-fuel", Name: "Gold at the pump", Starts: from(time.Hour), Ends: &timestamppb.Timestamp{Seconds: 253402300799, Nanos: 999_999_999},
					Partners: []string{"fuel"}, Tiers: []string{"gold"}, MultiplierBp: 5_000, FundedBy: "operator"},
			},
			Referral: &pb.Referral{ReferrerPoints: 200, NewMemberPoints: 100, MinPurchaseMinor: 50_000}},
	}
}

func FuzzPutRules(f *testing.F) {
	var seeds []proto.Message
	for _, rs := range fuzzRuleSets() {
		seeds = append(seeds, &pb.PutRulesRequest{RuleSet: rs})
	}
	fuzzRPC(f, "/coalition.v1.AdminService/PutRules", "role=operator", seeds...)
}

func FuzzValidateRules(f *testing.F) {
	var seeds []proto.Message
	for _, rs := range fuzzRuleSets() {
		seeds = append(seeds, &pb.ValidateRulesRequest{RuleSet: rs})
	}
	fuzzRPC(f, "/coalition.v1.AdminService/ValidateRules", "role=operator", seeds...)
}

func FuzzProposeBankAccount(f *testing.F) {
	fuzzRPC(f, "/coalition.v1.SettlementService/ProposeBankAccount", "role=finance",
		&pb.ProposeBankAccountRequest{Party: "cafe", LegalName: "Cafe GmbH", Iban: "DE89 3704 0044 0532 0130 00", Bic: "COBADEFFXXX",
			Currency: "EUR", PaymentFrequency: pb.PaymentFrequency_PAYMENT_FREQUENCY_WEEKLY, PaymentDays: 3},
		&pb.ProposeBankAccountRequest{Party: "operator", LegalName: "Operator", AccountNumber: "12345678", Bic: "CHASUS33",
			Currency: "USD"})
}

func FuzzImportBankStatement(f *testing.F) {
	fuzzRPC(f, "/coalition.v1.SettlementService/ImportBankStatement", "role=finance",
		&pb.ImportBankStatementRequest{Format: pb.StatementFormat_STATEMENT_FORMAT_CSV, Content: []byte(
			"booking_date,amount,currency,direction,end_to_end_id,reference\n2026-03-13,12.34,EUR,C,CO-20260310-CAFE-OPERATOR,\n")},
		&pb.ImportBankStatementRequest{Format: pb.StatementFormat_STATEMENT_FORMAT_CAMT, Content: []byte(
			`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>N1</MsgId>` +
				`<CreDtTm>2026-03-13T18:00:00Z</CreDtTm></GrpHdr><Ntfctn><Id>N1-1</Id><Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct>` +
				`<Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-03-13</Dt></BookgDt>` +
				`<AcctSvcrRef>B1</AcctSvcrRef><NtryDtls><TxDtls><Refs><EndToEndId>X</EndToEndId></Refs></TxDtls></NtryDtls></Ntry>` +
				`</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>`)})
}

func FuzzProposeAdjustment(f *testing.F) {
	fuzzRPC(f, "/coalition.v1.SettlementService/ProposeAdjustment", "role=finance",
		&pb.ProposeAdjustmentRequest{Reason: "points lost offline", Adjustment: &pb.ProposeAdjustmentRequest_Points_{
			Points: &pb.ProposeAdjustmentRequest_Points{MemberId: fuzzMember, Points: 50, Funder: "cafe"}}},
		&pb.ProposeAdjustmentRequest{Reason: "billed twice", Adjustment: &pb.ProposeAdjustmentRequest_Money_{
			Money: &pb.ProposeAdjustmentRequest_Money{Payer: "cafe", Payee: "fuel", AmountMinor: 100, BusinessDate: "2026-03-10"}}})
}
