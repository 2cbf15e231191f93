package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"buf.build/go/protovalidate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/apikeys"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// methodRoles says, for every RPC, which roles may call it. A method missing
// here is refused to everyone: adding an RPC means deciding who may call it.
var methodRoles = map[string][]Role{
	coalitionv1.PartnerService_EnrollMember_FullMethodName:    {RolePartner},
	coalitionv1.PartnerService_LookupMember_FullMethodName:    {RolePartner},
	coalitionv1.PartnerService_Accrue_FullMethodName:          {RolePartner},
	coalitionv1.PartnerService_AccrueBatch_FullMethodName:     {RolePartner},
	coalitionv1.PartnerService_Authorize_FullMethodName:       {RolePartner},
	coalitionv1.PartnerService_Capture_FullMethodName:         {RolePartner},
	coalitionv1.PartnerService_Void_FullMethodName:            {RolePartner},
	coalitionv1.PartnerService_Redeem_FullMethodName:          {RolePartner},
	coalitionv1.PartnerService_Refund_FullMethodName:          {RolePartner},
	coalitionv1.PartnerService_GetBalance_FullMethodName:      {RolePartner},
	coalitionv1.PartnerService_ListHistory_FullMethodName:     {RolePartner},
	coalitionv1.PartnerService_IssueMemberLink_FullMethodName: {RolePartner},

	coalitionv1.MemberService_GetMe_FullMethodName:              {RoleMember},
	coalitionv1.MemberService_ListMyHistory_FullMethodName:      {RoleMember},
	coalitionv1.MemberService_ListExpiringPoints_FullMethodName: {RoleMember},
	coalitionv1.MemberService_ListSpendPartners_FullMethodName:  {RoleMember},
	coalitionv1.MemberService_ListMyOffers_FullMethodName:       {RoleMember},
	coalitionv1.MemberService_SetMyBirthday_FullMethodName:      {RoleMember},

	coalitionv1.NetworkService_ListPartnerStandings_FullMethodName: {RoleOperator},
	coalitionv1.NetworkService_GetNetworkFigures_FullMethodName:    {RoleOperator},

	coalitionv1.AdminService_GetRules_FullMethodName:      {RoleOperator, RoleFinance},
	coalitionv1.AdminService_ListRuleSets_FullMethodName:  {RoleOperator, RoleFinance},
	coalitionv1.AdminService_PutRules_FullMethodName:      {RoleOperator},
	coalitionv1.AdminService_ValidateRules_FullMethodName: {RoleOperator},

	coalitionv1.SettlementService_ListWindows_FullMethodName:         {RoleFinance, RolePartner},
	coalitionv1.SettlementService_GetReport_FullMethodName:           {RoleFinance},
	coalitionv1.SettlementService_GetPartnerStatement_FullMethodName: {RoleFinance, RolePartner},
	coalitionv1.SettlementService_ExportReport_FullMethodName:        {RoleFinance, RolePartner},
	coalitionv1.SettlementService_DrillDown_FullMethodName:           {RoleFinance, RolePartner},

	coalitionv1.SettlementService_ListBankAccounts_FullMethodName:        {RoleFinance},
	coalitionv1.SettlementService_ProposeBankAccount_FullMethodName:      {RoleFinance},
	coalitionv1.SettlementService_DecideBankAccount_FullMethodName:       {RoleFinance},
	coalitionv1.SettlementService_MakePaymentInstructions_FullMethodName: {RoleFinance},
	coalitionv1.SettlementService_ListPaymentInstructions_FullMethodName: {RoleFinance, RolePartner},
	coalitionv1.SettlementService_CreatePaymentFile_FullMethodName:       {RoleFinance},
	coalitionv1.SettlementService_ListPaymentFiles_FullMethodName:        {RoleFinance},
	coalitionv1.SettlementService_ExportPaymentFile_FullMethodName:       {RoleFinance},
	coalitionv1.SettlementService_ImportBankStatement_FullMethodName:     {RoleFinance},
	coalitionv1.SettlementService_GetReconciliation_FullMethodName:       {RoleFinance},
	coalitionv1.SettlementService_ResolveStatementLine_FullMethodName:    {RoleFinance},
	coalitionv1.SettlementService_ProposeAdjustment_FullMethodName:       {RoleFinance},
	coalitionv1.SettlementService_DecideAdjustment_FullMethodName:        {RoleFinance},
	coalitionv1.SettlementService_ListAdjustments_FullMethodName:         {RoleFinance},
	coalitionv1.SettlementService_GetLiability_FullMethodName:            {RoleFinance},

	coalitionv1.OfferService_CreateOffer_FullMethodName:  {RoleOperator, RolePartner},
	coalitionv1.OfferService_ListOffers_FullMethodName:   {RoleOperator, RolePartner},
	coalitionv1.OfferService_EndOffer_FullMethodName:     {RoleOperator, RolePartner},
	coalitionv1.OfferService_IssueCoupons_FullMethodName: {RoleOperator, RolePartner},
	coalitionv1.OfferService_ListCoupons_FullMethodName:  {RoleOperator, RolePartner},

	coalitionv1.AnalyticsService_GetAnalytics_FullMethodName: {RoleOperator, RolePartner},

	coalitionv1.SegmentService_DefineSegment_FullMethodName:  {RoleOperator, RolePartner},
	coalitionv1.SegmentService_ListSegments_FullMethodName:   {RoleOperator, RolePartner},
	coalitionv1.SegmentService_RetireSegment_FullMethodName:  {RoleOperator, RolePartner},
	coalitionv1.SegmentService_PreviewSegment_FullMethodName: {RoleOperator, RolePartner},
	coalitionv1.SegmentService_GetRfmGrid_FullMethodName:     {RoleOperator, RolePartner},
}

// portalMethods narrows, for each portal role of a partner's staff, the
// methods open to partners (methodRoles) to those the role's pages need:
// partner-finance and partner-admin read the partner's statements and its
// payments; partner-marketing reads neither (the partner's analytics and
// offers will be its). A partner's staff never trade as the partner: no
// accrual, redemption or member look-up. A method missing here is refused
// to every portal role. (The portal's pages that manage staff and keys call
// no RPC; gateway/web's partnerPages says who may open them.)
var portalMethods = map[string][]string{
	apikeys.RolePartnerAdmin:     slices.Concat(partnerMoneyMethods, partnerAnalyticsMethods, segmentMethods, offerMethods),
	apikeys.RolePartnerFinance:   partnerMoneyMethods,
	apikeys.RolePartnerMarketing: slices.Concat(partnerAnalyticsMethods, segmentMethods, offerMethods),
}

// partnerAnalyticsMethods: the partner's figures, for its admin and its
// marketing staff; its finance staff have the statements, which say what
// money moved, and no business with who shops where.
var partnerAnalyticsMethods = []string{
	coalitionv1.AnalyticsService_GetAnalytics_FullMethodName,
}

var partnerMoneyMethods = []string{
	coalitionv1.SettlementService_ListWindows_FullMethodName,
	coalitionv1.SettlementService_GetPartnerStatement_FullMethodName,
	coalitionv1.SettlementService_ExportReport_FullMethodName,
	coalitionv1.SettlementService_DrillDown_FullMethodName,
	coalitionv1.SettlementService_ListPaymentInstructions_FullMethodName,
}

// Services are the coalition's gRPC services, by name (for health checks).
var Services = []string{
	coalitionv1.PartnerService_ServiceDesc.ServiceName,
	coalitionv1.SettlementService_ServiceDesc.ServiceName,
	coalitionv1.MemberService_ServiceDesc.ServiceName,
	coalitionv1.NetworkService_ServiceDesc.ServiceName,
	coalitionv1.AdminService_ServiceDesc.ServiceName,
	coalitionv1.AnalyticsService_ServiceDesc.ServiceName,
	coalitionv1.SegmentService_ServiceDesc.ServiceName,
	coalitionv1.OfferService_ServiceDesc.ServiceName,
}

// public methods need no credentials: health checks and reflection.
func public(method string) bool {
	return strings.HasPrefix(method, "/grpc.health.v1.Health/") || strings.HasPrefix(method, "/grpc.reflection.")
}

// Options wire a server.
type Options struct {
	Ledger     Ledger
	Settlement Settlement
	// Finance is the finance operations of the settlement service; nil:
	// their methods answer UNIMPLEMENTED.
	Finance Finance
	// The member's own view, the partners' register, the network's
	// figures, and member links for the member and network services.
	Members Members
	// Partners is the register of partners: the member service lists them,
	// and every request of a partner is checked against its standing, so a
	// suspended partner is refused by every service whatever credential it
	// presents. Required.
	Partners PartnerList
	Network  Network
	Links    MemberLinks
	// Tiers tells members their tier; nil: the coalition has no tiers.
	Tiers TierSource
	// PublicURL is the address people open the web pages at; member links
	// point there.
	PublicURL string
	// Rules are the versioned loyalty rules, for the admin service.
	Rules RulesAdmin
	// Offers are the personal offers and coupons; nil: their methods
	// answer FAILED_PRECONDITION and members have none.
	Offers Offers
	// Analytics are the figures over a period; nil: GetAnalytics answers
	// FAILED_PRECONDITION.
	Analytics Analytics
	// Segments define and count member segments, and keep members'
	// birthdays; nil: their methods answer FAILED_PRECONDITION.
	Segments Segments
	Auth     Authenticator
	Log      *slog.Logger
	// Readiness, if set, hears from every request whether the database
	// answered it, so that the replica's readiness turns at once.
	Readiness Readiness
	// Extra server options (transport credentials, stats handlers).
	ServerOptions []grpc.ServerOption
}

// NewServer returns a gRPC server with the partner service, the health
// service (reported SERVING) and reflection, behind the recovery, auth and
// validation interceptors.
func NewServer(o Options) (*grpc.Server, *health.Server, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Partners == nil {
		return nil, nil, errors.New("rpc server: Options.Partners is required (suspended partners are refused against it)")
	}
	validator, err := protovalidate.New()
	if err != nil {
		return nil, nil, fmt.Errorf("request validator: %w", err)
	}
	g := &gate{auth: o.Auth, partners: o.Partners, log: o.Log}
	opts := append([]grpc.ServerOption{
		grpc.ChainUnaryInterceptor(recoverUnary(o.Log), observeUnary(o.Readiness), authUnary(g), validateUnary(validator)),
		grpc.ChainStreamInterceptor(recoverStream(o.Log), observeStream(o.Readiness), authStream(g), validateStream(validator)),
		grpc.ForceServerCodecV2(newDecodeCodec()),
	}, o.ServerOptions...)
	if o.Tiers == nil {
		o.Tiers = NoTiers{} // a server without the ledger's tiers (LedgerTiers)
	}
	s := grpc.NewServer(opts...)
	coalitionv1.RegisterPartnerServiceServer(s, &partnerService{l: o.Ledger, links: o.Links, publicURL: o.PublicURL, log: o.Log})
	coalitionv1.RegisterSettlementServiceServer(s, &settlementService{s: o.Settlement, f: o.Finance, log: o.Log})
	coalitionv1.RegisterMemberServiceServer(s, &memberService{m: o.Members, partners: o.Partners, tiers: o.Tiers, segments: o.Segments, offers: o.Offers, log: o.Log})
	coalitionv1.RegisterNetworkServiceServer(s, &networkService{n: o.Network, log: o.Log})
	coalitionv1.RegisterAdminServiceServer(s, &adminService{r: o.Rules, log: o.Log})
	coalitionv1.RegisterAnalyticsServiceServer(s, &analyticsService{a: o.Analytics, partners: o.Partners, log: o.Log})
	coalitionv1.RegisterSegmentServiceServer(s, &segmentService{s: o.Segments, partners: o.Partners, log: o.Log})
	coalitionv1.RegisterOfferServiceServer(s, &offerService{o: o.Offers, log: o.Log})
	hs := health.NewServer()
	healthpb.RegisterHealthServer(s, hs)
	for _, svc := range Services {
		hs.SetServingStatus(svc, healthpb.HealthCheckResponse_SERVING)
	}
	reflection.Register(s)
	return s, hs, nil
}

// recoverUnary turns a panic into Internal, so that no panic reaches a client
// or takes the server down with it.
func recoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				log.ErrorContext(ctx, "panic in handler", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
				resp, err = nil, status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(ctx, req)
	}
}

func recoverStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				log.ErrorContext(ss.Context(), "panic in handler", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(srv, ss)
	}
}

// Readiness hears what requests learn of the database (the server's
// readiness checker): that one could not reach it, or that it answered one.
type Readiness interface {
	DatabaseUnavailable(err error)
	DatabaseAnswered()
}

// observe tells r how a call of the coalition's services ended: an answer
// says the database is up (every such call reads it), an UNAVAILABLE
// whose reason is the database says it is down.
func observe(r Readiness, method string, err error) {
	switch {
	case public(method):
	case err == nil:
		r.DatabaseAnswered()
	case reasonOf(err) == ReasonDatabaseUnavailable:
		// The cause is in the log (toStatus); the checker's report says
		// where it was seen.
		r.DatabaseUnavailable(fmt.Errorf("a request could not reach it (%s)", method))
	}
}

func observeUnary(r Readiness) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if r != nil {
			observe(r, info.FullMethod, err)
		}
		return resp, err
	}
}

func observeStream(r Readiness) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		err := handler(srv, ss)
		if r != nil {
			observe(r, info.FullMethod, err)
		}
		return err
	}
}

// gate lets a call through when its caller is authenticated, its role may
// call the method, and, for a partner, the partner is active. Every service
// and every kind of credential (certificate, API key, dev credential)
// passes here; standing is checked here for every method but those of
// standingInTransaction.
type gate struct {
	auth     Authenticator
	partners PartnerList
	log      *slog.Logger
	// recent is the partners' standing as last read, for the methods of
	// standingInTransaction (recentStanding).
	recent sync.Map // coalition.PartnerID → recentStanding
}

// recentStanding is a partner's standing as read at a moment, and the
// register's count of status changes then.
type recentStanding struct {
	partner partners.Partner
	at      time.Time
	changes uint64
}

// standingMaxAge is how long a partner's standing, as read, is used for
// the methods of standingInTransaction.
const standingMaxAge = time.Second

func (g *gate) authorize(ctx context.Context, method string) (context.Context, error) {
	if public(method) {
		return ctx, nil
	}
	roles, ok := methodRoles[method]
	if !ok {
		return nil, status.Errorf(codes.PermissionDenied, "%s is not open to any role", method)
	}
	p, err := g.auth.Authenticate(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(roles, p.Role) {
		return nil, status.Errorf(codes.PermissionDenied, "role %s may not call %s", p.Role, method)
	}
	if p.Portal != "" && !slices.Contains(portalMethods[p.Portal], method) {
		return nil, status.Errorf(codes.PermissionDenied, "role %s may not call %s", p.Portal, method)
	}
	if p.Role == RolePartner {
		if err := g.standing(ctx, method, p.PartnerID); err != nil {
			return nil, err
		}
	}
	return context.WithValue(ctx, principalKey{}, p), nil
}

// standingInTransaction are the methods whose ledger operation reads the
// partner's standing with its terms, in the operation's own transaction,
// and refuses a partner that is not active as standing does
// (PermissionDenied, "partner <code> is suspended"), before it writes
// anything. For them the gate uses the standing it read in the last second
// (standingMaxAge), unless a status changed through this process's register
// since: on the partners' hot path, reading it for every request cost a
// query each, a sixth of the server's CPU under load (docs/BENCHMARKS.md,
// "Planned once, fewer foreign keys, the partner's standing"). A partner
// suspended on another replica is still refused by these methods from the
// next call on, by the ledger; only a request the gate would have refused
// before looking at it may, for that second, be refused for what it is
// instead (an invalid argument). TestAPartnerSuspendedElsewhereIsRefusedByTheLedger
// calls each of them, with a valid request, behind the gate's back.
var standingInTransaction = map[string]bool{
	coalitionv1.PartnerService_Accrue_FullMethodName:     true,
	coalitionv1.PartnerService_Redeem_FullMethodName:     true,
	coalitionv1.PartnerService_Authorize_FullMethodName:  true,
	coalitionv1.PartnerService_Capture_FullMethodName:    true,
	coalitionv1.PartnerService_Void_FullMethodName:       true,
	coalitionv1.PartnerService_Refund_FullMethodName:     true,
	coalitionv1.PartnerService_GetBalance_FullMethodName: true,
}

// standing refuses a partner that is suspended or no longer in the
// register. It reads the register on every call (for the methods of
// standingInTransaction, a reading at most standingMaxAge old, the ledger
// refusing meanwhile), so a suspension holds on every replica from the
// moment it is made.
func (g *gate) standing(ctx context.Context, method string, id coalition.PartnerID) error {
	partner, err := g.partnerOf(ctx, method, id)
	if e, ok := coalition.AsError(err); ok && e.Code == coalition.NotFound {
		return status.Errorf(codes.PermissionDenied, "partner %s is not a member of the coalition", id)
	}
	if err != nil {
		return toStatus(ctx, g.log, method, fmt.Errorf("standing of partner %s: %w", id, err))
	}
	if partner.Status != "active" {
		return status.Errorf(codes.PermissionDenied, "partner %s is %s", partner.Code, partner.Status)
	}
	return nil
}

// partnerOf reads the partner's standing from the register, or, for the
// methods of standingInTransaction, as read within standingMaxAge.
func (g *gate) partnerOf(ctx context.Context, method string, id coalition.PartnerID) (partners.Partner, error) {
	if !standingInTransaction[method] {
		return g.partners.ByID(ctx, id)
	}
	changes := g.partners.Changes()
	if v, ok := g.recent.Load(id); ok {
		if r := v.(recentStanding); r.changes == changes && time.Since(r.at) < standingMaxAge {
			return r.partner, nil
		}
	}
	p, err := g.partners.ByID(ctx, id)
	if err == nil {
		g.recent.Store(id, recentStanding{partner: p, at: time.Now(), changes: changes})
	}
	return p, err
}

func authUnary(g *gate) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := g.authorize(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s authedStream) Context() context.Context { return s.ctx }

func authStream(g *gate) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := g.authorize(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, authedStream{ServerStream: ss, ctx: ctx})
	}
}

// validateUnary checks every request before any handler runs, so a bad
// request writes nothing: that it could be decoded, that it is well formed
// (wellFormed), and the constraints declared in the protos.
func validateUnary(v protovalidate.Validator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if m, ok := req.(proto.Message); ok {
			if err := validate(v, m); err != nil {
				return nil, err
			}
		}
		return handler(ctx, req)
	}
}

func validate(v protovalidate.Validator, m proto.Message) error {
	if err := malformed(m); err != nil {
		return err
	}
	if fault := wellFormed(m.ProtoReflect(), ""); fault != nil {
		return invalid(fault)
	}
	if err := v.Validate(m); err != nil {
		return validationStatus(err)
	}
	return nil
}

// validatingStream checks each message a client streams in, as validateUnary
// checks a unary request.
type validatingStream struct {
	grpc.ServerStream
	v protovalidate.Validator
}

func (s validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if pm, ok := m.(proto.Message); ok {
		return validate(s.v, pm)
	}
	return nil
}

func validateStream(v protovalidate.Validator) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, validatingStream{ServerStream: ss, v: v})
	}
}
