-- The call records (issue 16, decision 0025). One file for SQLite and
-- PostgreSQL alike: only types both read the same way (TEXT, BIGINT,
-- DOUBLE PRECISION), times as RFC 3339 UTC text (sortable as text) and
-- JSON as text. Every table has a natural key so that a replayed record
-- (the spool after an outage) is inserted once: writes are
-- INSERT ... ON CONFLICT DO NOTHING.

CREATE TABLE calls (
    id                  TEXT PRIMARY KEY,        -- warmline's UUIDv7
    provider_id         TEXT NOT NULL,           -- Twilio CallSid, SIP Call-ID;tag
    ingress             TEXT NOT NULL,           -- twilio | sip | webrtc
    agent               TEXT,
    from_party          TEXT NOT NULL,
    to_party            TEXT NOT NULL,
    started_at          TEXT NOT NULL,
    ended_at            TEXT NOT NULL,
    duration_ms         BIGINT NOT NULL,
    outcome             TEXT NOT NULL,           -- contained | escalated | transferred | abandoned | failed
    end_reason          TEXT NOT NULL,           -- call.ended's reason
    end_detail          TEXT,
    loss_pct            DOUBLE PRECISION,        -- caller audio lost, % (null until the leg reports it)
    jitter_ms           DOUBLE PRECISION,        -- interarrival jitter, ms (same)
    barge_ins           BIGINT,
    false_interruptions BIGINT,
    summary             TEXT,
    recording_url       TEXT,
    csat                BIGINT,
    versions            TEXT NOT NULL,           -- JSON object: what -> content hash
    omitted             BIGINT NOT NULL,
    stored_at           TEXT NOT NULL
);
CREATE INDEX calls_started_at ON calls (started_at);

CREATE TABLE transcript_items (
    call_id     TEXT NOT NULL REFERENCES calls (id),
    seq         BIGINT NOT NULL,
    item_id     TEXT NOT NULL,
    speaker     TEXT NOT NULL,                   -- agent | caller
    text        TEXT NOT NULL,                   -- as heard
    start_ms    BIGINT NOT NULL,
    end_ms      BIGINT,
    truncated   BIGINT NOT NULL,                 -- 1: cut at a barge-in to what was heard
    at          TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
);

CREATE TABLE tool_calls (
    call_id        TEXT NOT NULL REFERENCES calls (id),
    seq            BIGINT NOT NULL,
    tool_call_id   TEXT NOT NULL,
    name           TEXT NOT NULL,
    arguments      TEXT NOT NULL,                -- JSON
    result         TEXT NOT NULL,                -- ok, an error kind, cancelled
    latency_ms     BIGINT,
    approval       TEXT,                         -- approved | denied | timeout (null: no gate)
    approved_by    TEXT,
    at             TEXT NOT NULL,
    offset_ms      BIGINT NOT NULL,
    PRIMARY KEY (call_id, seq)
);

CREATE TABLE escalations (
    call_id      TEXT NOT NULL REFERENCES calls (id),
    seq          BIGINT NOT NULL,
    reason       TEXT,
    summary      TEXT,
    next_action  TEXT,
    rep          TEXT,
    ring_at      TEXT,
    answered_at  TEXT,
    outcome      TEXT,
    detail       TEXT NOT NULL,                  -- the whole escalation JSON
    PRIMARY KEY (call_id, seq)
);

CREATE TABLE callbacks_and_messages (
    call_id     TEXT NOT NULL REFERENCES calls (id),
    seq         BIGINT NOT NULL,
    kind        TEXT NOT NULL,                   -- callback | message
    number      TEXT,
    message     TEXT,
    created_at  TEXT NOT NULL,
    detail      TEXT NOT NULL,                   -- the whole JSON
    PRIMARY KEY (call_id, seq)
);
CREATE INDEX callbacks_created_at ON callbacks_and_messages (created_at);

CREATE TABLE csat (
    call_id      TEXT PRIMARY KEY REFERENCES calls (id),
    score        BIGINT NOT NULL,                -- 1..5
    answered_at  TEXT NOT NULL
);

CREATE TABLE versions (
    hash        TEXT PRIMARY KEY,                -- content hash of the definition
    kind        TEXT NOT NULL,                   -- agent | tools | ...
    body        TEXT,                            -- the definition (null until given)
    first_seen  TEXT NOT NULL
);
