package rpc

import (
	"context"
	"log/slog"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/phone"
	"github.com/coalition-loyalty/coalition/coalition/rules"
	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// Ledger is what the partner service needs of the ledger.
type Ledger interface {
	Enroll(ctx context.Context, partner coalition.PartnerID, e ledger.Enrollment) (ledger.Member, error)
	Lookup(ctx context.Context, partner coalition.PartnerID, ref ledger.MemberRef) (ledger.Member, error)
	Accrue(ctx context.Context, partner coalition.PartnerID, a ledger.Accrual) (ledger.AccrueResult, error)
	AccrueAll(ctx context.Context, partner coalition.PartnerID, as []ledger.Accrual) ([]ledger.AccrueResult, []error)
	Authorize(ctx context.Context, partner coalition.PartnerID, a ledger.Authorization) (ledger.Hold, error)
	Capture(ctx context.Context, partner coalition.PartnerID, c ledger.Capture) (ledger.CaptureResult, error)
	Void(ctx context.Context, partner coalition.PartnerID, v ledger.Void) (ledger.Hold, error)
	RedeemWithCoupon(ctx context.Context, partner coalition.PartnerID, r ledger.Redemption) (ledger.RedeemResult, error)
	Refund(ctx context.Context, partner coalition.PartnerID, r ledger.Refund) (ledger.RefundResult, error)
	Balance(ctx context.Context, partner coalition.PartnerID, ref ledger.MemberRef) (ledger.Balance, error)
	History(ctx context.Context, partner coalition.PartnerID, ref ledger.MemberRef, pageSize int, pageToken string) ([]ledger.Transaction, string, error)
}

// partnerService adapts PartnerService to the ledger: it converts messages
// to domain values and back, and takes the partner from the caller's
// credentials. Requests arrive already validated.
type partnerService struct {
	coalitionv1.UnimplementedPartnerServiceServer
	l     Ledger
	links MemberLinks
	// publicURL is where members open the pages (member links point there).
	publicURL string
	log       *slog.Logger
}

// caller returns the authenticated partner; the auth interceptor guarantees
// there is one for every PartnerService method.
func caller(ctx context.Context) coalition.PartnerID {
	p, _ := PrincipalFrom(ctx)
	return p.PartnerID
}

func (s *partnerService) fail(ctx context.Context, method string, err error) error {
	return toStatus(ctx, s.log, method, err)
}

func memberRef(r *coalitionv1.MemberRef) ledger.MemberRef {
	switch v := r.GetRef().(type) {
	case *coalitionv1.MemberRef_MemberId:
		return ledger.MemberRef{ID: coalition.MemberID(uuid.MustParse(v.MemberId))} // validated as a UUID
	case *coalitionv1.MemberRef_CardNumber:
		return ledger.MemberRef{CardNumber: v.CardNumber}
	case *coalitionv1.MemberRef_Phone:
		return ledger.MemberRef{Phone: v.Phone}
	case *coalitionv1.MemberRef_QrToken:
		return ledger.MemberRef{QRToken: v.QrToken}
	}
	return ledger.MemberRef{}
}

func money(m *coalitionv1.Money) coalition.Money {
	return coalition.Money{Minor: m.GetMinor(), Currency: m.GetCurrency()}
}

func memberPB(m ledger.Member) *coalitionv1.Member {
	return &coalitionv1.Member{
		Id: m.ID.String(), CardNumber: m.CardNumber, QrToken: m.QRToken, ReferralCode: m.ReferralCode,
		PhoneMasked: phone.Mask(m.PhoneLast2), HomePartnerId: m.HomePartnerID.String(),
		EnrolledAt: timestamppb.New(m.EnrolledAt),
	}
}

var kindPB = map[ledger.Kind]coalitionv1.TransactionKind{
	ledger.KindEarn:       coalitionv1.TransactionKind_TRANSACTION_KIND_EARN,
	ledger.KindBurn:       coalitionv1.TransactionKind_TRANSACTION_KIND_BURN,
	ledger.KindCapture:    coalitionv1.TransactionKind_TRANSACTION_KIND_CAPTURE,
	ledger.KindEarnRefund: coalitionv1.TransactionKind_TRANSACTION_KIND_EARN_REFUND,
	ledger.KindBurnRefund: coalitionv1.TransactionKind_TRANSACTION_KIND_BURN_REFUND,
	ledger.KindExpire:     coalitionv1.TransactionKind_TRANSACTION_KIND_EXPIRE,
	ledger.KindBonus:      coalitionv1.TransactionKind_TRANSACTION_KIND_BONUS,
}

func transactionPB(t ledger.Transaction) *coalitionv1.Transaction {
	out := &coalitionv1.Transaction{
		Id: t.ID.String(), Kind: kindPB[t.Kind], PartnerId: t.PartnerID.String(), MemberId: t.MemberID.String(),
		Points: int64(t.Points), OrderId: t.OrderID, BusinessDate: t.BusinessDate, CreatedAt: timestamppb.New(t.CreatedAt),
	}
	if t.Amount != nil {
		out.Amount = &coalitionv1.Money{Minor: t.Amount.Minor, Currency: t.Amount.Currency}
	}
	if t.OriginalID != nil {
		out.OriginalTransactionId = t.OriginalID.String()
	}
	if t.HoldID != nil {
		out.HoldId = t.HoldID.String()
	}
	out.RuleVersion = t.RuleVersion
	for _, line := range t.Lines {
		out.Breakdown = append(out.Breakdown, earnLinePB(line))
	}
	return out
}

func earnLinePB(line rules.Line) *coalitionv1.EarnLine {
	return &coalitionv1.EarnLine{Rule: line.Rule, Description: line.Description, Points: int64(line.Points),
		Ref: line.Ref, Funder: line.Funder, UnlockAt: line.UnlockAt}
}

var holdStatusPB = map[ledger.HoldStatus]coalitionv1.HoldStatus{
	ledger.HoldActive:   coalitionv1.HoldStatus_HOLD_STATUS_ACTIVE,
	ledger.HoldCaptured: coalitionv1.HoldStatus_HOLD_STATUS_CAPTURED,
	ledger.HoldVoided:   coalitionv1.HoldStatus_HOLD_STATUS_VOIDED,
	ledger.HoldExpired:  coalitionv1.HoldStatus_HOLD_STATUS_EXPIRED,
}

func holdPB(h ledger.Hold) *coalitionv1.Hold {
	return &coalitionv1.Hold{
		Id: h.ID.String(), MemberId: h.MemberID.String(), PartnerId: h.PartnerID.String(), Points: int64(h.Points),
		Status: holdStatusPB[h.Status], CapturedPoints: int64(h.CapturedPoints), OrderId: h.OrderID,
		ExpiresAt: timestamppb.New(h.ExpiresAt), CreatedAt: timestamppb.New(h.CreatedAt),
	}
}

func (s *partnerService) EnrollMember(ctx context.Context, req *coalitionv1.EnrollMemberRequest) (*coalitionv1.EnrollMemberResponse, error) {
	m, err := s.l.Enroll(ctx, caller(ctx), ledger.Enrollment{
		IdempotencyKey: req.GetIdempotencyKey(), Phone: req.GetPhone(), ReferralCode: req.GetReferralCode(),
	})
	if err != nil {
		return nil, s.fail(ctx, "EnrollMember", err)
	}
	return &coalitionv1.EnrollMemberResponse{Member: memberPB(m), WelcomePoints: int64(m.WelcomePoints)}, nil
}

func (s *partnerService) LookupMember(ctx context.Context, req *coalitionv1.LookupMemberRequest) (*coalitionv1.LookupMemberResponse, error) {
	m, err := s.l.Lookup(ctx, caller(ctx), memberRef(req.GetMember()))
	if err != nil {
		return nil, s.fail(ctx, "LookupMember", err)
	}
	return &coalitionv1.LookupMemberResponse{Member: memberPB(m)}, nil
}

func (s *partnerService) Accrue(ctx context.Context, req *coalitionv1.AccrueRequest) (*coalitionv1.AccrueResponse, error) {
	r, err := s.l.Accrue(ctx, caller(ctx), accrual(req))
	if err != nil {
		return nil, s.fail(ctx, "Accrue", err)
	}
	return accrueResponse(r), nil
}

// AccrueBatch posts the lines through the ledger's lanes as one upload;
// each line's answer is what Accrue would have said.
func (s *partnerService) AccrueBatch(ctx context.Context, req *coalitionv1.AccrueBatchRequest) (*coalitionv1.AccrueBatchResponse, error) {
	lines := make([]ledger.Accrual, len(req.GetAccruals()))
	for i, line := range req.GetAccruals() {
		lines[i] = accrual(line)
	}
	res, errs := s.l.AccrueAll(ctx, caller(ctx), lines)
	out := &coalitionv1.AccrueBatchResponse{Results: make([]*coalitionv1.AccrueBatchResult, len(lines))}
	for i := range lines {
		if errs[i] == nil {
			out.Results[i] = &coalitionv1.AccrueBatchResult{Outcome: &coalitionv1.AccrueBatchResult_Accrued{Accrued: accrueResponse(res[i])}}
			continue
		}
		st, _ := status.FromError(s.fail(ctx, "AccrueBatch", errs[i]))
		le := &coalitionv1.LineError{Code: code.Code_name[int32(st.Code())], Message: st.Message()}
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
				le.Field = br.GetFieldViolations()[0].GetField()
			}
		}
		out.Results[i] = &coalitionv1.AccrueBatchResult{Outcome: &coalitionv1.AccrueBatchResult_Error{Error: le}}
	}
	return out, nil
}

func accrual(req *coalitionv1.AccrueRequest) ledger.Accrual {
	return ledger.Accrual{
		IdempotencyKey: req.GetIdempotencyKey(), Member: memberRef(req.GetMember()), Purchase: money(req.GetPurchase()),
		OrderID: req.GetOrderId(), Category: req.GetCategory(), CouponCode: req.GetCouponCode(),
	}
}

func accrueResponse(r ledger.AccrueResult) *coalitionv1.AccrueResponse {
	out := &coalitionv1.AccrueResponse{
		Transaction: transactionPB(r.Transaction), Points: int64(r.Earning.Total),
		SpendableFrom: timestamppb.New(r.SpendableFrom), ExpiresAt: timestamppb.New(r.ExpiresAt),
		RuleVersion: r.Earning.Version, Tier: r.Earning.Tier, TierUpgraded: r.Earning.Upgraded, UnlockedPoints: int64(r.Unlocked),
	}
	for _, line := range r.Earning.Lines {
		out.Breakdown = append(out.Breakdown, earnLinePB(line))
	}
	for _, b := range r.Bonuses {
		out.Bonuses = append(out.Bonuses, transactionPB(b))
	}
	return out
}

func (s *partnerService) Authorize(ctx context.Context, req *coalitionv1.AuthorizeRequest) (*coalitionv1.AuthorizeResponse, error) {
	h, err := s.l.Authorize(ctx, caller(ctx), ledger.Authorization{
		IdempotencyKey: req.GetIdempotencyKey(), Member: memberRef(req.GetMember()), Points: coalition.Points(req.GetPoints()),
		OrderID: req.GetOrderId(), TTL: req.GetTtl().AsDuration(),
	})
	if err != nil {
		return nil, s.fail(ctx, "Authorize", err)
	}
	return &coalitionv1.AuthorizeResponse{Hold: holdPB(h)}, nil
}

func (s *partnerService) Capture(ctx context.Context, req *coalitionv1.CaptureRequest) (*coalitionv1.CaptureResponse, error) {
	r, err := s.l.Capture(ctx, caller(ctx), ledger.Capture{
		IdempotencyKey: req.GetIdempotencyKey(), HoldID: uuid.MustParse(req.GetHoldId()), Points: (*coalition.Points)(req.Points),
	})
	if err != nil {
		return nil, s.fail(ctx, "Capture", err)
	}
	return &coalitionv1.CaptureResponse{Transaction: transactionPB(r.Transaction), Hold: holdPB(r.Hold)}, nil
}

func (s *partnerService) Void(ctx context.Context, req *coalitionv1.VoidRequest) (*coalitionv1.VoidResponse, error) {
	h, err := s.l.Void(ctx, caller(ctx), ledger.Void{IdempotencyKey: req.GetIdempotencyKey(), HoldID: uuid.MustParse(req.GetHoldId())})
	if err != nil {
		return nil, s.fail(ctx, "Void", err)
	}
	return &coalitionv1.VoidResponse{Hold: holdPB(h)}, nil
}

func (s *partnerService) Redeem(ctx context.Context, req *coalitionv1.RedeemRequest) (*coalitionv1.RedeemResponse, error) {
	r, err := s.l.RedeemWithCoupon(ctx, caller(ctx), ledger.Redemption{
		IdempotencyKey: req.GetIdempotencyKey(), Member: memberRef(req.GetMember()), Points: coalition.Points(req.GetPoints()), OrderID: req.GetOrderId(),
		CouponCode: req.GetCouponCode(),
	})
	if err != nil {
		return nil, s.fail(ctx, "Redeem", err)
	}
	out := &coalitionv1.RedeemResponse{Transaction: transactionPB(r.Transaction)}
	if r.Coupon != nil {
		out.CouponPoints, out.CouponTransactionId = int64(r.Coupon.Points), r.Coupon.ID.String()
	}
	return out, nil
}

func (s *partnerService) Refund(ctx context.Context, req *coalitionv1.RefundRequest) (*coalitionv1.RefundResponse, error) {
	r := ledger.Refund{IdempotencyKey: req.GetIdempotencyKey(), TransactionID: uuid.MustParse(req.GetTransactionId())}
	switch a := req.GetAmount().(type) {
	case *coalitionv1.RefundRequest_Purchase:
		m := money(a.Purchase)
		r.Purchase = &m
	case *coalitionv1.RefundRequest_Points:
		r.Points = (*coalition.Points)(&a.Points)
	}
	res, err := s.l.Refund(ctx, caller(ctx), r)
	if err != nil {
		return nil, s.fail(ctx, "Refund", err)
	}
	return &coalitionv1.RefundResponse{Transaction: transactionPB(res.Transaction), DebtPoints: int64(res.DebtPoints)}, nil
}

func (s *partnerService) GetBalance(ctx context.Context, req *coalitionv1.GetBalanceRequest) (*coalitionv1.GetBalanceResponse, error) {
	b, err := s.l.Balance(ctx, caller(ctx), memberRef(req.GetMember()))
	if err != nil {
		return nil, s.fail(ctx, "GetBalance", err)
	}
	return &coalitionv1.GetBalanceResponse{Balance: balancePB(b), AsOf: timestamppb.New(b.AsOf)}, nil
}

func (s *partnerService) ListHistory(ctx context.Context, req *coalitionv1.ListHistoryRequest) (*coalitionv1.ListHistoryResponse, error) {
	txs, next, err := s.l.History(ctx, caller(ctx), memberRef(req.GetMember()), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, s.fail(ctx, "ListHistory", err)
	}
	out := &coalitionv1.ListHistoryResponse{NextPageToken: next}
	for _, t := range txs {
		out.Transactions = append(out.Transactions, transactionPB(t))
	}
	return out, nil
}
