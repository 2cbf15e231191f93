package txn

import (
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// The ledger's keys are github.com/google/uuid values. pgx sees that they
// implement driver.Valuer and, lacking a plan of its own for them, encodes
// each one by formatting it as text, failing to encode that text in binary
// (building an error), parsing it back and encoding the bytes: about a
// fifth of an accrual's CPU in the server. This plan hands pgx the 16
// bytes directly.

type uuidEncodePlan struct{ next pgtype.EncodePlan }

func (p *uuidEncodePlan) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *uuidEncodePlan) Encode(value any, buf []byte) ([]byte, error) {
	return p.next.Encode([16]byte(value.(uuid.UUID)), buf)
}

func tryWrapUUIDEncodePlan(value any) (pgtype.WrappedEncodePlanNextSetter, any, bool) {
	if u, ok := value.(uuid.UUID); ok {
		return &uuidEncodePlan{}, [16]byte(u), true
	}
	return nil, nil, false
}

// registerUUID puts the plan first among the type map's wrappers, so that
// it is found before the driver.Valuer fallback. Pointers to UUIDs reach
// it through pgx's own pointer wrapper; nil ones are NULL before any plan.
func registerUUID(m *pgtype.Map) {
	m.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{tryWrapUUIDEncodePlan}, m.TryWrapEncodePlanFuncs...)
}
