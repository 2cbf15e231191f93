package rpc

import (
	"bytes"
	"context"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/coalition-loyalty/coalition/coalition"
	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
	"github.com/coalition-loyalty/coalition/settlement/finance"
	"github.com/coalition-loyalty/coalition/settlement/payments"
)

// Finance is what the settlement service's finance operations need
// (package finance).
type Finance interface {
	Accounts(ctx context.Context, party string) ([]finance.BankAccount, error)
	ProposeAccount(ctx context.Context, by finance.Actor, a finance.BankAccount) (finance.BankAccount, error)
	DecideAccount(ctx context.Context, by finance.Actor, id uuid.UUID, confirm bool) (finance.BankAccount, error)
	MakeInstructions(ctx context.Context) ([]finance.Instruction, error)
	FilePayments(ctx context.Context, by finance.Actor, flt finance.InstructionFilter) (finance.PaymentFile, []finance.Held, error)
	PaymentFiles(ctx context.Context, limit int) ([]finance.PaymentFile, error)
	Unfiled(ctx context.Context) ([]finance.Held, error)
	PaymentFileData(ctx context.Context, id, format string) (finance.PaymentFile, []byte, error)
	ImportStatement(ctx context.Context, by finance.Actor, format string, data []byte) (finance.ImportResult, error)
	Reconcile(ctx context.Context, party string, asOf time.Time) (finance.Reconciliation, error)
	ResolveLine(ctx context.Context, by finance.Actor, id uuid.UUID, assignTo, note string) (finance.StatementLine, error)
	ProposeAdjustment(ctx context.Context, by finance.Actor, a finance.Adjustment) (finance.Adjustment, error)
	DecideAdjustment(ctx context.Context, by finance.Actor, id uuid.UUID, approve bool, note string) (finance.Adjustment, error)
	Adjustments(ctx context.Context, status string, limit int) ([]finance.Adjustment, error)
	Liability(ctx context.Context, from, to time.Time) (finance.LiabilityStatement, error)
	PartnerCode(ctx context.Context, id coalition.PartnerID) (string, error)
	Today(ctx context.Context) (time.Time, error)
}

// finance is the service's finance operations, or UNIMPLEMENTED on a
// server built without them.
func (s *settlementService) finance() (Finance, error) {
	if s.f == nil {
		return nil, status.Error(codes.Unimplemented, "finance operations are not served here")
	}
	return s.f, nil
}

// actor is the person calling, as finance records them.
func actor(ctx context.Context) finance.Actor {
	p, _ := PrincipalFrom(ctx)
	return finance.Actor{ID: p.Person, Name: p.PersonName}
}

func personPB(a *finance.Actor) *coalitionv1.Person {
	if a == nil {
		return nil
	}
	return &coalitionv1.Person{Id: a.ID, Name: a.Name}
}

func timePB(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

var frequencyPB = map[finance.Frequency]coalitionv1.PaymentFrequency{
	finance.Daily:   coalitionv1.PaymentFrequency_PAYMENT_FREQUENCY_DAILY,
	finance.Weekly:  coalitionv1.PaymentFrequency_PAYMENT_FREQUENCY_WEEKLY,
	finance.Monthly: coalitionv1.PaymentFrequency_PAYMENT_FREQUENCY_MONTHLY,
}

func accountPB(a finance.BankAccount) *coalitionv1.BankAccount {
	return &coalitionv1.BankAccount{Id: a.ID.String(), Party: a.Party, LegalName: a.LegalName, Iban: a.IBAN,
		AccountNumber: a.AccountNumber, Bic: a.BIC, Currency: a.Currency, PaymentFrequency: frequencyPB[a.Frequency],
		PaymentDays: int32(a.PaymentDays), Status: a.Status, ProposedBy: personPB(&a.ProposedBy),
		ProposedAt: timestamppb.New(a.ProposedAt), DecidedBy: personPB(a.DecidedBy), DecidedAt: timePB(a.DecidedAt)}
}

func (s *settlementService) ListBankAccounts(ctx context.Context, req *coalitionv1.ListBankAccountsRequest) (*coalitionv1.ListBankAccountsResponse, error) {
	f, err := s.finance()
	if err != nil {
		return nil, err
	}
	as, err := f.Accounts(ctx, req.GetParty())
	if err != nil {
		return nil, s.fail(ctx, "ListBankAccounts", err)
	}
	out := &coalitionv1.ListBankAccountsResponse{}
	for _, a := range as {
		out.Accounts = append(out.Accounts, accountPB(a))
	}
	return out, nil
}

func (s *settlementService) ProposeBankAccount(ctx context.Context, req *coalitionv1.ProposeBankAccountRequest) (*coalitionv1.ProposeBankAccountResponse, error) {
	f, err := s.finance()
	if err != nil {
		return nil, err
	}
	freq := finance.DefaultFrequency
	for k, v := range frequencyPB {
		if v == req.GetPaymentFrequency() {
			freq = k
		}
	}
	a, err := f.ProposeAccount(ctx, actor(ctx), finance.BankAccount{Party: req.GetParty(), LegalName: req.GetLegalName(),
		IBAN: req.GetIban(), AccountNumber: req.GetAccountNumber(), BIC: req.GetBic(), Currency: req.GetCurrency(),
		Frequency: freq, PaymentDays: int(req.GetPaymentDays())})
	if err != nil {
		return nil, s.fail(ctx, "ProposeBankAccount", err)
	}
	return &coalitionv1.ProposeBankAccountResponse{Account: accountPB(a)}, nil
}

func (s *settlementService) DecideBankAccount(ctx context.Context, req *coalitionv1.DecideBankAccountRequest) (*coalitionv1.DecideBankAccountResponse, error) {
	f, err := s.finance()
	if err != nil {
		return nil, err
	}
	a, err := f.DecideAccount(ctx, actor(ctx), uuid.MustParse(req.GetId()), req.GetConfirm())
	if err != nil {
		return nil, s.fail(ctx, "DecideBankAccount", err)
	}
	return &coalitionv1.DecideBankAccountResponse{Account: accountPB(a)}, nil
}

func instructionPB(in finance.Instruction) *coalitionv1.FinanceInstruction {
	return &coalitionv1.FinanceInstruction{EndToEndId: in.EndToEndID, Party: in.Party, Direction: in.Direction,
		AmountMinor: in.Minor, Currency: in.Currency, PeriodFrom: in.From.Format(time.DateOnly),
		PeriodTo: in.To.Format(time.DateOnly), DueDate: in.Due.Format(time.DateOnly),
		ReportsMinor: in.ReportsMinor, AdjustmentMinor: in.AdjustmentMinor, FiledIn: in.FiledIn}
}

func outcomePB(o finance.Outcome) *coalitionv1.FinanceInstruction {
	out := instructionPB(o.Instruction)
	out.Status, out.PaidMinor, out.OutstandingMinor, out.ExcessMinor = string(o.Status), o.PaidMinor, o.OutstandingMinor, o.ExcessMinor
	for _, l := range o.Lines {
		out.LineIds = append(out.LineIds, l.ID.String())
	}
	return out
}

func (s *settlementService) MakePaymentInstructions(ctx context.Context, _ *coalitionv1.MakePaymentInstructionsRequest) (*coalitionv1.MakePaymentInstructionsResponse, error) {
	f, err := s.finance()
	if err != nil {
		return nil, err
	}
	made, err := f.MakeInstructions(ctx)
	if err != nil {
		return nil, s.fail(ctx, "MakePaymentInstructions", err)
	}
	out := &coalitionv1.MakePaymentInstructionsResponse{}
	for _, in := range made {
		out.Made = append(out.Made, instructionPB(in))
	}
	return out, nil
}

// dates parses optional YYYY-MM-DD fields (their shape validated already),
// by field name: an empty one is the zero time; one that is no day of the
// calendar (2026-06-31) is refused, never taken for "no bound".
func dates(fields ...string) ([]time.Time, error) {
	out := make([]time.Time, len(fields)/2)
	for i := 0; i < len(fields); i += 2 {
		if fields[i+1] == "" {
			continue
		}
		d, err := time.Parse(time.DateOnly, fields[i+1])
		if err != nil {
			return nil, coalition.Errorf(coalition.Invalid, fields[i], "%q is not a day of the calendar", fields[i+1])
		}
		out[i/2] = d
	}
	return out, nil
}

func (s *settlementService) ListPaymentInstructions(ctx context.Context, req *coalitionv1.ListPaymentInstructionsRequest) (*coalitionv1.ListPaymentInstructionsResponse, error) {
	f, err := s.finance()
	if err != nil {
		return nil, err
	}
	ds, err := dates("due_from", req.GetDueFrom(), "due_to", req.GetDueTo())
	if err != nil {
		return nil, s.fail(ctx, "ListPaymentInstructions", err)
	}
	from, to := ds[0], ds[1]
	party := req.GetParty()
	if p, _ := PrincipalFrom(ctx); p.Role == RolePartner {
		own, err := f.PartnerCode(ctx, p.PartnerID)
		if err != nil {
			return nil, s.fail(ctx, "ListPaymentInstructions", err)
		}
		if party != "" && party != own {
			return nil, status.Error(codes.PermissionDenied, "a partner may read only its own payments")
		}
		party = own
	}
	today, err := f.Today(ctx)
	if err != nil {
		return nil, s.fail(ctx, "ListPaymentInstructions", err)
	}
	r, err := f.Reconcile(ctx, party, today)
	if err != nil {
		return nil, s.fail(ctx, "ListPaymentInstructions", err)
	}
	out := &coalitionv1.ListPaymentInstructionsResponse{}
	for _, o := range r.Outcomes {
		if (!from.IsZero() && o.Due.Before(from)) || (!to.IsZero() && o.Due.After(to)) {
			continue
		}
		out.Instructions = append(out.Instructions, outcomePB(o))
	}
	return out, nil
}

func paymentFilePB(p finance.PaymentFile) *coalitionv1.PaymentFileInfo {
	out := &coalitionv1.PaymentFileInfo{Id: p.ID, CreatedAt: timestamppb.New(p.CreatedAt), CreatedBy: personPB(&p.CreatedBy),
		Payments: int32(p.Payments), TotalMinor: p.TotalMinor, Currency: p.Currency}
	for _, in := range p.Included {
		out.EndToEndIds = append(out.EndToEndIds, in.EndToEndID)
	}
	return out
}

func heldPB(h finance.Held) *coalitionv1.HeldInstruction {
	return &coalitionv1.HeldInstruction{EndToEndId: h.Instruction.EndToEndID, Reason: h.Reason, Party: h.Instruction.Party,
		AmountMinor: h.Instruction.Minor}
}

func (s *settlementService) CreatePaymentFile(ctx context.Context, req *coalitionv1.CreatePaymentFileRequest) (*coalitionv1.CreatePaymentFileResponse, error) {
	f, err := s.finance()
	if err != nil {
		return nil, err
	}
	ds, err := dates("due_from", req.GetDueFrom(), "due_to", req.GetDueTo())
	if err != nil {
		return nil, s.fail(ctx, "CreatePaymentFile", err)
	}
	file, held, err := f.FilePayments(ctx, actor(ctx), finance.InstructionFilter{DueFrom: ds[0], DueTo: ds[1],
		EndToEndIDs: req.GetEndToEndIds()})
	if err != nil {
		return nil, s.fail(ctx, "CreatePaymentFile", err)
	}
	out := &coalitionv1.CreatePaymentFileResponse{File: paymentFilePB(file)}
	for _, h := range held {
		out.Held = append(out.Held, heldPB(h))
	}
	return out, nil
}

func (s *settlementService) ListPaymentFiles(ctx context.Context, req *coalitionv1.ListPaymentFilesRequest) (*coalitionv1.ListPaymentFilesResponse, error) {
	f, err := s.finance()
	if err != nil {
		return nil, err
	}
	n := int(req.GetPageSize())
	if n == 0 {
		n = 50
	}
	files, err := f.PaymentFiles(ctx, n)
	if err != nil {
		return nil, s.fail(ctx, "ListPaymentFiles", err)
	}
	unfiled, err := f.Unfiled(ctx)
	if err != nil {
		return nil, s.fail(ctx, "ListPaymentFiles", err)
	}
	out := &coalitionv1.ListPaymentFilesResponse{}
	for _, p := range files {
		out.Files = append(out.Files, paymentFilePB(p))
	}
	for _, h := range unfiled {
		out.Unfiled = append(out.Unfiled, heldPB(h))
	}
	return out, nil
}

func (s *settlementService) ExportPaymentFile(req *coalitionv1.ExportPaymentFileRequest, stream grpc.ServerStreamingServer[coalitionv1.ExportPaymentFileResponse]) error {
	ctx := stream.Context()
	f, err := s.finance()
	if err != nil {
		return err
	}
	format := finance.Pain001
	if req.GetFormat() == coalitionv1.PaymentFileFormat_PAYMENT_FILE_FORMAT_CSV {
		format = finance.CSV
	}
	_, data, err := f.PaymentFileData(ctx, req.GetFileId(), format)
	if err != nil {
		return s.fail(ctx, "ExportPaymentFile", err)
	}
	for len(data) > 0 {
		n := min(len(data), exportChunk)
		if err := stream.Send(&coalitionv1.ExportPaymentFileResponse{Data: data[:n]}); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

func (s *settlementService) ImportBankStatement(ctx context.Context, req *coalitionv1.ImportBankStatementRequest) (*coalitionv1.ImportBankStatementResponse, error) {
	f, err := s.finance()
	if err != nil {
		return nil, err
	}
	format := finance.Camt
	if req.GetFormat() == coalitionv1.StatementFormat_STATEMENT_FORMAT_CSV {
		format = finance.StatementCSV
	}
	res, err := f.ImportStatement(ctx, actor(ctx), format, bytes.Clone(req.GetContent()))
	if err != nil {
		return nil, s.fail(ctx, "ImportBankStatement", err)
	}
	return &coalitionv1.ImportBankStatementResponse{Lines: int32(res.Lines), Added: int32(res.Added), Duplicates: int32(res.Duplicates)}, nil
}

func statementLinePB(l finance.StatementLine) *coalitionv1.BankStatementLine {
	return &coalitionv1.BankStatementLine{Id: l.ID.String(), BookingDate: l.BookingDate.Format(time.DateOnly), AmountMinor: l.Minor,
		Currency: l.Currency, Direction: l.Direction, Reversal: l.Reversal, EndToEndId: l.EndToEndID, Reference: l.Reference,
		AssignedTo: l.AssignedTo, SetAside: l.SetAside, Note: l.Note, Reason: l.Reason}
}

func (s *settlementService) GetReconciliation(ctx context.Context, req *coalitionv1.GetReconciliationRequest) (*coalitionv1.GetReconciliationResponse, error) {
	f, err := s.finance()
	if err != nil {
		return nil, err
	}
	ds, err := dates("as_of", req.GetAsOf())
	if err != nil {
		return nil, s.fail(ctx, "GetReconciliation", err)
	}
	asOf := ds[0]
	if asOf.IsZero() {
		if asOf, err = f.Today(ctx); err != nil {
			return nil, s.fail(ctx, "GetReconciliation", err)
		}
	}
	r, err := f.Reconcile(ctx, "", asOf)
	if err != nil {
		return nil, s.fail(ctx, "GetReconciliation", err)
	}
	out := &coalitionv1.GetReconciliationResponse{AsOf: asOf.Format(time.DateOnly)}
	for _, o := range r.Outcomes {
		out.Instructions = append(out.Instructions, outcomePB(o))
	}
	for _, l := range r.Unmatched {
		out.Unmatched = append(out.Unmatched, statementLinePB(l))
	}
	for _, l := range r.SetAside {
		out.SetAside = append(out.SetAside, statementLinePB(l))
	}
	for _, a := range r.Ageing {
		side := "receivable"
		if a.Direction == payments.Debit {
			side = "payable"
		}
		out.Ageing = append(out.Ageing, &coalitionv1.AgeingRow{Party: a.Counterparty, Side: side, Currency: a.Currency,
			NotDueMinor: a.NotDue, Days_1To_30Minor: a.Days1To30, Days_31To_60Minor: a.Days31To60,
			Days_61To_90Minor: a.Days61To90, Over_90Minor: a.Over90})
	}
	return out, nil
}

func (s *settlementService) ResolveStatementLine(ctx context.Context, req *coalitionv1.ResolveStatementLineRequest) (*coalitionv1.ResolveStatementLineResponse, error) {
	f, err := s.finance()
	if err != nil {
		return nil, err
	}
	l, err := f.ResolveLine(ctx, actor(ctx), uuid.MustParse(req.GetLineId()), req.GetEndToEndId(), req.GetNote())
	if err != nil {
		return nil, s.fail(ctx, "ResolveStatementLine", err)
	}
	return &coalitionv1.ResolveStatementLineResponse{Line: statementLinePB(l)}, nil
}

func adjustmentPB(a finance.Adjustment) *coalitionv1.Adjustment {
	out := &coalitionv1.Adjustment{Id: a.ID.String(), Kind: a.Kind, Points: int64(a.Points), Funder: a.Funder,
		Payer: a.Payer, Payee: a.Payee, AmountMinor: a.Minor, Reason: a.Reason, Status: a.Status,
		ProposedBy: personPB(&a.ProposedBy), ProposedAt: timestamppb.New(a.ProposedAt), DecidedBy: personPB(a.DecidedBy),
		DecidedAt: timePB(a.DecidedAt), DecisionNote: a.DecisionNote, PayerInstruction: a.PayerInstruction,
		PayeeInstruction: a.PayeeInstruction}
	if a.Kind == finance.PointsAdjustment {
		out.MemberId = a.Member.String()
	}
	if !a.BusinessDate.IsZero() {
		out.BusinessDate = a.BusinessDate.Format(time.DateOnly)
	}
	if a.TransactionID != nil {
		out.TransactionId = a.TransactionID.String()
	}
	return out
}

func (s *settlementService) ProposeAdjustment(ctx context.Context, req *coalitionv1.ProposeAdjustmentRequest) (*coalitionv1.ProposeAdjustmentResponse, error) {
	f, err := s.finance()
	if err != nil {
		return nil, err
	}
	a := finance.Adjustment{Reason: req.GetReason()}
	if p := req.GetPoints(); p != nil {
		a.Kind, a.Member, a.Points, a.Funder = finance.PointsAdjustment, coalition.MemberID(uuid.MustParse(p.GetMemberId())),
			coalition.Points(p.GetPoints()), p.GetFunder()
	} else {
		m := req.GetMoney()
		ds, err := dates("money.business_date", m.GetBusinessDate())
		if err != nil {
			return nil, s.fail(ctx, "ProposeAdjustment", err)
		}
		a.Kind, a.Payer, a.Payee, a.Minor, a.BusinessDate = finance.MoneyAdjustment, m.GetPayer(), m.GetPayee(),
			m.GetAmountMinor(), ds[0]
	}
	a, err = f.ProposeAdjustment(ctx, actor(ctx), a)
	if err != nil {
		return nil, s.fail(ctx, "ProposeAdjustment", err)
	}
	return &coalitionv1.ProposeAdjustmentResponse{Adjustment: adjustmentPB(a)}, nil
}

func (s *settlementService) DecideAdjustment(ctx context.Context, req *coalitionv1.DecideAdjustmentRequest) (*coalitionv1.DecideAdjustmentResponse, error) {
	f, err := s.finance()
	if err != nil {
		return nil, err
	}
	a, err := f.DecideAdjustment(ctx, actor(ctx), uuid.MustParse(req.GetId()), req.GetApprove(), req.GetNote())
	if err != nil {
		return nil, s.fail(ctx, "DecideAdjustment", err)
	}
	return &coalitionv1.DecideAdjustmentResponse{Adjustment: adjustmentPB(a)}, nil
}

func (s *settlementService) ListAdjustments(ctx context.Context, req *coalitionv1.ListAdjustmentsRequest) (*coalitionv1.ListAdjustmentsResponse, error) {
	f, err := s.finance()
	if err != nil {
		return nil, err
	}
	n := int(req.GetPageSize())
	if n == 0 {
		n = 100
	}
	as, err := f.Adjustments(ctx, req.GetStatus(), n)
	if err != nil {
		return nil, s.fail(ctx, "ListAdjustments", err)
	}
	out := &coalitionv1.ListAdjustmentsResponse{}
	for _, a := range as {
		out.Adjustments = append(out.Adjustments, adjustmentPB(a))
	}
	return out, nil
}

func liabilityPB(l finance.IssuerLiability) *coalitionv1.IssuerLiability {
	out := &coalitionv1.IssuerLiability{Issuer: l.Issuer, Opening: int64(l.Opening), Issued: int64(l.Issued),
		Burned: int64(l.Burned), DebtPaid: int64(l.DebtPaid), ClawedBack: int64(l.ClawedBack), Expired: int64(l.Expired),
		Closing: int64(l.Closing), ClosingMinor: l.ClosingMinor, BreakageBp: l.BreakageBP}
	for _, n := range l.Ageing {
		out.Ageing = append(out.Ageing, int64(n))
	}
	return out
}

func (s *settlementService) GetLiability(ctx context.Context, req *coalitionv1.GetLiabilityRequest) (*coalitionv1.GetLiabilityResponse, error) {
	f, err := s.finance()
	if err != nil {
		return nil, err
	}
	ds, err := dates("from", req.GetFrom(), "to", req.GetTo())
	if err != nil {
		return nil, s.fail(ctx, "GetLiability", err)
	}
	from, to := ds[0], ds[1]
	switch {
	case req.GetMonth() != "" && (!from.IsZero() || !to.IsZero()):
		return nil, s.fail(ctx, "GetLiability", coalition.Errorf(coalition.Invalid, "month", "give a month, or from and to, not both"))
	case req.GetMonth() != "":
		m, err := time.Parse("2006-01", req.GetMonth())
		if err != nil {
			return nil, s.fail(ctx, "GetLiability", coalition.Errorf(coalition.Invalid, "month", "is not a month"))
		}
		from, to = m, m.AddDate(0, 1, -1)
	case from.IsZero() || to.IsZero():
		return nil, s.fail(ctx, "GetLiability", coalition.Errorf(coalition.Invalid, "month", "give a month (YYYY-MM), or from and to"))
	}
	st, err := f.Liability(ctx, from, to)
	if err != nil {
		return nil, s.fail(ctx, "GetLiability", err)
	}
	out := &coalitionv1.GetLiabilityResponse{From: st.From.Format(time.DateOnly), To: st.To.Format(time.DateOnly),
		Currency: st.Currency, PointValueMinor: st.PointValueMinor, Network: liabilityPB(st.Network),
		AgeingBuckets: finance.AgeingBuckets, Final: st.Final}
	for _, l := range st.Issuers {
		out.Issuers = append(out.Issuers, liabilityPB(l))
	}
	return out, nil
}
