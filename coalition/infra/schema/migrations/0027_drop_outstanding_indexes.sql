-- transactions_partner_window (0002), transactions_partner_bonus (0005)
-- and lot_consumptions_issuer_window (0002) served one read: a capped
-- partner's outstanding points, summed from its earns, bonuses and
-- consumptions since the last clearing. The running figure
-- partner_day_outstanding (0026) took that read; every other read of
-- these tables by window leads with the business date
-- (transactions_window, lot_consumptions_window: clearing, analytics,
-- ledger check). One index entry fewer for every earn, bonus and
-- consumption.
DROP INDEX IF EXISTS transactions_partner_window;
DROP INDEX IF EXISTS transactions_partner_bonus;
DROP INDEX IF EXISTS lot_consumptions_issuer_window;
