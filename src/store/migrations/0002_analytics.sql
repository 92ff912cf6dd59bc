-- What the analytics group and measure by (issue 17, decision 0036),
-- kept as columns so that one SQL text serves SQLite and PostgreSQL:
-- neither JSON nor time arithmetic is written the same way in both.
-- Filled by every write from now on; the backfill that follows this file
-- (one per database, the only SQL that differs) fills older rows.

ALTER TABLE calls ADD COLUMN trunk TEXT;              -- routes' trunk: a [[sip.trunks]] name, twilio, webrtc
ALTER TABLE calls ADD COLUMN agent_version TEXT;      -- versions' "agent" hash
ALTER TABLE escalations ADD COLUMN requested_at TEXT; -- when the agent asked for a person
ALTER TABLE escalations ADD COLUMN wait_ms BIGINT;    -- requested_at (else ring_at) to answered_at, ms; null: nobody answered
