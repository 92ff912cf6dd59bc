//! [`RoomControl`] for a live call (decision 0029): the escalation's
//! actions carried out through the call's [`CallHandle`] (the room of
//! legs, decisions 0021 and 0024), and [`Rooms`] on the live-call
//! registry (0022).
//!
//! - **Hold**: a [`HoldFrames`] is the room's hold source and
//!   [`RoutePolicy::brief`] is in force from the first wait or ring: the
//!   caller hears only the hold audio and is heard by nobody, the agent is
//!   sidelined (its silence clocks stand still).
//! - **The rep's leg** comes from [`RepMedia`]: the rep's softphone's
//!   offer, made into a linked leg by the ingress, attached with the role
//!   `rep`.
//! - **The brief** keeps the `brief` table (the agent heard by the rep
//!   only) and ends when the agent's answer to the tool result has played.
//! - **The bridge** stops the hold audio and goes back to the `normal`
//!   table; the agent leaves the room (`close`) or stays muted and never
//!   asked to speak (`listen`).
//! - **Hand-back** detaches the rep's leg; the agent comes back (or, still
//!   in the room, is given the note) and answers.
//!
//! Every command is bounded: [`ROOM_WAIT`] for the call to carry it out
//! ([`RoomError::Busy`] past it), [`ATTACH_WAIT`] for the rep's audio.
//! The brief, the summary and the end are waits the escalation time-boxes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::card::{CallSummary, CardLine, CardRecord};
use super::hold::{HoldAnnouncer, HoldFrames, HoldPrompts};
use super::presence::RepId;
use super::rep_media::RepMedia;
use super::room::{CallSnapshot, RoomControl, RoomError, Rooms};
use crate::call::registry::{CallHandle, CommandError, LegId, LegRole, SharedRegistry};
use crate::config::AgentAfterBridge;
use crate::media::mixer::{Role, RoutePolicy, Speaker};
use crate::model::ConversationItem;

/// Longest a room command may take, queueing included.
pub const ROOM_WAIT: Duration = Duration::from_secs(2);
/// Longest the room waits for the rep's softphone to offer its audio
/// after `accept` (within the escalation's 10 s to connect).
pub const ATTACH_WAIT: Duration = Duration::from_secs(8);

/// The rooms of the calls in the live-call registry.
#[derive(Clone)]
pub struct LiveRooms {
    registry: SharedRegistry,
    prompts: Arc<HoldPrompts>,
    media: Arc<RepMedia>,
}

impl std::fmt::Debug for LiveRooms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveRooms").finish_non_exhaustive()
    }
}

impl LiveRooms {
    /// Rooms of `registry`'s calls, holding callers with `prompts`, with
    /// reps' audio from `media`.
    pub fn new(
        registry: SharedRegistry,
        prompts: Arc<HoldPrompts>,
        media: Arc<RepMedia>,
    ) -> LiveRooms {
        LiveRooms {
            registry,
            prompts,
            media,
        }
    }
}

impl Rooms for LiveRooms {
    fn room(&self, call_id: &str) -> Option<Arc<dyn RoomControl>> {
        let id = call_id.parse().ok()?;
        let handle = self.registry.handle(&id)?;
        Some(Arc::new(LiveRoom {
            call_id: call_id.to_owned(),
            handle,
            prompts: self.prompts.clone(),
            media: self.media.clone(),
            state: Arc::default(),
        }))
    }
}

/// What the room remembers between commands.
#[derive(Debug, Default)]
struct State {
    /// The rep's leg, once attached.
    rep_leg: Option<LegId>,
    /// The hold source's announcer while the caller is on hold.
    hold: Option<HoldAnnouncer>,
    /// The agent left at the bridge.
    agent_out: bool,
}

/// One live call's room.
struct LiveRoom {
    call_id: String,
    handle: CallHandle,
    prompts: Arc<HoldPrompts>,
    media: Arc<RepMedia>,
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

fn room_error(e: CommandError) -> RoomError {
    match e {
        CommandError::Busy => RoomError::Busy,
        CommandError::Ended => RoomError::Ended,
        other => RoomError::RepLeg(other.to_string()),
    }
}

/// Runs `work` within [`ROOM_WAIT`].
async fn bounded<T>(
    work: impl std::future::Future<Output = Result<T, CommandError>>,
) -> Result<T, RoomError> {
    match tokio::time::timeout(ROOM_WAIT, work).await {
        Ok(done) => done.map_err(room_error),
        Err(_) => Err(RoomError::Busy),
    }
}

/// The `normal` table with the agent heard by nobody: it listens.
fn agent_listens() -> RoutePolicy {
    let mut policy = RoutePolicy::normal();
    for listener in Role::ALL {
        policy.set(listener, Speaker::Role(Role::Agent), false);
    }
    policy
}

/// Puts the caller on hold (once): the hold source and the `brief` table.
async fn hold(
    handle: &CallHandle,
    state: &Mutex<State>,
    prompts: Arc<HoldPrompts>,
) -> Result<HoldAnnouncer, CommandError> {
    if let Some(announcer) = lock(state).hold.clone() {
        return Ok(announcer);
    }
    let (frames, announcer) = HoldFrames::new(prompts);
    handle.set_hold(Some(Box::new(frames))).await?;
    handle.set_routing(RoutePolicy::brief()).await?;
    handle.sideline(true, false).await?;
    lock(state).hold = Some(announcer.clone());
    Ok(announcer)
}

/// Back to the `normal` table, no hold audio, the agent at the front.
async fn unhold(handle: &CallHandle, state: &Mutex<State>) -> Result<(), CommandError> {
    lock(state).hold = None;
    handle.set_hold(None).await?;
    handle.set_routing(RoutePolicy::normal()).await?;
    handle.sideline(false, false).await
}

/// Detaches the rep's leg if it is in.
async fn drop_rep(handle: &CallHandle, state: &Mutex<State>) -> Result<(), CommandError> {
    let leg = lock(state).rep_leg.take();
    match leg {
        // A leg whose browser left was detached by the room already.
        Some(leg) => match handle.detach(leg).await {
            Err(CommandError::Room(_)) | Ok(()) => Ok(()),
            Err(e) => Err(e),
        },
        None => Ok(()),
    }
}

/// The card's lines and records from the conversation.
fn card_of(items: &[ConversationItem]) -> CallSnapshot {
    let mut snapshot = CallSnapshot::default();
    let mut names = std::collections::HashMap::new();
    for item in items {
        match item {
            ConversationItem::CallerText(text) => snapshot.transcript.push(CardLine {
                who: "caller".into(),
                text: text.clone(),
            }),
            ConversationItem::AgentText(text) => snapshot.transcript.push(CardLine {
                who: "agent".into(),
                text: text.clone(),
            }),
            ConversationItem::FunctionCall { call_id, name, .. } => {
                names.insert(call_id.as_str(), name.as_str());
            }
            ConversationItem::FunctionOutput { call_id, output } => {
                let Some(&tool) = names.get(call_id.as_str()) else {
                    continue;
                };
                // The transfer's own tool and the hang-up are no records.
                if matches!(tool, "escalate_to_human" | "end_call") {
                    continue;
                }
                let result = serde_json::from_str(output)
                    .unwrap_or_else(|_| serde_json::Value::String(output.clone()));
                snapshot.records.push(CardRecord {
                    tool: tool.to_owned(),
                    result,
                });
            }
            ConversationItem::Context(_) => {}
        }
    }
    snapshot
}

impl RoomControl for LiveRoom {
    fn snapshot(&self) -> BoxFuture<'static, Result<CallSnapshot, RoomError>> {
        let handle = self.handle.clone();
        Box::pin(async move {
            let items = bounded(handle.snapshot()).await?;
            Ok(card_of(&items))
        })
    }

    fn summarize(&self) -> BoxFuture<'static, Result<CallSummary, RoomError>> {
        let handle = self.handle.clone();
        Box::pin(async move {
            let text = handle.summarize().await.map_err(room_error)?;
            let text = text.ok_or_else(|| RoomError::Model("the session cannot answer".into()))?;
            CallSummary::parse(&text)
                .ok_or_else(|| RoomError::Model("the summary was not the JSON asked for".into()))
        })
    }

    fn hold_caller(&self) -> BoxFuture<'static, Result<(), RoomError>> {
        let (handle, state, prompts) = (
            self.handle.clone(),
            self.state.clone(),
            self.prompts.clone(),
        );
        Box::pin(async move { bounded(hold(&handle, &state, prompts)).await.map(|_| ()) })
    }

    fn announce_position(&self, position: usize) -> BoxFuture<'static, Result<(), RoomError>> {
        let (handle, state, prompts) = (
            self.handle.clone(),
            self.state.clone(),
            self.prompts.clone(),
        );
        Box::pin(async move {
            let announcer = bounded(hold(&handle, &state, prompts)).await?;
            announcer.announce(position);
            Ok(())
        })
    }

    fn attach_rep(&self, rep: &RepId) -> BoxFuture<'static, Result<(), RoomError>> {
        let (handle, state, media) = (self.handle.clone(), self.state.clone(), self.media.clone());
        let (rep, call_id) = (rep.clone(), self.call_id.clone());
        Box::pin(async move {
            let link = media
                .take(&rep, &call_id, ATTACH_WAIT)
                .await
                .ok_or_else(|| {
                    RoomError::RepLeg("the rep's softphone sent no audio offer in time".into())
                })?;
            let leg = bounded(handle.attach(LegRole::Rep, link)).await?;
            tracing::info!(%rep, call = %call_id, leg = leg.0, "the rep's audio joined the call");
            lock(&state).rep_leg = Some(leg);
            Ok(())
        })
    }

    fn brief(&self, _rep: &RepId) -> BoxFuture<'static, Result<(), RoomError>> {
        let (handle, state, prompts) = (
            self.handle.clone(),
            self.state.clone(),
            self.prompts.clone(),
        );
        Box::pin(async move {
            bounded(hold(&handle, &state, prompts)).await?;
            // The agent's answer to `connected` is the brief.
            handle.agent_turn_done().await.map_err(room_error)
        })
    }

    fn bridge(
        &self,
        _rep: &RepId,
        agent: AgentAfterBridge,
    ) -> BoxFuture<'static, Result<(), RoomError>> {
        let (handle, state) = (self.handle.clone(), self.state.clone());
        Box::pin(bounded(async move {
            lock(&state).hold = None;
            handle.set_hold(None).await?;
            match agent {
                AgentAfterBridge::Close => {
                    handle.set_routing(RoutePolicy::normal()).await?;
                    handle.sideline(true, false).await?;
                    handle.detach_agent().await?;
                    lock(&state).agent_out = true;
                }
                AgentAfterBridge::Listen => {
                    handle.set_routing(agent_listens()).await?;
                    handle.sideline(true, true).await?;
                }
            }
            Ok(())
        }))
    }

    fn detach_rep(&self, _rep: &RepId) -> BoxFuture<'static, Result<(), RoomError>> {
        let (handle, state) = (self.handle.clone(), self.state.clone());
        Box::pin(bounded(async move { drop_rep(&handle, &state).await }))
    }

    fn resume_agent(&self) -> BoxFuture<'static, Result<(), RoomError>> {
        let (handle, state) = (self.handle.clone(), self.state.clone());
        Box::pin(bounded(async move { unhold(&handle, &state).await }))
    }

    fn hand_back(&self, _rep: &RepId, note: String) -> BoxFuture<'static, Result<(), RoomError>> {
        let (handle, state) = (self.handle.clone(), self.state.clone());
        Box::pin(bounded(async move {
            drop_rep(&handle, &state).await?;
            unhold(&handle, &state).await?;
            let agent_out = std::mem::take(&mut lock(&state).agent_out);
            if agent_out {
                handle.attach_agent(note).await
            } else {
                handle.note_and_respond(note).await
            }
        }))
    }

    fn end_call(&self) -> BoxFuture<'static, Result<(), RoomError>> {
        let handle = self.handle.clone();
        // Only the rep's hang-up ends a bridged call from here
        // (`service.rs`): the record says so, not `admin_hung_up`.
        Box::pin(bounded(async move {
            handle
                .hang_up_because(crate::call::events::EndReason::RepHungUp)
                .await
        }))
    }

    fn ended(&self) -> BoxFuture<'static, ()> {
        let handle = self.handle.clone();
        Box::pin(async move { handle.ended().await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_card_shows_what_was_said_and_what_tools_fetched_but_not_the_transfer() {
        let items = vec![
            ConversationItem::AgentText("Hello.".into()),
            ConversationItem::CallerText("My order is late.".into()),
            ConversationItem::FunctionCall {
                call_id: "c1".into(),
                name: "lookup_order".into(),
                arguments: "{}".into(),
            },
            ConversationItem::FunctionOutput {
                call_id: "c1".into(),
                output: r#"{"order":"42"}"#.into(),
            },
            ConversationItem::FunctionCall {
                call_id: "c2".into(),
                name: "escalate_to_human".into(),
                arguments: "{}".into(),
            },
            ConversationItem::FunctionOutput {
                call_id: "c2".into(),
                output: r#"{"status":"connected"}"#.into(),
            },
        ];
        let card = card_of(&items);
        let who: Vec<&str> = card.transcript.iter().map(|l| l.who.as_str()).collect();
        assert_eq!(who, ["agent", "caller"]);
        assert_eq!(card.records.len(), 1);
        assert_eq!(card.records[0].tool, "lookup_order");
        assert_eq!(card.records[0].result["order"], "42");
    }

    #[test]
    fn a_listening_agent_is_heard_by_nobody_but_hears_caller_and_rep() {
        let policy = agent_listens();
        for listener in Role::ALL {
            assert!(!policy.hears(listener, Speaker::Role(Role::Agent)));
        }
        assert!(policy.hears(Role::Agent, Speaker::Role(Role::Caller)));
        assert!(policy.hears(Role::Agent, Speaker::Role(Role::Rep)));
        assert!(policy.hears(Role::Caller, Speaker::Role(Role::Rep)));
    }
}
