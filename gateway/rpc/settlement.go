package rpc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/coalition-loyalty/coalition/coalition"
	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
)

// Settlement is what the settlement service needs of the clearing.
type Settlement interface {
	Windows(ctx context.Context, limit int) ([]clearing.Window, error)
	Stored(ctx context.Context, date time.Time) ([]byte, error)
	DrillDown(ctx context.Context, date time.Time, line, partner string) (clearing.Line, []clearing.Posting, error)
}

type settlementService struct {
	coalitionv1.UnimplementedSettlementServiceServer
	s   Settlement
	f   Finance
	log *slog.Logger
}

func (s *settlementService) fail(ctx context.Context, method string, err error) error {
	return toStatus(ctx, s.log, method, err)
}

func (s *settlementService) ListWindows(ctx context.Context, req *coalitionv1.ListWindowsRequest) (*coalitionv1.ListWindowsResponse, error) {
	n := int(req.GetPageSize())
	if n == 0 {
		n = 31
	}
	ws, err := s.s.Windows(ctx, n)
	if err != nil {
		return nil, s.fail(ctx, "ListWindows", err)
	}
	out := &coalitionv1.ListWindowsResponse{}
	for _, w := range ws {
		pw := &coalitionv1.SettlementWindow{BusinessDate: w.BusinessDate.Format(time.DateOnly), Status: w.Status,
			Cleared: w.Cleared, OpenedAt: timestamppb.New(w.OpenedAt)}
		if w.ClosedAt != nil {
			pw.ClosedAt = timestamppb.New(*w.ClosedAt)
		}
		out.Windows = append(out.Windows, pw)
	}
	return out, nil
}

// report loads a stored report and, for a partner caller or a statement,
// narrows it to one partner. A partner may ask only for itself.
func (s *settlementService) report(ctx context.Context, day, partner string) (clearing.Report, []byte, error) {
	date, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return clearing.Report{}, nil, coalition.Errorf(coalition.Invalid, "business_date", "is not a date")
	}
	b, err := s.s.Stored(ctx, date)
	if err != nil {
		return clearing.Report{}, nil, err
	}
	r, err := clearing.Decode(b)
	if err != nil {
		return clearing.Report{}, nil, err
	}
	code, err := s.partnerScope(ctx, r, partner)
	if err != nil {
		return clearing.Report{}, nil, err
	}
	if code != "" {
		r = r.For(code)
	}
	return r, b, nil
}

// partnerScope is the partner code a caller's view is narrowed to: a
// partner always sees itself only; finance sees the partner it asks for, or
// everything.
func (s *settlementService) partnerScope(ctx context.Context, r clearing.Report, asked string) (string, error) {
	p, _ := PrincipalFrom(ctx)
	if p.Role != RolePartner {
		if asked != "" && !knownPartner(r, asked) {
			return "", coalition.Errorf(coalition.NotFound, "partner", "no partner %q in the report", asked)
		}
		return asked, nil
	}
	own := ""
	for _, party := range r.Partners {
		if party.ID == p.PartnerID {
			own = party.Code
		}
	}
	if own == "" || (asked != "" && asked != own) {
		return "", status.Error(codes.PermissionDenied, "a partner may read only its own statement")
	}
	return own, nil
}

func knownPartner(r clearing.Report, code string) bool {
	for _, p := range r.Partners {
		if p.Code == code {
			return true
		}
	}
	return false
}

// optional is a copy of an optional amount, of points or money, as an
// optional proto field.
func optional[N ~int64](p *N) *int64 {
	if p == nil {
		return nil
	}
	v := int64(*p)
	return &v
}

// sectionPB and lineKindPB are the report's vocabulary in the API: an enum
// value for each of clearing's sections and kinds, named after it.
var sectionPB = map[clearing.Section]coalitionv1.ReportSection{
	clearing.SectionFlow:      coalitionv1.ReportSection_REPORT_SECTION_FLOW,
	clearing.SectionFee:       coalitionv1.ReportSection_REPORT_SECTION_FEE,
	clearing.SectionNet:       coalitionv1.ReportSection_REPORT_SECTION_NET,
	clearing.SectionHub:       coalitionv1.ReportSection_REPORT_SECTION_HUB,
	clearing.SectionDirect:    coalitionv1.ReportSection_REPORT_SECTION_DIRECT,
	clearing.SectionIssued:    coalitionv1.ReportSection_REPORT_SECTION_ISSUED,
	clearing.SectionBreakage:  coalitionv1.ReportSection_REPORT_SECTION_BREAKAGE,
	clearing.SectionLiability: coalitionv1.ReportSection_REPORT_SECTION_LIABILITY,
}

var lineKindPB = map[clearing.Kind]coalitionv1.LineKind{
	clearing.KindBurn:        coalitionv1.LineKind_LINE_KIND_BURN,
	clearing.KindDebt:        coalitionv1.LineKind_LINE_KIND_DEBT,
	clearing.KindSelfBurn:    coalitionv1.LineKind_LINE_KIND_SELF_BURN,
	clearing.KindSelfDebt:    coalitionv1.LineKind_LINE_KIND_SELF_DEBT,
	clearing.KindInterchange: coalitionv1.LineKind_LINE_KIND_INTERCHANGE,
	clearing.KindIssue:       coalitionv1.LineKind_LINE_KIND_ISSUE,
	clearing.KindBreakage:    coalitionv1.LineKind_LINE_KIND_BREAKAGE,
	clearing.KindNet:         coalitionv1.LineKind_LINE_KIND_NET,
	clearing.KindPayment:     coalitionv1.LineKind_LINE_KIND_PAYMENT,
	clearing.KindIssued:      coalitionv1.LineKind_LINE_KIND_ISSUED,
	clearing.KindClawedBack:  coalitionv1.LineKind_LINE_KIND_CLAWED_BACK,
	clearing.KindExpired:     coalitionv1.LineKind_LINE_KIND_EXPIRED,
	clearing.KindOutstanding: coalitionv1.LineKind_LINE_KIND_OUTSTANDING,
}

func linePB(l clearing.Line) *coalitionv1.ReportLine {
	out := &coalitionv1.ReportLine{ReportSection: sectionPB[l.Section], LineKind: lineKindPB[l.Kind], Id: l.ID, Payer: l.Payer, Payee: l.Payee,
		Points: optional(l.Points), AmountMinor: optional(l.Minor), BasisPoints: optional(l.BP), BaseMinor: optional(l.BaseMinor)}
	//lint:ignore SA1019 deprecated for the enums, but v1's clients may read the strings: filled as long as v1 is served
	out.Section, out.Kind = string(l.Section), string(l.Kind)
	return out
}

func reportPB(r clearing.Report, stored []byte) *coalitionv1.SettlementReport {
	sum := sha256.Sum256(stored)
	out := &coalitionv1.SettlementReport{BusinessDate: r.BusinessDate, Currency: r.Currency, PointValueMinor: r.PointValueMinor,
		Sha256: hex.EncodeToString(sum[:])}
	for _, l := range r.Lines() {
		out.Lines = append(out.Lines, linePB(l))
	}
	for _, n := range r.Nets {
		out.Nets = append(out.Nets, &coalitionv1.NetPosition{Party: n.Party, ReceivableMinor: n.Receivable, PayableMinor: n.Payable, NetMinor: n.Net})
	}
	for _, p := range r.Hub {
		out.HubInstructions = append(out.HubInstructions, &coalitionv1.PaymentInstruction{From: p.From, To: p.To, AmountMinor: p.Minor})
	}
	for _, p := range r.Direct {
		out.DirectInstructions = append(out.DirectInstructions, &coalitionv1.PaymentInstruction{From: p.From, To: p.To, AmountMinor: p.Minor})
	}
	return out
}

func (s *settlementService) GetReport(ctx context.Context, req *coalitionv1.GetReportRequest) (*coalitionv1.GetReportResponse, error) {
	r, b, err := s.report(ctx, req.GetBusinessDate(), "")
	if err != nil {
		return nil, s.fail(ctx, "GetReport", err)
	}
	return &coalitionv1.GetReportResponse{Report: reportPB(r, b)}, nil
}

func (s *settlementService) GetPartnerStatement(ctx context.Context, req *coalitionv1.GetPartnerStatementRequest) (*coalitionv1.GetPartnerStatementResponse, error) {
	r, b, err := s.report(ctx, req.GetBusinessDate(), req.GetPartner())
	if err != nil {
		return nil, s.fail(ctx, "GetPartnerStatement", err)
	}
	return &coalitionv1.GetPartnerStatementResponse{Statement: reportPB(r, b)}, nil
}

// exportChunk bounds each streamed message of a CSV export.
const exportChunk = 32 << 10

func (s *settlementService) ExportReport(req *coalitionv1.ExportReportRequest, stream grpc.ServerStreamingServer[coalitionv1.ExportReportResponse]) error {
	ctx := stream.Context()
	r, _, err := s.report(ctx, req.GetBusinessDate(), "")
	if err != nil {
		return s.fail(ctx, "ExportReport", err)
	}
	var buf bytes.Buffer
	if err := r.WriteCSV(&buf); err != nil {
		return s.fail(ctx, "ExportReport", err)
	}
	for data := buf.Bytes(); len(data) > 0; {
		n := min(len(data), exportChunk)
		if err := stream.Send(&coalitionv1.ExportReportResponse{Data: data[:n]}); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

func (s *settlementService) DrillDown(ctx context.Context, req *coalitionv1.DrillDownRequest) (*coalitionv1.DrillDownResponse, error) {
	r, _, err := s.report(ctx, req.GetBusinessDate(), "")
	if err != nil {
		return nil, s.fail(ctx, "DrillDown", err)
	}
	scope := ""
	if p, _ := PrincipalFrom(ctx); p.Role == RolePartner && len(r.Partners) == 1 {
		scope = r.Partners[0].Code
	}
	date, _ := time.Parse(time.DateOnly, req.GetBusinessDate())
	line, posts, err := s.s.DrillDown(ctx, date, req.GetLine(), scope)
	if err != nil {
		return nil, s.fail(ctx, "DrillDown", err)
	}
	out := &coalitionv1.DrillDownResponse{Line: linePB(line)}
	for _, p := range posts {
		lp := &coalitionv1.LedgerPosting{Kind: p.Kind, Partner: p.Partner, OrderId: p.OrderID, Points: int64(p.Points), Note: p.Note}
		if p.TransactionID != uuid.Nil { // another partner's total has no transaction, member or time
			lp.TransactionId, lp.MemberId, lp.CreatedAt = p.TransactionID.String(), p.MemberID.String(), timestamppb.New(p.CreatedAt)
		}
		out.Postings = append(out.Postings, lp)
	}
	return out, nil
}
