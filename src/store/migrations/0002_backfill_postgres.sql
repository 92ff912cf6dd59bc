-- Decision 0036: the analytics columns for rows written before them.
UPDATE calls SET agent_version = versions::jsonb ->> 'agent'
    WHERE jsonb_typeof(versions::jsonb -> 'agent') = 'string';
UPDATE escalations SET requested_at = detail::jsonb ->> 'requested_at'
    WHERE jsonb_typeof(detail::jsonb -> 'requested_at') = 'string';
UPDATE escalations
    SET wait_ms = GREATEST(0, ROUND(EXTRACT(EPOCH FROM (answered_at::timestamptz - COALESCE(requested_at, ring_at)::timestamptz)) * 1000))::BIGINT
    WHERE answered_at IS NOT NULL AND COALESCE(requested_at, ring_at) IS NOT NULL;
