-- The audit log of supervisor actions (issue 17, decision 0038): who did
-- what, when, to which call. Same rules as 0001: types SQLite and
-- PostgreSQL read alike, times as RFC 3339 UTC text, JSON as text, and a
-- natural key (the entry's UUIDv7, minted when the action was taken) so
-- that a replayed spool inserts each entry once.
--
-- Values of tool_calls.approval written from this release on: approved |
-- rejected | timeout | busy; approved_by is the supervisor's name (or
-- "admin token").

CREATE TABLE audit_log (
    id        TEXT PRIMARY KEY,        -- UUIDv7, sortable by time
    at        TEXT NOT NULL,           -- when the server took the action
    who       TEXT NOT NULL,           -- the session's display name, or "admin token"
    action    TEXT NOT NULL,           -- login | logout | listen | coach | join_as_rep | take_over | whisper | hang_up | approve | reject
    call_id   TEXT,                    -- the call acted on (no foreign key: the call's record comes when it ends)
    detail    TEXT NOT NULL            -- JSON object
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_call ON audit_log (call_id, at);
