package txn

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/coalition-loyalty/coalition/coalition"
)

// Every slice the engine sends is encoded by the direct plans, into the
// very bytes pgx's own array codec writes for it: NULL for a nil slice,
// an empty array, NULL elements, and values at the edges of their types.
func TestArraysEncodeAsPgxDoes(t *testing.T) {
	ours, theirs := pgtype.NewMap(), pgtype.NewMap()
	registerUUID(ours)
	registerArrays(ours)
	registerUUID(theirs)
	a, b := uuid.New(), uuid.New()
	s := "déjà vu"
	empty := ""
	n, neg := int64(1)<<62, int64(-7)
	moscow := time.FixedZone("MSK", 3*3600)
	cases := []struct {
		oid   uint32
		value any
	}{
		{pgtype.UUIDArrayOID, []uuid.UUID{a, b, uuid.Nil}},
		{pgtype.UUIDArrayOID, []uuid.UUID{}},
		{pgtype.UUIDArrayOID, []uuid.UUID(nil)},
		{pgtype.UUIDArrayOID, []*uuid.UUID{&a, nil, &b}},
		{pgtype.UUIDArrayOID, []*uuid.UUID{nil}},
		{pgtype.UUIDArrayOID, []coalition.MemberID{coalition.NewMemberID(), coalition.NewMemberID()}},
		{pgtype.UUIDArrayOID, []coalition.PartnerID{coalition.NewPartnerID()}},
		{pgtype.TextArrayOID, []string{"cafe", "", s, "a,b\"c{d}"}},
		{pgtype.TextArrayOID, []string(nil)},
		{pgtype.TextArrayOID, []*string{&s, nil, &empty}},
		{pgtype.Int8ArrayOID, []int64{0, 1, -1, n, -n, 1<<63 - 1, -1 << 63}},
		{pgtype.Int8ArrayOID, []*int64{&n, nil, &neg}},
		{pgtype.Int4ArrayOID, []int32{0, 1, -1, 1<<31 - 1, -1 << 31}},
		{pgtype.TimestamptzArrayOID, []time.Time{
			time.Date(2026, 3, 10, 9, 0, 0, 123_456_789, time.UTC),
			time.Date(2026, 3, 10, 12, 0, 0, 999, moscow),
			time.Date(1999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
			time.Unix(0, 0),
		}},
		{pgtype.ByteaArrayOID, [][]byte{{1, 2, 3}, nil, {}}},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%T %v", c.value, c.value)
		plan := ours.PlanEncode(c.oid, pgtype.BinaryFormatCode, c.value)
		if got := fmt.Sprintf("%T", plan); !strings.HasPrefix(got, "txn.arrayPlan[") {
			t.Errorf("%s: encoded by %s", name, got)
			continue
		}
		got, err := plan.Encode(c.value, []byte("prefix"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, err := theirs.Encode(c.oid, pgtype.BinaryFormatCode, c.value, []byte("prefix"))
		if err != nil {
			t.Fatalf("%s: pgx: %v", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got % x\nwant % x", name, got, want)
		}
	}
}

// Slices without a direct plan, and the text format, still go to pgx.
func TestOtherArraysGoToPgx(t *testing.T) {
	m := pgtype.NewMap()
	registerArrays(m)
	for _, c := range []struct {
		oid    uint32
		format int16
		value  any
	}{
		{pgtype.Int8ArrayOID, pgtype.BinaryFormatCode, []int{1, 2}},
		{pgtype.Int4ArrayOID, pgtype.BinaryFormatCode, []int64{1, 2}},
		{pgtype.TextArrayOID, pgtype.TextFormatCode, []string{"a"}},
	} {
		plan := m.PlanEncode(c.oid, c.format, c.value)
		if plan == nil {
			t.Errorf("%T in format %d: no plan", c.value, c.format)
			continue
		}
		if name := fmt.Sprintf("%T", plan); strings.HasPrefix(name, "txn.arrayPlan[") {
			t.Errorf("%T in format %d: encoded by %s", c.value, c.format, name)
		}
	}
}
