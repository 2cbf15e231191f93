package txn_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
)

// Ids go to PostgreSQL as the UUIDs they are and come back as the same
// ids, by the extended protocol (binary) and the simple one (text), alone,
// as pointers (NULL included) and in arrays; points come back from a SUM,
// which PostgreSQL returns as numeric.
func TestIDsAndPointsRoundTripThroughPostgreSQL(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE t (partner UUID NOT NULL, member UUID NOT NULL, referrer UUID, points BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	partner, member := coalition.NewPartnerID(), coalition.NewMemberID()
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		t.Run(mode.String(), func(t *testing.T) {
			if _, err := pool.Exec(ctx, `TRUNCATE t`); err != nil {
				t.Fatal(err)
			}
			if _, err := pool.Exec(ctx, `INSERT INTO t VALUES ($1, $2, $3, $4), ($1, $2, $5, $4)`, mode,
				partner, member, (*coalition.MemberID)(nil), coalition.Points(40), &member); err != nil {
				t.Fatal(err)
			}
			var text string
			if err := pool.QueryRow(ctx, `SELECT partner::TEXT || ' ' || member::TEXT FROM t LIMIT 1`, mode).Scan(&text); err != nil {
				t.Fatal(err)
			}
			if want := partner.String() + " " + member.String(); text != want {
				t.Fatalf("stored %s, want %s", text, want)
			}

			rows, err := pool.Query(ctx, `SELECT partner, member, referrer FROM t WHERE partner = $1 ORDER BY referrer NULLS FIRST`, mode, partner)
			if err != nil {
				t.Fatal(err)
			}
			type row struct {
				partner  coalition.PartnerID
				member   coalition.MemberID
				referrer *coalition.MemberID
			}
			got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
				var x row
				return x, r.Scan(&x.partner, &x.member, &x.referrer)
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].partner != partner || got[0].member != member || got[0].referrer != nil ||
				got[1].referrer == nil || *got[1].referrer != member {
				t.Fatalf("read back %+v", got)
			}

			var points coalition.Points
			if err := pool.QueryRow(ctx, `SELECT SUM(points) FROM t`, mode).Scan(&points); err != nil || points != 80 {
				t.Fatalf("sum of points = %d, %v", points, err)
			}
			var id coalition.MemberID
			if err := pool.QueryRow(ctx, `SELECT referrer FROM t ORDER BY referrer NULLS FIRST LIMIT 1`, mode).Scan(&id); err == nil {
				t.Fatal("NULL scanned into a MemberID")
			}
		})
	}
	// Arrays, as the ledger passes them to ANY (pgx encodes no array of
	// UUIDs by the simple protocol, whose parameters have no type).
	var ids []coalition.MemberID
	if err := pool.QueryRow(ctx, `SELECT array_agg(member) FROM t WHERE partner = ANY($1)`,
		[]coalition.PartnerID{coalition.NewPartnerID(), partner}).Scan(&ids); err != nil || len(ids) != 2 || ids[0] != member {
		t.Fatalf("members of the partner = %v, %v", ids, err)
	}
}
