//! Classifying an in-dialog offer (re-INVITE or UPDATE) against the
//! previous one from the same peer, drachtio's pattern (protocols.md §3.8):
//! the first three kinds can be answered automatically with our current
//! media; only `Modify` needs a fresh negotiation.

use super::attr::Direction;
use super::model::SessionDescription;
use super::negotiate::{answer, LocalMedia, Negotiated, NegotiationError};

/// What a new offer from the peer changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReofferKind {
    /// Same `o=` session id and version: nothing changed (session timer
    /// refresh). Answer with the same SDP, same version.
    Refresh,
    /// The peer stopped wanting our media: `sendonly`, `inactive` or
    /// `c=0.0.0.0` where it was not before.
    Hold,
    /// Back to `sendrecv` after a hold.
    Resume,
    /// Anything else: codec, address or port change, a new stream.
    Modify,
}

/// Whether the peer that wrote `sdp` has put its first enabled audio
/// stream on hold: it will not receive (`sendonly`/`inactive`, RFC 3264
/// §8.4) or asks not to be sent to (`c=0.0.0.0`, RFC 2543 style).
/// `recvonly` is not hold: the peer still listens.
fn on_hold(sdp: &SessionDescription) -> bool {
    let Some(media) = sdp.media.iter().find(|m| m.is_rtp_audio()) else {
        return false;
    };
    let legacy = sdp
        .media_connection(media)
        .is_some_and(|c| c.is_hold_address());
    legacy || !sdp.media_direction(media).receives()
}

/// The direction of the first enabled audio stream, `None` without one.
fn audio_direction(sdp: &SessionDescription) -> Option<Direction> {
    let media = sdp.media.iter().find(|m| m.is_rtp_audio())?;
    Some(sdp.media_direction(media))
}

/// Classifies `new_remote` against `previous_remote`, the last offer or
/// answer the peer sent in this dialog.
///
/// The refresh test looks only at the `o=` session id and version, as
/// drachtio does: RFC 3264 §8 makes an unchanged version mean an unchanged
/// SDP, so a peer that changes the body without bumping the version is
/// itself broken, and treating it as a refresh keeps the call up.
pub fn classify_reoffer(
    previous_remote: &SessionDescription,
    new_remote: &SessionDescription,
) -> ReofferKind {
    let (old, new) = (&previous_remote.origin, &new_remote.origin);
    if old.session_id == new.session_id && old.session_version == new.session_version {
        return ReofferKind::Refresh;
    }
    match (on_hold(previous_remote), on_hold(new_remote)) {
        (false, true) => ReofferKind::Hold,
        (true, false) if audio_direction(new_remote) == Some(Direction::SendRecv) => {
            ReofferKind::Resume
        }
        _ => ReofferKind::Modify,
    }
}

/// Answers an in-dialog offer, keeping our `o=` version right (RFC 3264
/// §8): a [`ReofferKind::Refresh`] gets `previous_answer` back unchanged,
/// same version; any other offer is negotiated afresh, and our version is
/// bumped from `previous_answer`'s only if the answer's content changed.
///
/// `previous_remote` is the peer's last SDP in the dialog and
/// `previous_answer` the last SDP we sent; `local.session_version` is
/// ignored in favour of `previous_answer`'s.
pub fn answer_reoffer(
    previous_remote: &SessionDescription,
    previous_answer: &SessionDescription,
    new_remote: &SessionDescription,
    local: &LocalMedia,
) -> Result<(ReofferKind, Negotiated), NegotiationError> {
    let kind = classify_reoffer(previous_remote, new_remote);
    let mut local = local.clone();
    local.session_version = previous_answer.origin.session_version;
    let mut negotiated = answer(new_remote, &local)?;
    if kind == ReofferKind::Refresh {
        negotiated.answer = previous_answer.clone();
    } else if !same_content(&negotiated.answer, previous_answer) {
        negotiated.answer.origin.bump_version();
    }
    Ok((kind, negotiated))
}

/// Whether two of our SDPs differ only in the `o=` line.
fn same_content(a: &SessionDescription, b: &SessionDescription) -> bool {
    let mut b = b.clone();
    b.origin = a.origin.clone();
    *a == b
}
