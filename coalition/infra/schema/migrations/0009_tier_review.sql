-- The daily tier review reads the members whose tier was reviewed longest
-- ago, a batch at a time: by index, not by a scan of every member's tier.
CREATE INDEX member_tiers_review ON member_tiers (reviewed_at, member_id);
