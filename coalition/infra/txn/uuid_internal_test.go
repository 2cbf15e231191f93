package txn

import (
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/coalition-loyalty/coalition/coalition"
)

// The ids are encoded, and the coalition's ids scanned, by the plans of
// this package: not through driver.Valuer and sql.Scanner, which go by the
// text form, nor by reflection on the underlying array.
func TestIDsUseTheirOwnPlans(t *testing.T) {
	m := pgtype.NewMap()
	registerUUID(m)
	for _, v := range []any{uuid.New(), coalition.NewPartnerID(), coalition.NewMemberID()} {
		for _, format := range []int16{pgtype.BinaryFormatCode, pgtype.TextFormatCode} {
			plan := m.PlanEncode(pgtype.UUIDOID, format, v)
			if name := fmt.Sprintf("%T", plan); !strings.HasPrefix(name, "*txn.uuidEncodePlan[") {
				t.Errorf("%T is encoded in format %d by %s", v, format, name)
			}
		}
	}
	for _, target := range []any{new(coalition.PartnerID), new(coalition.MemberID)} {
		plan := m.PlanScan(pgtype.UUIDOID, pgtype.BinaryFormatCode, target)
		if name := fmt.Sprintf("%T", plan); !strings.HasPrefix(name, "*txn.uuidScanPlan[") {
			t.Errorf("%T is scanned by %s", target, name)
		}
	}
}

// pgx asks a target whether it is an sql.Scanner before it tries any
// wrapper, so an id that became one would be scanned through its text
// form again.
func TestIDsAreNeitherScannersNorValuers(t *testing.T) {
	for _, v := range []any{coalition.PartnerID{}, coalition.MemberID{}, new(coalition.PartnerID), new(coalition.MemberID)} {
		if _, ok := v.(sql.Scanner); ok {
			t.Errorf("%T is an sql.Scanner", v)
		}
		if _, ok := v.(driver.Valuer); ok {
			t.Errorf("%T is a driver.Valuer", v)
		}
	}
}
