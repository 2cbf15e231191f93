package offers

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
)

// MemberOffer is a personal offer as its member sees it.
type MemberOffer struct {
	Code, Name string
	// Gives says what the offer gives, in words.
	Gives string
	// PartnerNames are where it applies (empty: at any partner).
	PartnerNames []string
	Ends         time.Time
	// Coupons are the member's own coupons of the offer with uses left
	// (canonical codes).
	Coupons []string
}

// ForMember is the offers running now that target the member, and those
// of which the member holds a coupon of their own with uses left, by code.
func (s *Store) ForMember(ctx context.Context, member coalition.MemberID) ([]MemberOffer, error) {
	now := s.now()
	var out []MemberOffer
	err := s.tx.Read(ctx, func(tx pgx.Tx) error {
		out = nil
		byCode := map[string]*MemberOffer{}
		var terms []Terms
		add := func(t Terms) *MemberOffer {
			if o, ok := byCode[t.Code]; ok {
				return o
			}
			terms = append(terms, t)
			o := &MemberOffer{Code: t.Code, Name: t.Name, Gives: t.Gives(), Ends: t.Ends}
			byCode[t.Code] = o
			return o
		}
		rows, err := tx.Query(ctx, eligibleSQL, member, now)
		if err != nil {
			return err
		}
		for rows.Next() {
			t, err := scanTerms(rows)
			if err != nil {
				rows.Close()
				return err
			}
			add(t)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `
			SELECT `+termsColumns+`, c.code
			FROM coupons AS c JOIN offers AS o ON o.id = c.offer_id
			WHERE c.member_id = $1 AND c.uses < c.max_uses AND `+running+`
			ORDER BY o.code, c.created_at, c.seq`, member, now)
		if err != nil {
			return err
		}
		for rows.Next() {
			var code string
			t, err := scanTerms(rows, &code)
			if err != nil {
				rows.Close()
				return err
			}
			o := add(t)
			o.Coupons = append(o.Coupons, code)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var codes []string
		for _, t := range terms {
			codes = append(codes, t.Partners...)
		}
		names := map[string]string{}
		if len(codes) > 0 {
			rows, err := tx.Query(ctx, `SELECT code, name FROM partners WHERE code = ANY($1)`, codes)
			if err != nil {
				return err
			}
			var code, name string
			if _, err := pgx.ForEachRow(rows, []any{&code, &name}, func() error {
				names[code] = name
				return nil
			}); err != nil {
				return err
			}
		}
		for _, t := range terms {
			o := byCode[t.Code]
			for _, p := range t.Partners {
				o.PartnerNames = append(o.PartnerNames, names[p])
			}
			out = append(out, *o)
		}
		slices.SortFunc(out, func(a, b MemberOffer) int {
			if a.Code < b.Code {
				return -1
			}
			if a.Code > b.Code {
				return 1
			}
			return 0
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("offers of member %s: %w", member, err)
	}
	return out, nil
}
