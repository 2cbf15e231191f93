-- A partner's outstanding points (issued, not yet spent, expired or taken
-- back) as a running figure: what each business day added, its earns and
-- bonuses less what was consumed of its lots. A capped partner's accrual
-- reads the last cleared figure plus the rows of the days since, a few
-- rows, where it summed every earn, bonus and consumption of the partner
-- since the last clearing, which grew with the day's traffic (a capped
-- partner's accruals ran at a quarter of the others' rate;
-- docs/BENCHMARKS.md, "Planned once, fewer foreign keys, the partner's
-- standing").
--
-- Written in the transaction of every posting that issues or consumes
-- points (package ledger, writes.queue), one upsert per transaction. A
-- transaction adds to one of several shards of the (partner, day), so
-- that concurrent postings of one partner do not queue on one row; the
-- shards are summed when read. No foreign keys: a running figure on the
-- posting path. `ledger check` compares it with the postings.
CREATE TABLE partner_day_outstanding (
    partner_id    UUID NOT NULL,
    business_date DATE NOT NULL,
    shard         INT NOT NULL,
    points        BIGINT NOT NULL,
    PRIMARY KEY (partner_id, business_date, shard)
);

INSERT INTO partner_day_outstanding (partner_id, business_date, shard, points)
SELECT partner_id, business_date, 0, SUM(points)
FROM (SELECT partner_id, business_date, points FROM transactions WHERE kind IN ('earn', 'bonus')
      UNION ALL
      SELECT issuer_id, business_date, -points FROM lot_consumptions) AS issued
GROUP BY partner_id, business_date;
