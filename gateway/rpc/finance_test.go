package rpc_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// TestFinanceOperationsOverGRPC walks a cleared day through the finance
// operations as two finance staff and the partners would: instructions,
// banking details under four eyes, the payment file, the bank's statement,
// the reconciliation, an adjustment and the month's liability.
func TestFinanceOperationsOverGRPC(t *testing.T) {
	e := newEnv(t)
	day := e.clearDay() // the café owes the cinema 30.00
	clerk, second := e.as("role=finance staff=clerk"), e.as("role=finance staff=second")

	made, err := e.settle.MakePaymentInstructions(clerk, &pb.MakePaymentInstructionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	byParty := map[string]*pb.FinanceInstruction{}
	for _, in := range made.Made {
		if in.PeriodFrom != day {
			t.Fatalf("instruction for %s made while only %s is cleared: %v", in.PeriodFrom, day, in)
		}
		byParty[in.Party] = in
	}
	cafe, cinema := byParty["cafe"], byParty["cinema"]
	if cafe.GetDirection() != "collect" || cafe.GetAmountMinor() != 3000 || cinema.GetDirection() != "pay" ||
		cinema.GetAmountMinor() != 3000 || byParty["fuel"].GetDirection() != "none" {
		t.Fatalf("made %v", made.Made)
	}

	// A partner sees its own payments only.
	own, err := e.settle.ListPaymentInstructions(e.as("cafe"), &pb.ListPaymentInstructionsRequest{})
	if err != nil || len(own.Instructions) != 1 || own.Instructions[0].EndToEndId != cafe.EndToEndId || own.Instructions[0].Status != "open" {
		t.Fatalf("the café's payments: %v, %v", own, err)
	}
	_, err = e.settle.ListPaymentInstructions(e.as("cafe"), &pb.ListPaymentInstructionsRequest{Party: "cinema"})
	wantStatus(t, err, codes.PermissionDenied, "")

	// Banking details: refused when malformed, and in force only once a
	// second person confirms them.
	_, err = e.settle.ProposeBankAccount(clerk, &pb.ProposeBankAccountRequest{Party: "cinema", LegalName: "Cinema",
		Iban: "DE88370400440532013000", Currency: "RUB"})
	wantStatus(t, err, codes.InvalidArgument, "iban")
	for _, a := range []*pb.ProposeBankAccountRequest{
		{Party: "operator", LegalName: "Coalition Operator", Iban: "DE89370400440532013000", Bic: "COBADEFFXXX", Currency: "RUB"},
		{Party: "cinema", LegalName: "Cinema LLC", Iban: "NL91ABNA0417164300", Currency: "RUB",
			PaymentFrequency: pb.PaymentFrequency_PAYMENT_FREQUENCY_DAILY, PaymentDays: 2},
	} {
		p, err := e.settle.ProposeBankAccount(clerk, a)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.settle.DecideBankAccount(clerk, &pb.DecideBankAccountRequest{Id: p.Account.Id, Confirm: true})
		wantStatus(t, err, codes.PermissionDenied, "id")
		d, err := e.settle.DecideBankAccount(second, &pb.DecideBankAccountRequest{Id: p.Account.Id, Confirm: true})
		if err != nil || d.Account.Status != "confirmed" || d.Account.ProposedBy.Name != "clerk" || d.Account.DecidedBy.Name != "second" {
			t.Fatalf("confirmed: %v, %v", d, err)
		}
	}

	// A day that is not on the calendar is refused, not taken for "no
	// bound" (which would file every payment).
	_, err = e.settle.CreatePaymentFile(clerk, &pb.CreatePaymentFileRequest{DueTo: "2026-06-31"})
	wantStatus(t, err, codes.InvalidArgument, "due_to")
	// The payment file pays the cinema from the settlement account, once.
	made2, err := e.settle.CreatePaymentFile(clerk, &pb.CreatePaymentFileRequest{})
	if err != nil {
		t.Fatal(err)
	}
	included := made2.File.EndToEndIds
	_, err = e.settle.CreatePaymentFile(second, &pb.CreatePaymentFileRequest{})
	wantStatus(t, err, codes.FailedPrecondition, "")
	stream, err := e.settle.ExportPaymentFile(clerk, &pb.ExportPaymentFileRequest{FileId: made2.File.Id, Format: pb.PaymentFileFormat_PAYMENT_FILE_FORMAT_PAIN001})
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		file.Write(msg.Data)
	}
	if len(included) != 1 || included[0] != cinema.EndToEndId || made2.File.CreatedBy.GetName() != "clerk" ||
		!strings.Contains(file.String(), "<EndToEndId>"+cinema.EndToEndId+"</EndToEndId>") || !strings.Contains(file.String(), ">30.00<") {
		t.Fatalf("payment file carries %v:\n%s", included, file.String())
	}
	files, err := e.settle.ListPaymentFiles(clerk, &pb.ListPaymentFilesRequest{})
	if err != nil || len(files.Files) != 1 || len(files.Unfiled) != 0 {
		t.Fatalf("files: %v, %v", files, err)
	}

	// The bank's statement: the operator paid the cinema, the café paid
	// the operator.
	statement := fmt.Sprintf("booking_date,amount,currency,direction,end_to_end_id,reference\n"+
		"2026-03-12,30.00,RUB,D,%s,\n2026-03-12,30.00,RUB,C,%s,\n", cinema.EndToEndId, cafe.EndToEndId)
	imp, err := e.settle.ImportBankStatement(clerk, &pb.ImportBankStatementRequest{Format: pb.StatementFormat_STATEMENT_FORMAT_CSV,
		Content: []byte(statement)})
	if err != nil || imp.Added != 2 {
		t.Fatalf("import: %v, %v", imp, err)
	}
	_, err = e.settle.ImportBankStatement(clerk, &pb.ImportBankStatementRequest{Format: pb.StatementFormat_STATEMENT_FORMAT_CSV,
		Content: []byte("not,a,statement\n")})
	wantStatus(t, err, codes.InvalidArgument, "")
	rec, err := e.settle.GetReconciliation(clerk, &pb.GetReconciliationRequest{AsOf: "2026-03-20"})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range rec.Instructions {
		if in.Status != "paid" {
			t.Errorf("%s (%s) is %s", in.EndToEndId, in.Party, in.Status)
		}
	}
	if len(rec.Unmatched) != 0 || len(rec.Ageing) != 0 {
		t.Fatalf("unmatched %v, ageing %v", rec.Unmatched, rec.Ageing)
	}

	// A points adjustment, under four eyes.
	m := e.enroll("cafe")
	p, err := e.settle.ProposeAdjustment(clerk, &pb.ProposeAdjustmentRequest{Reason: "points lost offline",
		Adjustment: &pb.ProposeAdjustmentRequest_Points_{Points: &pb.ProposeAdjustmentRequest_Points{MemberId: m.Id, Points: 40, Funder: "cinema"}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.settle.DecideAdjustment(clerk, &pb.DecideAdjustmentRequest{Id: p.Adjustment.Id, Approve: true})
	wantStatus(t, err, codes.PermissionDenied, "id")
	e.wantBalance(m, 0, 0, 0, 0)
	a, err := e.settle.DecideAdjustment(second, &pb.DecideAdjustmentRequest{Id: p.Adjustment.Id, Approve: true, Note: "till log checked"})
	if err != nil || a.Adjustment.Status != "approved" || a.Adjustment.TransactionId == "" {
		t.Fatalf("approved: %v, %v", a, err)
	}
	_, err = e.settle.DecideAdjustment(second, &pb.DecideAdjustmentRequest{Id: p.Adjustment.Id, Approve: true})
	wantStatus(t, err, codes.FailedPrecondition, "id")
	e.wantBalance(m, 40, 0, 0, 0)
	_, err = e.settle.ProposeAdjustment(clerk, &pb.ProposeAdjustmentRequest{Reason: "x",
		Adjustment: &pb.ProposeAdjustmentRequest_Money_{Money: &pb.ProposeAdjustmentRequest_Money{Payer: "cafe", Payee: "cafe", AmountMinor: 1, BusinessDate: day}}})
	wantStatus(t, err, codes.InvalidArgument, "payee")

	// March's liability: the café issued 50 points, 30 were spent; then
	// the cinema's 40.
	l, err := e.settle.GetLiability(clerk, &pb.GetLiabilityRequest{Month: "2026-03"})
	if err != nil {
		t.Fatal(err)
	}
	if n := l.Network; n.Issued != 90 || n.Burned != 30 || n.Closing != 60 || n.Opening+n.Issued-n.Burned-n.DebtPaid-n.ClawedBack-n.Expired != n.Closing || l.Final {
		t.Fatalf("liability: %v", l)
	}
	_, err = e.settle.GetLiability(clerk, &pb.GetLiabilityRequest{})
	wantStatus(t, err, codes.InvalidArgument, "month")

	// Another partner's view of finance stays closed.
	_, err = e.settle.GetReconciliation(e.as("cafe"), &pb.GetReconciliationRequest{})
	wantStatus(t, err, codes.PermissionDenied, "")
}
