//! The writes: one transaction per batch, every row
//! `INSERT … ON CONFLICT DO NOTHING` on its natural key (a call's id; a
//! child's call id and position), so that writing a record twice (a
//! replayed spool, a retried batch) stores it once.

use sqlx::{Any, AnyPool, Transaction};

use super::record::{text_field, Record, StoredCall};
use super::StoreError;

fn now() -> String {
    crate::call::tools::rfc3339(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// How long the caller waited for a person: `from` (the request, else
/// the ring) to `answered` in ms, never negative; none unless both are
/// RFC 3339 times (decision 0036).
fn wait_ms(from: Option<&str>, answered: Option<&str>) -> Option<i64> {
    let from: jiff::Timestamp = from?.parse().ok()?;
    let answered: jiff::Timestamp = answered?.parse().ok()?;
    Some((answered.as_millisecond() - from.as_millisecond()).max(0))
}

/// Writes `records` (calls and audit entries) in one transaction.
pub(super) async fn write_records(pool: &AnyPool, records: &[Record]) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    let stored_at = now();
    let mut entries = Vec::new();
    for record in records {
        match record {
            Record::Call(call) => write_call(&mut tx, call, &stored_at).await?,
            Record::Audit { audit } => entries.push(audit),
        }
    }
    super::audit::write(&mut tx, &entries).await?;
    tx.commit().await?;
    Ok(())
}

/// Writes `calls` in one transaction.
pub(super) async fn write_batch(pool: &AnyPool, calls: &[StoredCall]) -> Result<(), StoreError> {
    if calls.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    let stored_at = now();
    for call in calls {
        write_call(&mut tx, call, &stored_at).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn write_call(
    tx: &mut Transaction<'static, Any>,
    call: &StoredCall,
    stored_at: &str,
) -> Result<(), StoreError> {
    let versions = serde_json::to_string(&call.versions).unwrap_or_else(|_| "{}".into());
    let inserted = sqlx::query(
        "INSERT INTO calls (id, provider_id, ingress, agent, from_party, to_party, started_at, \
         ended_at, duration_ms, outcome, end_reason, end_detail, loss_pct, jitter_ms, barge_ins, \
         false_interruptions, summary, recording_url, csat, versions, omitted, stored_at, trunk, \
         agent_version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
         $19, $20, $21, $22, $23, $24) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&call.id)
    .bind(&call.provider_id)
    .bind(&call.ingress)
    .bind(call.agent.as_deref())
    .bind(&call.from)
    .bind(&call.to)
    .bind(&call.started_at)
    .bind(&call.ended_at)
    .bind(int(call.duration_ms))
    .bind(call.outcome.as_str())
    .bind(&call.end_reason)
    .bind(call.end_detail.as_deref())
    .bind(call.loss_pct)
    .bind(call.jitter_ms)
    .bind(i64::from(call.barge_ins))
    .bind(i64::from(call.false_interruptions))
    .bind(call.summary.as_deref())
    .bind(call.recording_url.as_deref())
    .bind(call.csat.map(i64::from))
    .bind(versions)
    .bind(int(call.omitted))
    .bind(stored_at)
    .bind(call.trunk.as_deref())
    .bind(call.versions.get("agent").map(String::as_str))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        // Stored before (a replay): its children were written in the same
        // transaction, so there is nothing left to add.
        return Ok(());
    }
    for (seq, line) in call.transcript.iter().enumerate() {
        sqlx::query(
            "INSERT INTO transcript_items (call_id, seq, item_id, speaker, text, start_ms, end_ms, \
             truncated, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (call_id, seq) DO NOTHING",
        )
        .bind(&call.id)
        .bind(seq as i64)
        .bind(&line.item_id)
        .bind(&line.speaker)
        .bind(&line.text)
        .bind(int(line.start_ms))
        .bind(line.end_ms.map(int))
        .bind(i64::from(line.truncated))
        .bind(&line.at)
        .execute(&mut **tx)
        .await?;
    }
    for (seq, tool) in call.tool_calls.iter().enumerate() {
        sqlx::query(
            "INSERT INTO tool_calls (call_id, seq, tool_call_id, name, arguments, result, \
             latency_ms, approval, approved_by, at, offset_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (call_id, seq) DO NOTHING",
        )
        .bind(&call.id)
        .bind(seq as i64)
        .bind(&tool.id)
        .bind(&tool.name)
        .bind(tool.arguments.to_string())
        .bind(&tool.result)
        .bind(tool.latency_ms.map(int))
        .bind(tool.approval.as_deref())
        .bind(tool.approved_by.as_deref())
        .bind(&tool.at)
        .bind(int(tool.offset_ms))
        .execute(&mut **tx)
        .await?;
    }
    if let Some(escalation) = &call.escalation {
        let field = |key: &str| text_field(escalation, key);
        let requested_at = field("requested_at");
        let answered_at = field("answered_at");
        let wait = wait_ms(
            requested_at.as_deref().or(field("ring_at").as_deref()),
            answered_at.as_deref(),
        );
        sqlx::query(
            "INSERT INTO escalations (call_id, seq, reason, summary, next_action, rep, ring_at, \
             answered_at, outcome, detail, requested_at, wait_ms) \
             VALUES ($1, 0, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (call_id, seq) DO NOTHING",
        )
        .bind(&call.id)
        .bind(field("reason"))
        .bind(field("summary"))
        .bind(field("next_action"))
        .bind(field("rep"))
        .bind(field("ring_at"))
        .bind(answered_at)
        .bind(field("outcome"))
        .bind(escalation.to_string())
        .bind(requested_at)
        .bind(wait)
        .execute(&mut **tx)
        .await?;
    }
    for (seq, (kind, item)) in call.callbacks().into_iter().enumerate() {
        let created_at = text_field(item, "at").unwrap_or_else(|| call.ended_at.clone());
        sqlx::query(
            "INSERT INTO callbacks_and_messages (call_id, seq, kind, number, message, created_at, \
             detail) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (call_id, seq) DO NOTHING",
        )
        .bind(&call.id)
        .bind(seq as i64)
        .bind(kind)
        .bind(text_field(item, "number"))
        .bind(text_field(item, "message"))
        .bind(created_at)
        .bind(item.to_string())
        .execute(&mut **tx)
        .await?;
    }
    if let Some(score) = call.csat {
        sqlx::query(
            "INSERT INTO csat (call_id, score, answered_at) VALUES ($1, $2, $3) \
             ON CONFLICT (call_id) DO NOTHING",
        )
        .bind(&call.id)
        .bind(i64::from(score))
        .bind(&call.ended_at)
        .execute(&mut **tx)
        .await?;
    }
    for (kind, hash) in &call.versions {
        sqlx::query(
            "INSERT INTO versions (hash, kind, body, first_seen) VALUES ($1, $2, NULL, $3) \
             ON CONFLICT (hash) DO NOTHING",
        )
        .bind(hash)
        .bind(kind)
        .bind(stored_at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Records a definition under its hash; a body given later fills a row
/// that a call's record created without one.
pub(super) async fn put_version(
    pool: &AnyPool,
    hash: &str,
    kind: &str,
    body: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO versions (hash, kind, body, first_seen) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (hash) DO UPDATE SET body = COALESCE(versions.body, excluded.body)",
    )
    .bind(hash)
    .bind(kind)
    .bind(body)
    .bind(now())
    .execute(pool)
    .await?;
    Ok(())
}
