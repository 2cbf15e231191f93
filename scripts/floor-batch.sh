#!/usr/bin/env bash
# Prints a pgbench script that does, in one transaction, the database's part
# of a batch of SIZE accruals and nothing else: no server, no rules, no
# reads but the members' locks. scripts/bench-accrue.sh runs it (its floor
# workloads) at the batch size its accrue run reached, on two connections
# as the ledger's lane keeps two batches in flight: what the database could
# carry if the server cost nothing (docs/BENCHMARKS.md, "The database's
# floor").
#
#   scripts/floor-batch.sh SIZE rows     # what an accrual must write: its
#                                        # transaction, two entries, its lot,
#                                        # its idempotency record
#   scripts/floor-batch.sh SIZE writes   # what an accrual writes today: also
#                                        # its breakdown (two earn lines) and
#                                        # the running figures (member's day
#                                        # points and spend, open points, the
#                                        # partner's outstanding points)
#
# The tables are copies of the ledger's, with their indexes, in a schema
# "floor" of the coalition's database, which bench-accrue.sh makes:
# floor.members (k, id) numbers MEMBERS of the coalition's members from 0,
# floor.partners (k, id, issued_account_id) three partners from 0. pgbench
# is given -D members=N.
set -euo pipefail
size="${1:?usage: floor-batch.sh SIZE rows|writes}"
level="${2:?usage: floor-batch.sh SIZE rows|writes}"
case "$level" in rows | writes) ;; *) echo "floor-batch.sh: level is rows or writes, not $level" >&2; exit 2 ;; esac
[ "$size" -ge 1 ] 2>/dev/null || { echo "floor-batch.sh: SIZE is a positive number" >&2; exit 2; }

ks=""
for i in $(seq "$size"); do
  echo "\\set k$i random(0, :members - 1)"
  ks="$ks${ks:+, }:k$i"
done
echo '\set p random(0, 2)'
echo '\set shard random(0, 15)'
echo '\startpipeline'
echo 'BEGIN;'
# The members' locks, in the ledger's order (by id).
echo "SELECT id FROM public.members WHERE id = ANY (ARRAY (SELECT id FROM floor.members WHERE k IN ($ks))) ORDER BY id FOR UPDATE;"
# One accrual per member drawn (a member drawn twice accrues twice); ids in
# time order, as the ledger's UUIDv7 are.
accruals="SELECT (lpad(to_hex(2 * s), 16, '0') || substr(md5(s::text), 1, 16))::uuid AS tx,
            (lpad(to_hex(2 * s + 1), 16, '0') || substr(md5(s::text), 1, 16))::uuid AS lot,
            s, m.id AS member, p.id AS partner, p.issued_account_id AS issued
     FROM (SELECT nextval('floor.seq') AS s, k FROM unnest(ARRAY[$ks]::INT[]) AS k) AS d
     JOIN floor.members AS m ON m.k = d.k, floor.partners AS p WHERE p.k = :p"
ctes="a AS MATERIALIZED ($accruals),
  t AS (INSERT INTO floor.transactions (id, kind, partner_id, member_id, business_date, points, amount_minor, currency,
                                        order_id, rule_version, created_at)
        SELECT tx, 'earn', partner, member, current_date, 93, 186006, 'RUB', 'floor-' || s, 'rules/v1', now() FROM a),
  e AS (INSERT INTO floor.entries (transaction_id, seq, account_id, amount)
        SELECT tx, q, CASE q WHEN 0 THEN issued ELSE member END, CASE q WHEN 0 THEN -93 ELSE 93 END
        FROM a, generate_series(0, 1) AS q),
  l AS (INSERT INTO floor.lots (id, member_id, issuer_id, transaction_id, points, remaining, earned_at, spendable_from, expires_at)
        SELECT lot, member, partner, tx, 93, 93, now(), now(), now() + interval '365 days' FROM a)"
if [ "$level" = writes ]; then
  ctes="$ctes,
  el AS (INSERT INTO floor.earn_lines (transaction_id, seq, rule, ref, description, points, funder_id, lot_id)
         SELECT tx, q, CASE q WHEN 0 THEN 'base' ELSE 'tier' END, CASE q WHEN 0 THEN '' ELSE 'gold' END,
                '5% of the purchase (purchases from 1500.00)', 93, partner, lot
         FROM a, generate_series(0, 1) AS q),
  dp AS (INSERT INTO floor.member_day_points (member_id, partner_id, day, points)
         SELECT member, partner, current_date, 93 * count(*) FROM a GROUP BY member, partner
         ON CONFLICT (member_id, partner_id, day) DO UPDATE SET points = floor.member_day_points.points + excluded.points),
  ds AS (INSERT INTO floor.member_day_spend (member_id, day, spend_minor)
         SELECT member, current_date, 186006 * count(*) FROM a GROUP BY member
         ON CONFLICT (member_id, day) DO UPDATE SET spend_minor = floor.member_day_spend.spend_minor + excluded.spend_minor),
  op AS (INSERT INTO floor.member_open_points (member_id, points)
         SELECT member, 93 * count(*) FROM a GROUP BY member
         ON CONFLICT (member_id) DO UPDATE SET points = floor.member_open_points.points + excluded.points),
  po AS (INSERT INTO floor.partner_day_outstanding (partner_id, business_date, shard, points)
         SELECT partner, current_date, :shard::INT, 93 * count(*) FROM a GROUP BY partner
         ON CONFLICT (partner_id, business_date, shard) DO UPDATE SET points = floor.partner_day_outstanding.points + excluded.points)"
fi
# An idempotency record as long as an accrual's (its answer is ~840 bytes of JSON).
echo "WITH $ctes
INSERT INTO floor.idempotency_keys (partner_id, key, operation, request_hash, response, created_at)
SELECT partner, 'floor-' || s, 'accrue', sha256(s::text::bytea), convert_to(repeat('x', 840), 'UTF8'), now() FROM a;"
echo 'COMMIT;'
echo '\endpipeline'
