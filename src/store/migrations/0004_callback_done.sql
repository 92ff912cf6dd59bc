-- A callback or message can be marked done from the supervisor's desk
-- (issue 17, decision 0037). Plain ADD COLUMNs that SQLite and PostgreSQL
-- both take; existing rows are pending (null). Once set, done_at and
-- done_by are never changed: marking done again leaves the first mark.

ALTER TABLE callbacks_and_messages ADD COLUMN done_at TEXT;   -- RFC 3339 UTC
ALTER TABLE callbacks_and_messages ADD COLUMN done_by TEXT;   -- who marked it: a supervisor, or "admin"
CREATE INDEX callbacks_done_at ON callbacks_and_messages (done_at);
