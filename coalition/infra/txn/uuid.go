package txn

import (
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/coalition-loyalty/coalition/coalition"
)

// The ledger's keys are github.com/google/uuid values. pgx sees that they
// implement driver.Valuer and, lacking a plan of its own for them, encodes
// each one by formatting it as text, failing to encode that text in binary
// (building an error), parsing it back and encoding the bytes: about a
// fifth of an accrual's CPU in the server. This plan hands pgx the 16
// bytes directly.
//
// coalition.PartnerID and coalition.MemberID are defined on uuid.UUID
// without its methods, so pgx would reach their bytes by reflection; the
// same plans hand them over directly, and scan them as 16 bytes too. (A
// uuid.UUID is still scanned through its sql.Scanner, which pgx prefers to
// any wrapper.)

type uuidEncodePlan[T ~[16]byte] struct{ next pgtype.EncodePlan }

func (p *uuidEncodePlan[T]) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *uuidEncodePlan[T]) Encode(value any, buf []byte) ([]byte, error) {
	return p.next.Encode([16]byte(value.(T)), buf)
}

func tryWrapUUIDEncodePlan(value any) (pgtype.WrappedEncodePlanNextSetter, any, bool) {
	switch v := value.(type) {
	case uuid.UUID:
		return &uuidEncodePlan[uuid.UUID]{}, [16]byte(v), true
	case coalition.PartnerID:
		return &uuidEncodePlan[coalition.PartnerID]{}, [16]byte(v), true
	case coalition.MemberID:
		return &uuidEncodePlan[coalition.MemberID]{}, [16]byte(v), true
	}
	return nil, nil, false
}

// uuidScanPlan scans a UUID into a *T through uuidTarget, which pgx's UUID
// codec fills from the binary or the text format.
type uuidScanPlan[T ~[16]byte] struct{ next pgtype.ScanPlan }

func (p *uuidScanPlan[T]) SetNext(next pgtype.ScanPlan) { p.next = next }

func (p *uuidScanPlan[T]) Scan(src []byte, target any) error {
	return p.next.Scan(src, uuidTarget[T]{target.(*T)})
}

type uuidTarget[T ~[16]byte] struct{ p *T }

func (t uuidTarget[T]) ScanUUID(v pgtype.UUID) error {
	if !v.Valid {
		return fmt.Errorf("cannot scan NULL into %T", t.p)
	}
	*t.p = T(v.Bytes)
	return nil
}

func tryWrapUUIDScanPlan(target any) (pgtype.WrappedScanPlanNextSetter, any, bool) {
	switch t := target.(type) {
	case *coalition.PartnerID:
		return &uuidScanPlan[coalition.PartnerID]{}, uuidTarget[coalition.PartnerID]{t}, true
	case *coalition.MemberID:
		return &uuidScanPlan[coalition.MemberID]{}, uuidTarget[coalition.MemberID]{t}, true
	}
	return nil, nil, false
}

// registerUUID puts the plans first among the type map's wrappers, so that
// they are found before the driver.Valuer fallback and before reflection
// on underlying types. Pointers to ids reach them through pgx's own pointer
// wrappers; nil ones are NULL before any plan, and a NULL scanned into a
// pointer leaves it nil.
func registerUUID(m *pgtype.Map) {
	m.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{tryWrapUUIDEncodePlan}, m.TryWrapEncodePlanFuncs...)
	m.TryWrapScanPlanFuncs = append([]pgtype.TryWrapScanPlanFunc{tryWrapUUIDScanPlan}, m.TryWrapScanPlanFuncs...)
}
