-- Decision 0036: the analytics columns for rows written before them.
UPDATE calls SET agent_version = json_extract(versions, '$.agent')
    WHERE json_valid(versions) AND json_type(versions, '$.agent') = 'text';
UPDATE escalations SET requested_at = json_extract(detail, '$.requested_at')
    WHERE json_valid(detail) AND json_type(detail, '$.requested_at') = 'text';
UPDATE escalations
    SET wait_ms = MAX(0, CAST(ROUND((julianday(answered_at) - julianday(COALESCE(requested_at, ring_at))) * 86400000.0) AS INTEGER))
    WHERE answered_at IS NOT NULL AND COALESCE(requested_at, ring_at) IS NOT NULL
      AND julianday(answered_at) IS NOT NULL AND julianday(COALESCE(requested_at, ring_at)) IS NOT NULL;
