package rpc_test

import (
	"context"
	"math"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// rawCodec sends bytes as they are and hands back the answer's bytes, so a
// test can send what no well-behaved client library would.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// invokeRaw calls a method with a request of raw bytes.
func invokeRaw(ctx context.Context, conn *grpc.ClientConn, method string, req []byte) error {
	var out []byte
	return conn.Invoke(ctx, method, &req, &out, grpc.ForceCodecV2(rawCodec{}))
}

func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ruleSets counts the stored rule sets, which refusals_test's rows do not.
func (e *env) ruleSets() int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM rule_sets`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// A request the server cannot decode is the client's mistake: gRPC itself
// would answer Internal. It is InvalidArgument, naming the field where the
// bytes go wrong, and writes nothing.
func TestUndecodableRequestsAreInvalidArgumentWithTheField(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	good := marshal(t, &pb.AccrueRequest{IdempotencyKey: "k", Member: byID(m), Purchase: rub(10_000), OrderId: "order-1"})
	// AccrueRequest.order_id (4) and, inside member (2), card_number (2),
	// written by hand with bytes that are not UTF-8.
	badOrder := protowire.AppendBytes(protowire.AppendTag(append([]byte(nil), good...), 4, protowire.BytesType), []byte("order-\xff"))
	str := func(prefix []byte, num protowire.Number, s string) []byte {
		return protowire.AppendBytes(protowire.AppendTag(append([]byte(nil), prefix...), num, protowire.BytesType), []byte(s))
	}
	badCard := append(marshal(t, &pb.AccrueRequest{IdempotencyKey: "k", Purchase: rub(10_000), OrderId: "order-1"}),
		protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), // member
			protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), []byte("7700\xc3\x28")))...) // card_number
	// RuleSet.promotions (6) has two good entries, then one whose name (2)
	// is not UTF-8.
	ruleSet := protowire.AppendBytes(protowire.AppendTag(
		marshal(t, &pb.RuleSet{Promotions: []*pb.Promotion{{Code: "a"}, {Code: "b"}}}), 6, protowire.BytesType),
		protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), []byte{'x', 0xfe}))
	badRule := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), ruleSet)

	cases := []struct {
		name, method string
		req          []byte
		field        string
	}{
		{"order id not UTF-8", "/coalition.v1.PartnerService/Accrue", badOrder, "order_id"},
		{"card number not UTF-8", "/coalition.v1.PartnerService/Accrue", badCard, "member.card_number"},
		{"truncated message", "/coalition.v1.PartnerService/Accrue", good[:len(good)-3], "order_id"},
		{"a varint that never ends", "/coalition.v1.PartnerService/Redeem", []byte{0x18, 0xff, 0xff, 0xff}, "points"},
		{"field number zero", "/coalition.v1.PartnerService/Redeem", []byte{0x00, 0x01}, ""},
		{"a group that is never closed", "/coalition.v1.PartnerService/GetBalance", []byte{0x0b, 0x08, 0x01}, "member"},
		{"not protobuf at all", "/coalition.v1.PartnerService/EnrollMember", []byte("{\"idempotency_key\": \"k\"}"), ""},
		{"a promotion's name not UTF-8", "/coalition.v1.AdminService/PutRules", badRule, "rule_set.promotions[2].name"},
	}
	before, rules := e.written(), e.ruleSets()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := e.as("cafe")
			if tc.method == "/coalition.v1.AdminService/PutRules" {
				ctx = e.operator()
			}
			err := invokeRaw(ctx, e.conn, tc.method, tc.req)
			wantStatus(t, err, codes.InvalidArgument, tc.field)
		})
	}
	e.wantNothingWritten(before)
	if e.ruleSets() != rules {
		t.Fatal("a refused rule set was stored")
	}
	// The same bytes, well formed, go through.
	if err := invokeRaw(e.as("cafe"), e.conn, "/coalition.v1.PartnerService/Accrue", good); err != nil {
		t.Fatalf("the good request: %v", err)
	}
	// A streaming RPC's request is checked the same way.
	ctx := metadata.AppendToOutgoingContext(e.anonymous(), "authorization", "Dev role=finance")
	stream, err := e.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/coalition.v1.SettlementService/ExportReport",
		grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	req := str(nil, 1, "2026-03-\xff0")
	if err := stream.SendMsg(&req); err != nil {
		t.Fatal(err)
	}
	stream.CloseSend()
	var out []byte
	wantStatus(t, stream.RecvMsg(&out), codes.InvalidArgument, "business_date")
}

// A NUL in a string (which PostgreSQL cannot store in text), a timestamp
// outside 0001-9999 or with nanos outside [0, 10^9), and a duration that is
// not normalised are refused with the field, whatever the request, and
// write nothing.
func TestNULsAndOutOfRangeTimesAreInvalidArgumentWithTheField(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	e.accrue("cafe", m, 100_000)
	cafe := e.as("cafe")
	admin := pb.NewAdminServiceClient(e.conn)
	in := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(start.Add(d)) }
	rules := func(edit func(*pb.RuleSet)) *pb.RuleSet {
		rs := &pb.RuleSet{Note: "spring", Promotions: []*pb.Promotion{{Code: "spring", Name: "Spring", Starts: in(time.Hour),
			Ends: in(48 * time.Hour), BonusPoints: 10, FundedBy: "operator"}}}
		edit(rs)
		return rs
	}
	put := func(edit func(*pb.RuleSet)) func() error {
		return func() error { return errOf(admin.PutRules(e.operator(), &pb.PutRulesRequest{RuleSet: rules(edit)})) }
	}
	check := func(edit func(*pb.RuleSet)) func() error {
		return func() error {
			return errOf(admin.ValidateRules(e.operator(), &pb.ValidateRulesRequest{RuleSet: rules(edit)}))
		}
	}
	authorize := func(ttl *durationpb.Duration) func() error {
		return func() error {
			return errOf(e.client.Authorize(cafe, &pb.AuthorizeRequest{IdempotencyKey: e.key(), Member: byID(m), Points: 1,
				OrderId: e.key(), Ttl: ttl}))
		}
	}
	rulesBefore := e.ruleSets()
	e.wantRefused([]refusal{
		{"NUL in an order id", func() error {
			return errOf(e.client.Accrue(cafe, &pb.AccrueRequest{IdempotencyKey: e.key(), Member: byID(m), Purchase: rub(100), OrderId: "o\x00"}))
		}, codes.InvalidArgument, "order_id"},
		{"NUL in a category", func() error {
			return errOf(e.client.Accrue(cafe, &pb.AccrueRequest{IdempotencyKey: e.key(), Member: byID(m), Purchase: rub(100),
				OrderId: e.key(), Category: "coffee\x00"}))
		}, codes.InvalidArgument, "category"},
		{"NUL in a redemption's order id", func() error {
			return errOf(e.client.Redeem(cafe, &pb.RedeemRequest{IdempotencyKey: e.key(), Member: byID(m), Points: 1, OrderId: "\x00"}))
		}, codes.InvalidArgument, "order_id"},
		{"NUL in a card number", func() error {
			return errOf(e.client.GetBalance(cafe, &pb.GetBalanceRequest{Member: byCard(m.GetCardNumber() + "\x00")}))
		}, codes.InvalidArgument, "member.card_number"},
		{"NUL in a page token", func() error {
			return errOf(e.client.ListHistory(cafe, &pb.ListHistoryRequest{Member: byID(m), PageToken: "\x00"}))
		}, codes.InvalidArgument, "page_token"},

		{"ttl with nanos of the other sign", authorize(&durationpb.Duration{Seconds: 60, Nanos: -1}), codes.InvalidArgument, "ttl"},
		{"ttl with negative seconds and positive nanos", authorize(&durationpb.Duration{Seconds: -1, Nanos: 1}), codes.InvalidArgument, "ttl"},
		{"ttl with nanos of 2^31-1", authorize(&durationpb.Duration{Seconds: 60, Nanos: math.MaxInt32}), codes.InvalidArgument, "ttl"},
		{"ttl with nanos of -2^31", authorize(&durationpb.Duration{Nanos: math.MinInt32}), codes.InvalidArgument, "ttl"},
		{"ttl of 2^31 seconds", authorize(&durationpb.Duration{Seconds: 1 << 31}), codes.InvalidArgument, "ttl"},
		{"ttl of -2^31 seconds", authorize(&durationpb.Duration{Seconds: -1 << 31}), codes.InvalidArgument, "ttl"},
		{"ttl past any duration", authorize(&durationpb.Duration{Seconds: math.MaxInt64}), codes.InvalidArgument, "ttl"},

		{"rules effective at the end of int64", put(func(rs *pb.RuleSet) { rs.EffectiveFrom = &timestamppb.Timestamp{Seconds: math.MaxInt64} }),
			codes.InvalidArgument, "rule_set.effective_from"},
		{"rules effective with nanos of 2^31-1", put(func(rs *pb.RuleSet) {
			rs.EffectiveFrom = &timestamppb.Timestamp{Seconds: start.Unix() + 3600, Nanos: math.MaxInt32}
		}),
			codes.InvalidArgument, "rule_set.effective_from"},
		{"a promotion starting with nanos of -2^31", put(func(rs *pb.RuleSet) { rs.Promotions[0].Starts.Nanos = math.MinInt32 }),
			codes.InvalidArgument, "rule_set.promotions[0].starts"},
		{"a promotion ending in the year 10000", put(func(rs *pb.RuleSet) { rs.Promotions[0].Ends = &timestamppb.Timestamp{Seconds: 253402300800} }),
			codes.InvalidArgument, "rule_set.promotions[0].ends"},
		{"checking a promotion ending in the year 10000", check(func(rs *pb.RuleSet) { rs.Promotions[0].Ends = &timestamppb.Timestamp{Seconds: 253402300800} }),
			codes.InvalidArgument, "rule_set.promotions[0].ends"},
		{"NUL in a promotion's name", put(func(rs *pb.RuleSet) { rs.Promotions[0].Name = "Spr\x00ng" }),
			codes.InvalidArgument, "rule_set.promotions[0].name"},
		{"NUL in a promotion's category", put(func(rs *pb.RuleSet) { rs.Promotions[0].Categories = []string{"coffee", "\x00"} }),
			codes.InvalidArgument, "rule_set.promotions[0].categories[1]"},
		{"NUL in a partner's category", put(func(rs *pb.RuleSet) {
			rs.Partners = []*pb.PartnerRules{{Partner: "cafe", Categories: []*pb.CategoryRate{{Category: "tea\x00", RateBp: 100}}}}
		}), codes.InvalidArgument, "rule_set.partners[0].categories[0].category"},
		{"NUL in the note", put(func(rs *pb.RuleSet) { rs.Note = "\x00" }), codes.InvalidArgument, "rule_set.note"},
	})
	if e.ruleSets() != rulesBefore {
		t.Fatal("a refused rule set was stored")
	}
	// The same requests, well formed, go through: the edge refused only
	// what was wrong.
	e.authorize("cafe", m, 1)
	if _, err := admin.PutRules(e.operator(), &pb.PutRulesRequest{RuleSet: rules(func(rs *pb.RuleSet) {
		rs.Promotions[0].Ends = &timestamppb.Timestamp{Seconds: 253402300799, Nanos: 999_999_999}
	})}); err != nil {
		t.Fatalf("rules with a promotion to the last instant of 9999: %v", err)
	}
}
