package segments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
)

// Define creates the segment of scope with the code, or redefines it (a
// new name or definition; a retired one comes back). Defining it again the
// same way changes nothing. Its membership is computed at once as of the
// last day computed, if any, so that its size shows before the next daily
// pass.
func (s *Segments) Define(ctx context.Context, scope Scope, code, name string, d Definition) (Segment, error) {
	if !codeRE.MatchString(code) {
		return Segment{}, coalition.Errorf(coalition.Invalid, "code", "must be 2 to 32 lowercase letters, digits or dashes, starting with a letter")
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return Segment{}, coalition.Errorf(coalition.Invalid, "name", "must be 1 to 200 characters")
	}
	body, err := json.Marshal(d)
	if err != nil {
		return Segment{}, err
	}
	var st stored
	var asOf time.Time
	var computed, changed bool
	err = s.tx.Run(ctx, func(tx pgx.Tx) error {
		changed = false
		if err := s.check(ctx, tx, d); err != nil {
			return err
		}
		now := s.clock().UTC()
		var id uuid.UUID
		var oldName string
		var oldBody []byte
		var retired *time.Time
		err := tx.QueryRow(ctx, `
			SELECT id, name, definition, retired_at FROM segments
			WHERE partner_id IS NOT DISTINCT FROM $1 AND code = $2`, scope.partnerArg(), code).Scan(&id, &oldName, &oldBody, &retired)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			id, changed = coalition.NewID(), true
			if _, err := tx.Exec(ctx, `
				INSERT INTO segments (id, partner_id, code, name, definition, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $6)`, id, scope.partnerArg(), code, name, string(body), now); err != nil {
				return fmt.Errorf("define segment %s: %w", code, err)
			}
		case err != nil:
			return fmt.Errorf("segment %s: %w", code, err)
		default:
			var old Definition
			if err := json.Unmarshal(oldBody, &old); err != nil {
				return fmt.Errorf("segment %s: definition: %w", code, err)
			}
			oldJSON, _ := json.Marshal(old)
			if oldName != name || string(oldJSON) != string(body) || retired != nil {
				changed = true
				if _, err := tx.Exec(ctx, `
					UPDATE segments SET name = $2, definition = $3, updated_at = $4, retired_at = NULL
					WHERE id = $1`, id, name, string(body), now); err != nil {
					return fmt.Errorf("redefine segment %s: %w", code, err)
				}
			}
		}
		st = stored{id: id, partner: scope.partnerArg(), code: code, def: d}
		asOf, computed, err = lastComputed(ctx, tx)
		return err
	})
	if err != nil {
		return Segment{}, err
	}
	if changed && computed {
		if err := s.storeMembership(ctx, st, asOf); err != nil {
			return Segment{}, err
		}
	}
	return s.get(ctx, st.id)
}

// Retire retires the segment of scope with the code: it keeps its row,
// loses its members and is computed no more. Retiring it again changes
// nothing.
func (s *Segments) Retire(ctx context.Context, scope Scope, code string) (Segment, error) {
	var id uuid.UUID
	err := s.tx.Run(ctx, func(tx pgx.Tx) error {
		var retired *time.Time
		err := tx.QueryRow(ctx, `
			SELECT id, retired_at FROM segments WHERE partner_id IS NOT DISTINCT FROM $1 AND code = $2`,
			scope.partnerArg(), code).Scan(&id, &retired)
		if errors.Is(err, pgx.ErrNoRows) {
			return coalition.Errorf(coalition.NotFound, "code", "no segment %q", code)
		}
		if err != nil || retired != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM segment_members WHERE segment_id = $1`, id); err != nil {
			return fmt.Errorf("retire segment %s: %w", code, err)
		}
		_, err = tx.Exec(ctx, `UPDATE segments SET retired_at = $2, size = 0 WHERE id = $1`, id, s.clock().UTC())
		return err
	})
	if err != nil {
		return Segment{}, err
	}
	return s.get(ctx, id)
}

const segmentColumns = `
	SELECT s.id, s.partner_id, COALESCE(p.code, ''), s.code, s.name, s.definition, s.created_at, s.updated_at,
	       s.retired_at IS NOT NULL, s.as_of, s.size
	FROM segments AS s LEFT JOIN partners AS p ON p.id = s.partner_id`

func scanSegment(r pgx.CollectableRow) (Segment, error) {
	var seg Segment
	var partner *uuid.UUID
	var body []byte
	var asOf *time.Time
	if err := r.Scan(&seg.ID, &partner, &seg.PartnerCode, &seg.Code, &seg.Name, &body, &seg.CreatedAt, &seg.UpdatedAt,
		&seg.Retired, &asOf, &seg.Size); err != nil {
		return seg, err
	}
	if partner != nil {
		p := coalition.PartnerID(*partner)
		seg.Partner = &p
	}
	if asOf != nil {
		seg.AsOf = *asOf
	}
	if err := json.Unmarshal(body, &seg.Definition); err != nil {
		return seg, fmt.Errorf("segment %s: definition: %w", seg.Code, err)
	}
	return seg, nil
}

func (s *Segments) get(ctx context.Context, id uuid.UUID) (Segment, error) {
	var seg Segment
	err := s.tx.Read(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, segmentColumns+` WHERE s.id = $1`, id)
		if err != nil {
			return err
		}
		seg, err = pgx.CollectExactlyOneRow(rows, scanSegment)
		return err
	})
	return seg, err
}

// List returns the segments of scope (nil: every segment, the coalition's
// and every partner's, for the operator), retired ones last, by code.
// partnerView withholds the size of a segment below MinCell that reads its
// customers' purchases elsewhere.
func (s *Segments) List(ctx context.Context, scope *Scope, partnerView bool) ([]Segment, error) {
	var out []Segment
	err := s.tx.Read(ctx, func(tx pgx.Tx) error {
		sql, args := segmentColumns, []any{}
		if scope != nil {
			sql += ` WHERE s.partner_id IS NOT DISTINCT FROM $1`
			args = append(args, scope.partnerArg())
		}
		rows, err := tx.Query(ctx, sql+` ORDER BY s.retired_at IS NOT NULL, p.code NULLS FIRST, s.code`, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanSegment)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	if partnerView {
		for i := range out {
			out[i] = ForPartner(out[i])
		}
	}
	return out, nil
}

// ForPartner is the segment as its partner may see it.
func ForPartner(seg Segment) Segment {
	if seg.Partner != nil && seg.Definition.ReadsOtherPartners() && seg.Size > 0 && seg.Size < MinCell {
		seg.Size, seg.Suppressed = 0, true
	}
	return seg
}

// Preview counts the members a definition would hold in scope as of the
// last day computed, writing nothing. FailedPrecondition before the first
// computation.
func (s *Segments) Preview(ctx context.Context, scope Scope, d Definition, partnerView bool) (Segment, error) {
	var seg Segment
	err := s.tx.Run(ctx, func(tx pgx.Tx) error {
		if err := s.check(ctx, tx, d); err != nil {
			return err
		}
		asOf, ok, err := lastComputed(ctx, tx)
		if err != nil {
			return err
		}
		if !ok {
			return coalition.Errorf(coalition.FailedPrecondition, "", "segments are computed after the first business day is cleared")
		}
		q := membersOf(scope, d, asOf)
		seg = Segment{Partner: scope.Partner, Definition: d, AsOf: asOf}
		return tx.QueryRow(ctx, `SELECT count(*) FROM (`+q.sql+`) AS q`, q.args...).Scan(&seg.Size)
	})
	if err != nil {
		return Segment{}, err
	}
	if partnerView {
		seg = ForPartner(seg)
	}
	return seg, nil
}

// Grid is the distribution of a scope's members over RFM scores: Cells[r-1][f-1]
// counts the members scored r on recency and f on frequency, Monetary[m-1]
// those scored m on monetary. Members without a purchase in the look-back
// are not scored and not counted.
type Grid struct {
	AsOf     time.Time
	Cells    [5][5]int64
	Monetary [5]int64
	Scored   int64
}

// Grid reads the RFM distribution of scope as of the last day computed
// (zero AsOf: never computed).
func (s *Segments) Grid(ctx context.Context, scope Scope) (Grid, error) {
	var g Grid
	err := s.tx.Read(ctx, func(tx pgx.Tx) error {
		g = Grid{}
		rows, err := tx.Query(ctx, `
			SELECT as_of, r, f, m, count(*) FROM member_rfm WHERE scope_id = $1 GROUP BY as_of, r, f, m`, scope.id())
		if err != nil {
			return err
		}
		var asOf time.Time
		var r, f, m int
		var n int64
		_, err = pgx.ForEachRow(rows, []any{&asOf, &r, &f, &m, &n}, func() error {
			if r < 1 || r > 5 || f < 1 || f > 5 || m < 1 || m > 5 {
				return fmt.Errorf("score out of range: %d %d %d", r, f, m)
			}
			g.AsOf = asOf
			g.Cells[r-1][f-1] += n
			g.Monetary[m-1] += n
			g.Scored += n
			return nil
		})
		if err != nil {
			return err
		}
		if g.AsOf.IsZero() {
			g.AsOf, _, err = lastComputed(ctx, tx)
		}
		return err
	})
	if err != nil {
		return Grid{}, fmt.Errorf("RFM grid: %w", err)
	}
	return g, nil
}
