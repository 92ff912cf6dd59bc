//! A browser joining a live call (decision 0024): the `join` message of
//! docs/WEBRTC.md. The admin token or a supervisor's session token
//! (decision 0038) travels in the message (a browser cannot set a header
//! on a WebSocket, and the token never goes in a URL); a wrong one spends
//! the admin routes' failure bucket. The call is found in the live-call
//! registry; the leg is linked to the call's room through its
//! `CallHandle`, so its edge task runs on the call's own worker. A join
//! that went through is recorded in the audit log with who joined.

use tokio::sync::mpsc;

use super::leg::Control;
use super::signal::{JoinRole, ServerMessage};
use super::{accept_offer, WebRtcError, WebRtcService};
use crate::audit::Action;
use crate::call::registry::CallId;

/// A `join` message.
#[derive(Debug)]
pub(super) struct Join {
    pub(super) call_id: String,
    pub(super) role: JoinRole,
    pub(super) token: String,
    pub(super) sdp: String,
    /// A rep leg that replaces the agent (a supervisor takes over).
    pub(super) take_over: bool,
}

/// Checks the token, finds the call, accepts the offer and links the leg;
/// returns the SDP answer.
pub(super) async fn join_call(
    service: &WebRtcService,
    join: Join,
    control: mpsc::Receiver<Control>,
    to_page: mpsc::Sender<ServerMessage>,
) -> Result<String, WebRtcError> {
    let actor = match service
        .admin
        .check_token(&join.token, std::time::SystemTime::now())
    {
        Ok(actor) => actor,
        Err(e) => {
            return Err(match service.admin.refused() {
                Some(retry) => WebRtcError::TooManyRefused(retry.as_secs().max(1)),
                None => WebRtcError::Unauthorized(e),
            })
        }
    };
    // Only a leg everyone hears can replace the agent: a monitor or coach
    // taking over would leave the caller talking to nobody.
    if join.take_over && join.role != JoinRole::Rep {
        return Err(WebRtcError::TakeOverRole);
    }
    let unknown = || WebRtcError::NoSuchCall(join.call_id.chars().take(64).collect());
    let id: CallId = join.call_id.parse().map_err(|_| unknown())?;
    let handle = service
        .setup
        .registry
        .as_ref()
        .and_then(|r| r.handle(&id))
        .ok_or_else(unknown)?;
    let (answer, parts) = accept_offer(service, &join.sdp, control, to_page)?;
    let leg = handle
        .attach(join.role.into(), super::leg::link(parts))
        .await
        .map_err(WebRtcError::Join)?;
    if join.take_over {
        // The leg is in first, so the caller is never left alone: the
        // agent fades out as the supervisor is heard.
        if let Err(e) = handle.detach_agent().await {
            let _ = handle.detach(leg).await;
            return Err(WebRtcError::Join(e));
        }
    }
    tracing::info!(call_id = %id, leg = leg.0, role = ?join.role, take_over = join.take_over, "a browser joined a live call");
    let action = match (join.role, join.take_over) {
        (JoinRole::Monitor, _) => Action::Listen,
        (JoinRole::Coach, _) => Action::Coach,
        (JoinRole::Rep, true) => Action::TakeOver,
        (JoinRole::Rep, false) => Action::JoinAsRep,
    };
    service.audit.record(
        &actor,
        action,
        Some(&id.to_string()),
        serde_json::json!({ "leg": leg.0 }),
    );
    Ok(answer)
}
