package txn

import (
	"encoding/binary"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/coalition-loyalty/coalition/coalition"
)

// The posting engine sends its rows as arrays, one per column (INSERT …
// SELECT FROM unnest($1::uuid[], …)). pgx encodes a slice it has no plan
// for by reflection: each element boxed into an interface, asked whether it
// is a driver.Valuer, and encoded through a plan looked up by its type;
// that was a tenth of the server's CPU under accruals. The slices the
// engine sends have plans here that write PostgreSQL's binary array format
// directly, byte for byte what pgx's own array codec writes (the tests
// compare the two): a nil slice is NULL, an empty one an array of no
// elements, a nil pointer a NULL element. Any other slice, and the text
// format, still go to pgx's codec.

// fastArrayCodec is pgx's codec of one array type, with the plans above
// tried first when encoding.
type fastArrayCodec struct {
	*pgtype.ArrayCodec
}

func (c fastArrayCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if format == pgtype.BinaryFormatCode {
		if p := arrayPlanFor(c.ElementType.OID, value); p != nil {
			return p
		}
	}
	return c.ArrayCodec.PlanEncode(m, oid, format, value)
}

// arrayPlanFor is the direct plan for a slice of the type the array's
// elements (elem) take, or nil.
func arrayPlanFor(elem uint32, value any) pgtype.EncodePlan {
	switch elem {
	case pgtype.UUIDOID:
		switch value.(type) {
		case []uuid.UUID:
			return arrayPlan[uuid.UUID]{elem, func(b []byte, v uuid.UUID) ([]byte, bool) { return append(b, v[:]...), true }}
		case []*uuid.UUID:
			return arrayPlan[*uuid.UUID]{elem, func(b []byte, v *uuid.UUID) ([]byte, bool) {
				if v == nil {
					return b, false
				}
				return append(b, v[:]...), true
			}}
		case []coalition.MemberID:
			return arrayPlan[coalition.MemberID]{elem, func(b []byte, v coalition.MemberID) ([]byte, bool) { return append(b, v[:]...), true }}
		case []coalition.PartnerID:
			return arrayPlan[coalition.PartnerID]{elem, func(b []byte, v coalition.PartnerID) ([]byte, bool) { return append(b, v[:]...), true }}
		}
	case pgtype.TextOID:
		switch value.(type) {
		case []string:
			return arrayPlan[string]{elem, func(b []byte, v string) ([]byte, bool) { return append(b, v...), true }}
		case []*string:
			return arrayPlan[*string]{elem, func(b []byte, v *string) ([]byte, bool) {
				if v == nil {
					return b, false
				}
				return append(b, *v...), true
			}}
		}
	case pgtype.Int8OID:
		switch value.(type) {
		case []int64:
			return arrayPlan[int64]{elem, func(b []byte, v int64) ([]byte, bool) { return binary.BigEndian.AppendUint64(b, uint64(v)), true }}
		case []*int64:
			return arrayPlan[*int64]{elem, func(b []byte, v *int64) ([]byte, bool) {
				if v == nil {
					return b, false
				}
				return binary.BigEndian.AppendUint64(b, uint64(*v)), true
			}}
		}
	case pgtype.Int4OID:
		if _, ok := value.([]int32); ok {
			return arrayPlan[int32]{elem, func(b []byte, v int32) ([]byte, bool) { return binary.BigEndian.AppendUint32(b, uint32(v)), true }}
		}
	case pgtype.TimestamptzOID:
		if _, ok := value.([]time.Time); ok {
			return arrayPlan[time.Time]{elem, func(b []byte, v time.Time) ([]byte, bool) {
				return binary.BigEndian.AppendUint64(b, uint64(microsSinceY2K(v))), true
			}}
		}
	case pgtype.ByteaOID:
		if _, ok := value.([][]byte); ok {
			return arrayPlan[[]byte]{elem, func(b []byte, v []byte) ([]byte, bool) {
				if v == nil {
					return b, false
				}
				return append(b, v...), true
			}}
		}
	}
	return nil
}

// y2k is PostgreSQL's epoch for timestamps, in microseconds since Unix's.
const y2k = 946_684_800_000_000

// microsSinceY2K is how PostgreSQL's binary format, and pgx, count a
// moment: microseconds since 2000-01-01 UTC, the nanoseconds truncated.
func microsSinceY2K(t time.Time) int64 {
	return t.Unix()*1_000_000 + int64(t.Nanosecond())/1000 - y2k
}

// arrayPlan writes a one-dimensional array of E: the header (dimensions,
// whether any element is NULL, the elements' type, length and lower
// bound), then each element's length and bytes, or -1 for NULL; put
// appends an element's bytes, or says it is NULL.
type arrayPlan[E any] struct {
	elem uint32
	put  func([]byte, E) ([]byte, bool)
}

func (p arrayPlan[E]) Encode(value any, buf []byte) ([]byte, error) {
	s := value.([]E)
	if s == nil {
		return nil, nil
	}
	nulls := len(buf) + 4
	buf = binary.BigEndian.AppendUint32(buf, 1) // one dimension
	buf = binary.BigEndian.AppendUint32(buf, 0) // no NULL, unless set below
	buf = binary.BigEndian.AppendUint32(buf, p.elem)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
	buf = binary.BigEndian.AppendUint32(buf, 1) // lower bound
	for _, v := range s {
		at := len(buf)
		buf = append(buf, 0, 0, 0, 0)
		var ok bool
		if buf, ok = p.put(buf, v); !ok {
			binary.BigEndian.PutUint32(buf[at:], 0xFFFF_FFFF) // -1: NULL
			binary.BigEndian.PutUint32(buf[nulls:], 1)
			continue
		}
		binary.BigEndian.PutUint32(buf[at:], uint32(len(buf)-at-4))
	}
	return buf, nil
}

// registerArrays puts fastArrayCodec in front of pgx's codecs of the
// array types the engine sends.
func registerArrays(m *pgtype.Map) {
	for _, oid := range []uint32{pgtype.UUIDArrayOID, pgtype.TextArrayOID, pgtype.Int8ArrayOID, pgtype.Int4ArrayOID,
		pgtype.TimestamptzArrayOID, pgtype.ByteaArrayOID} {
		t, ok := m.TypeForOID(oid)
		if !ok {
			continue
		}
		ac, ok := t.Codec.(*pgtype.ArrayCodec)
		if !ok {
			continue
		}
		m.RegisterType(&pgtype.Type{Name: t.Name, OID: t.OID, Codec: fastArrayCodec{ac}})
	}
}
