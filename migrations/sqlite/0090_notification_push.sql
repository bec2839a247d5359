-- Live push of in-app notifications: a row is pushed to its user's hub channel
-- once, by whichever node claims it first (pushed_at set by a conditional update).
ALTER TABLE notifications ADD COLUMN pushed_at BIGINT;
-- Rows from before this migration are in the feed already; never push them.
UPDATE notifications SET pushed_at = created_at;
CREATE INDEX notifications_unpushed ON notifications (created_at) WHERE pushed_at IS NULL;
