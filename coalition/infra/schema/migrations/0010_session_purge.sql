-- The daily job deletes member links some time after they lapse (see
-- sessions.Purge); web_sessions already has its expiry index.
CREATE INDEX member_links_expiry ON member_links (expires_at);
