//! The `audit_log` table (migration 0003, decision 0038): supervisor
//! actions written in the writer's batches, beside call records, and read
//! newest first for `GET /api/v1/audit`.

use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Row, Transaction};

use super::StoreError;
use crate::audit::AuditEntry;

/// Most entries one read returns.
pub const MAX_LIMIT: u32 = 1_000;

/// Writes `entries` in the batch's transaction; an entry stored before
/// (a replayed spool) is left as it is.
pub(super) async fn write(
    tx: &mut Transaction<'static, Any>,
    entries: &[&AuditEntry],
) -> Result<(), StoreError> {
    for entry in entries {
        sqlx::query(
            "INSERT INTO audit_log (id, at, who, action, call_id, detail) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&entry.id)
        .bind(&entry.at)
        .bind(&entry.who)
        .bind(entry.action.as_str())
        .bind(entry.call_id.as_deref())
        .bind(entry.detail.to_string())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

fn entry(row: &AnyRow) -> Result<Option<AuditEntry>, sqlx::Error> {
    let action: String = row.try_get("action")?;
    let Ok(action) = action.parse() else {
        // Written by a newer release: not this one's to show.
        tracing::debug!(action = %action, "an audit entry with an unknown action was skipped");
        return Ok(None);
    };
    let detail: String = row.try_get("detail")?;
    Ok(Some(AuditEntry {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        who: row.try_get("who")?,
        action,
        call_id: row.try_get("call_id")?,
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
    }))
}

/// Entries newest first, at most `limit`, of one call when `call_id` is
/// given.
pub(super) async fn read(
    pool: &AnyPool,
    limit: u32,
    call_id: Option<&str>,
) -> Result<Vec<AuditEntry>, StoreError> {
    let limit = i64::from(limit.clamp(1, MAX_LIMIT));
    let rows = match call_id {
        Some(call_id) => {
            sqlx::query(
                "SELECT id, at, who, action, call_id, detail FROM audit_log \
                 WHERE call_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
            )
            .bind(call_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }
        None => {
            sqlx::query(
                "SELECT id, at, who, action, call_id, detail FROM audit_log \
                 ORDER BY at DESC, id DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        }
    };
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        if let Some(entry) = entry(row)? {
            entries.push(entry);
        }
    }
    Ok(entries)
}
