//! SIP transactions (RFC 3261 §17, with the RFC 6026 fixes for INVITE).
//!
//! This module owns everything between the parsed message and the
//! transaction user (TU: the dialog layer and call logic): matching
//! requests and responses to transactions, retransmitting over UDP,
//! absorbing the peer's retransmissions, and the timers that end each
//! transaction. It is sans-IO like the rest of the crate: every call takes
//! `now` (a [`Duration`] since any epoch the caller picks), bytes to send
//! come out of [`TransactionLayer::poll_transmit`], TU events out of
//! [`TransactionLayer::poll_event`], and the caller sleeps until
//! [`TransactionLayer::next_timeout`] and then calls
//! [`TransactionLayer::handle_timeout`].
//!
//! What it does not own: dialogs, the 2xx retransmission of a UAS and the
//! ACK for a 2xx of a UAC. RFC 6026 moved both to the TU; the TU sends them
//! with [`TransactionLayer::send_stateless`]. The INVITE transactions stay
//! alive in an "Accepted" state (Timers L and M) so that retransmitted
//! INVITEs are absorbed and every 2xx/ACK still reaches the TU.
//!
//! Choices worth knowing:
//!
//! - **100 Trying**: an INVITE server transaction sends 100 Trying by itself
//!   if the TU has not responded within 200 ms (§17.2.1), or at once when
//!   the INVITE is retransmitted before the TU has said anything.
//! - **Via stamping** (§18.2.1, RFC 3581): [`TransactionLayer::on_request`]
//!   adds `received=` to the top Via when the source IP differs from
//!   sent-by, and fills `rport=` when the peer asked for it, so responses
//!   built with [`Request::response`] carry them. Responses go to the
//!   source ip:port when `rport` is present or the transport is reliable,
//!   else to the source IP with the sent-by port (default 5060).
//! - **Overload**: live transactions are capped (default
//!   [`DEFAULT_MAX_TRANSACTIONS`]). Over the cap, a new request is answered
//!   here, statelessly, with `503 Service Unavailable` and `Retry-After`,
//!   and the TU gets [`Incoming::Rejected`] with [`TxError::Overloaded`];
//!   [`TransactionLayer::send_request`] returns the same error. Carriers
//!   fail over on 503, which is what we want when full.
//! - **Legacy branches**: a request whose branch lacks the `z9hG4bK` magic
//!   cookie is matched on Request-URI, From tag, Call-ID, CSeq number and
//!   the whole top Via (the §17.2.3 RFC 2543 rules, minus the To-tag check
//!   for ACK).
//! - **Transport failures**: every [`Transmit`] names the transaction it
//!   belongs to. When the shell cannot deliver one (a TCP connect that
//!   fails or times out, a broken connection, a full send queue) it calls
//!   [`TransactionLayer::on_transport_error`], and the transaction fails at
//!   once with [`TxEvent::TransportError`] (§17.1.1.2, §17.2.4) instead of
//!   waiting 32 s for Timer B or F.
//! - **Proceeding INVITE client**: after a provisional, Timer B no longer
//!   runs (§17.1.1.2); the TU bounds the wait by sending CANCEL, after
//!   which the transaction gives up with [`TxEvent::Timeout`] if no final
//!   response comes within 64*T1 (§9.1).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::time::Duration;

use crate::message::{Method, Request, Response, SipHeaders};

mod client_invite;
mod client_non_invite;
mod matching;
mod server_invite;
mod server_non_invite;
mod timers;
mod types;

#[cfg(test)]
mod tests;

use client_invite::InviteClient;
use client_non_invite::NonInviteClient;
pub use matching::response_destination;
use matching::{stamp_via, ClientKey, ServerKey};
use server_invite::InviteServer;
use server_non_invite::NonInviteServer;
use timers::{Shared, Slots, Step};
pub use types::{ClientTxId, ServerTxId, TimerConfig, Transmit, Transport, TxIdEither};

/// The RFC 3261 branch prefix that marks a globally unique branch.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Default cap on live transactions (client and server together).
pub const DEFAULT_MAX_TRANSACTIONS: usize = 10_000;

/// What [`TransactionLayer::on_request`] made of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A new request for the TU, which answers it with
    /// [`TransactionLayer::respond`]. A CANCEL is a non-INVITE transaction
    /// of its own; `cancels` names the INVITE server transaction it matches
    /// (RFC 3261 §9.2: same top Via branch and sent-by), and `None` means
    /// the TU answers 481.
    Request {
        /// The new server transaction.
        id: ServerTxId,
        /// The request, with `received`/`rport` filled into the top Via.
        request: Request,
        /// For a CANCEL: the INVITE server transaction it matches.
        cancels: Option<ServerTxId>,
    },
    /// An ACK for a 2xx: a transaction of its own (RFC 3261 §17.1.1.3), for
    /// the dialog layer.
    Ack2xx(Request),
    /// A retransmission or an ACK for a non-2xx final, handled here (the
    /// last response was re-sent if there was one); nothing for the TU.
    Absorbed,
    /// The request was not taken on. For [`TxError::Overloaded`] a 503 has
    /// already been queued; for an unusable top Via nothing can be sent.
    Rejected {
        /// Why.
        error: TxError,
    },
}

/// Something the TU must hear about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxEvent {
    /// A client transaction got a response to pass up: provisionals and
    /// the first final; retransmitted finals are absorbed, except 2xx to
    /// an INVITE, which RFC 6026 passes up so the TU can ACK each one.
    Response {
        /// The client transaction.
        id: ClientTxId,
        /// The response.
        response: Response,
    },
    /// Timer B or F fired (or the §9.1 guard after a CANCEL): treat as 408.
    Timeout {
        /// The client transaction.
        id: ClientTxId,
    },
    /// Timer H fired: no ACK came for our non-2xx final to an INVITE.
    AckTimeout {
        /// The INVITE server transaction.
        id: ServerTxId,
    },
    /// The transport could not deliver one of the transaction's messages
    /// (RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.4: a TCP connect that failed
    /// or timed out, a connection that broke, a full send queue), and the
    /// transaction is terminated. For a client transaction this comes only
    /// while no final response has been passed up; the TU treats it as a
    /// 503 (§8.1.3.1). For a server transaction the response was lost.
    TransportError {
        /// The transaction.
        id: TxIdEither,
    },
    /// A transaction ended and its state is gone.
    Terminated(TxIdEither),
}

/// Everything that can go wrong between the TU and the layer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// No live transaction has this id (it may have terminated).
    #[error("no such transaction")]
    UnknownTransaction,
    /// The transaction already sent (or got) a final response.
    #[error("the transaction already has a final response")]
    AlreadyFinal,
    /// A status code outside 100–699.
    #[error("status {0} is not a SIP status code")]
    InvalidStatus(u16),
    /// The top Via has no branch starting with `z9hG4bK`.
    #[error("top Via has no branch with the z9hG4bK magic cookie")]
    MissingBranch,
    /// The top Via is missing or does not parse.
    #[error("unusable top Via: {0}")]
    BadVia(String),
    /// The CSeq is missing or does not parse.
    #[error("unusable CSeq: {0}")]
    BadCSeq(String),
    /// A client transaction with this branch and method is already live.
    #[error("a transaction with this branch and method is already live")]
    DuplicateTransaction,
    /// ACK is never a client transaction: send it with `send_stateless`.
    #[error("ACK is not a transaction; send it with send_stateless")]
    AckIsNotATransaction,
    /// The cap on live transactions is reached.
    #[error("{max} transactions are live, the cap")]
    Overloaded {
        /// The cap.
        max: usize,
    },
}

#[derive(Debug)]
enum ServerTx {
    Invite(InviteServer),
    NonInvite(NonInviteServer),
}

impl ServerTx {
    fn slots(&mut self) -> &mut Slots {
        match self {
            ServerTx::Invite(t) => &mut t.slots,
            ServerTx::NonInvite(t) => &mut t.slots,
        }
    }
}

#[derive(Debug)]
enum ClientTx {
    /// Boxed: it keeps the whole INVITE to build the ACK.
    Invite(Box<InviteClient>),
    NonInvite(NonInviteClient),
}

impl ClientTx {
    fn slots(&mut self) -> &mut Slots {
        match self {
            ClientTx::Invite(t) => &mut t.slots,
            ClientTx::NonInvite(t) => &mut t.slots,
        }
    }
}

/// All live transactions of one SIP endpoint, client and server.
#[derive(Debug)]
pub struct TransactionLayer {
    sh: Shared,
    max_transactions: usize,
    next_id: u64,
    servers: HashMap<ServerTxId, (ServerKey, ServerTx)>,
    server_index: HashMap<ServerKey, ServerTxId>,
    clients: HashMap<ClientTxId, (ClientKey, ClientTx)>,
    client_index: HashMap<ClientKey, ClientTxId>,
}

impl TransactionLayer {
    /// A layer with these timers and the default transaction cap.
    pub fn new(config: TimerConfig) -> TransactionLayer {
        TransactionLayer {
            sh: Shared::new(config),
            max_transactions: DEFAULT_MAX_TRANSACTIONS,
            next_id: 0,
            servers: HashMap::new(),
            server_index: HashMap::new(),
            clients: HashMap::new(),
            client_index: HashMap::new(),
        }
    }

    /// Sets the cap on live transactions (client and server together).
    pub fn with_max_transactions(mut self, max: usize) -> TransactionLayer {
        self.max_transactions = max;
        self
    }

    /// The timers in use.
    pub fn config(&self) -> TimerConfig {
        self.sh.config
    }

    /// A request arrived (already parsed by [`crate::message::parse()`]),
    /// from `source` over `transport`.
    pub fn on_request(
        &mut self,
        now: Duration,
        mut request: Request,
        source: SocketAddr,
        transport: Transport,
    ) -> Incoming {
        let via = match request.top_via() {
            Ok(via) => via,
            Err(e) => {
                return Incoming::Rejected {
                    error: TxError::BadVia(e.to_string()),
                }
            }
        };
        let key = ServerKey::of(&request, &via);
        stamp_via(&mut request, &via, source);
        let dest = response_destination(&via, source, transport);

        if request.method == Method::Ack {
            // ACK matches the INVITE transaction; an ACK that matches none
            // is for a 2xx and belongs to the TU.
            let Some(&id) = self.server_index.get(&key) else {
                return Incoming::Ack2xx(request);
            };
            let Some((_, ServerTx::Invite(tx))) = self.servers.get_mut(&id) else {
                return Incoming::Ack2xx(request);
            };
            let (incoming, step) = tx.on_ack(now, request, &mut self.sh);
            self.after_server_step(id, step);
            return incoming;
        }

        if let Some(&id) = self.server_index.get(&key) {
            match self.servers.get_mut(&id) {
                Some((_, ServerTx::Invite(tx))) => tx.on_retransmit(&mut self.sh),
                Some((_, ServerTx::NonInvite(tx))) => tx.on_retransmit(&mut self.sh),
                None => {}
            }
            return Incoming::Absorbed;
        }

        if self.len() >= self.max_transactions {
            self.reject_overloaded(&request, &key, dest, transport);
            return Incoming::Rejected {
                error: TxError::Overloaded {
                    max: self.max_transactions,
                },
            };
        }

        let id = ServerTxId(self.fresh_id());
        let cancels = if request.method == Method::Cancel {
            let invite_key = ServerKey {
                method: Method::Invite,
                ..key.clone()
            };
            self.server_index
                .get(&invite_key)
                .copied()
                .filter(|inv| matches!(self.servers.get(inv), Some((_, ServerTx::Invite(_)))))
        } else {
            None
        };
        let tx = if request.method == Method::Invite {
            let trying = request.response(100, "Trying", None).to_bytes();
            ServerTx::Invite(InviteServer::new(
                now,
                id,
                dest,
                transport,
                trying,
                &mut self.sh,
            ))
        } else {
            ServerTx::NonInvite(NonInviteServer::new(id, dest, transport))
        };
        self.server_index.insert(key.clone(), id);
        self.servers.insert(id, (key, tx));
        Incoming::Request {
            id,
            request,
            cancels,
        }
    }

    /// A response arrived. It is matched to a client transaction by top Via
    /// branch and CSeq method (§17.1.3) and, if it is news for the TU,
    /// surfaces as [`TxEvent::Response`]. Unmatched responses are dropped.
    /// `source` is not used for matching (RFC 3261 does not).
    pub fn on_response(&mut self, now: Duration, response: Response, source: SocketAddr) {
        let _ = source;
        let Ok(via) = response.top_via() else {
            return;
        };
        let Some(branch) = via.branch() else {
            return;
        };
        let Ok(cseq) = response.cseq() else {
            return;
        };
        let key = ClientKey {
            branch: branch.to_owned(),
            method: cseq.method,
        };
        let Some(&id) = self.client_index.get(&key) else {
            return;
        };
        let step = match self.clients.get_mut(&id) {
            Some((_, ClientTx::Invite(tx))) => tx.on_response(now, response, &mut self.sh),
            Some((_, ClientTx::NonInvite(tx))) => tx.on_response(now, response, &mut self.sh),
            None => return,
        };
        self.after_client_step(id, step);
    }

    /// The TU answers server transaction `id`. The response goes to the
    /// address worked out from the request's top Via (see the module
    /// docs). A 2xx to an INVITE moves the transaction to Accepted (Timer
    /// L) and is not retransmitted here: that is the TU's job (RFC 6026).
    pub fn respond(
        &mut self,
        now: Duration,
        id: ServerTxId,
        response: Response,
    ) -> Result<(), TxError> {
        let status = response.status;
        if !(100..=699).contains(&status) {
            return Err(TxError::InvalidStatus(status));
        }
        let bytes = response.to_bytes();
        let step = match self.servers.get_mut(&id) {
            Some((_, ServerTx::Invite(tx))) => tx.respond(now, status, bytes, &mut self.sh)?,
            Some((_, ServerTx::NonInvite(tx))) => tx.respond(now, status, bytes, &mut self.sh)?,
            None => return Err(TxError::UnknownTransaction),
        };
        self.after_server_step(id, step);
        Ok(())
    }

    /// Starts a client transaction and sends the request. The request's
    /// top Via must carry a `z9hG4bK` branch, unique per transaction; the
    /// caller builds it. ACK is refused: it is never a client transaction.
    /// Sending a CANCEL arms the §9.1 guard on the INVITE it cancels.
    pub fn send_request(
        &mut self,
        now: Duration,
        request: Request,
        dest: SocketAddr,
        transport: Transport,
    ) -> Result<ClientTxId, TxError> {
        if request.method == Method::Ack {
            return Err(TxError::AckIsNotATransaction);
        }
        let via = request
            .top_via()
            .map_err(|e| TxError::BadVia(e.to_string()))?;
        let branch = via
            .branch()
            .filter(|b| b.len() > MAGIC_COOKIE.len() && b.starts_with(MAGIC_COOKIE))
            .ok_or(TxError::MissingBranch)?;
        let cseq = request
            .cseq()
            .map_err(|e| TxError::BadCSeq(e.to_string()))?;
        if cseq.method != request.method {
            return Err(TxError::BadCSeq(format!(
                "CSeq method {} differs from {}",
                cseq.method, request.method
            )));
        }
        let key = ClientKey {
            branch: branch.to_owned(),
            method: request.method.clone(),
        };
        if self.client_index.contains_key(&key) {
            return Err(TxError::DuplicateTransaction);
        }
        if self.len() >= self.max_transactions {
            return Err(TxError::Overloaded {
                max: self.max_transactions,
            });
        }
        if request.method == Method::Cancel {
            let invite_key = ClientKey {
                method: Method::Invite,
                ..key.clone()
            };
            if let Some(invite) = self.client_index.get(&invite_key) {
                if let Some((_, ClientTx::Invite(tx))) = self.clients.get_mut(invite) {
                    tx.on_cancel_sent(now, &mut self.sh);
                }
            }
        }
        let id = ClientTxId(self.fresh_id());
        let tx = if request.method == Method::Invite {
            ClientTx::Invite(Box::new(InviteClient::start(
                now,
                id,
                dest,
                transport,
                request,
                &mut self.sh,
            )))
        } else {
            let bytes = request.to_bytes();
            ClientTx::NonInvite(NonInviteClient::start(
                now,
                id,
                dest,
                transport,
                bytes,
                &mut self.sh,
            ))
        };
        self.client_index.insert(key.clone(), id);
        self.clients.insert(id, (key, tx));
        Ok(id)
    }

    /// Queues bytes that belong to no transaction: the ACK for a 2xx, and
    /// a UAS's 2xx retransmissions.
    pub fn send_stateless(&mut self, dest: SocketAddr, transport: Transport, bytes: Vec<u8>) {
        self.sh.send(dest, transport, bytes);
    }

    /// The next message to send, oldest first.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.sh.pop_transmit()
    }

    /// The next event for the TU, oldest first.
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.sh.pop_event()
    }

    /// The earliest timer deadline, if any timer is armed.
    pub fn next_timeout(&self) -> Option<Duration> {
        self.sh.next_deadline()
    }

    /// Fires every timer due at `now`, in deadline order.
    pub fn handle_timeout(&mut self, now: Duration) {
        while let Some((owner, timer)) = self.sh.pop_due(now) {
            match owner {
                TxIdEither::Server(id) => {
                    let step = match self.servers.get_mut(&id) {
                        Some((_, ServerTx::Invite(tx))) => tx.on_timer(now, timer, &mut self.sh),
                        Some((_, ServerTx::NonInvite(tx))) => tx.on_timer(timer),
                        None => continue,
                    };
                    self.after_server_step(id, step);
                }
                TxIdEither::Client(id) => {
                    let step = match self.clients.get_mut(&id) {
                        Some((_, ClientTx::Invite(tx))) => tx.on_timer(now, timer, &mut self.sh),
                        Some((_, ClientTx::NonInvite(tx))) => tx.on_timer(now, timer, &mut self.sh),
                        None => continue,
                    };
                    self.after_client_step(id, step);
                }
            }
        }
    }

    /// The shell could not deliver a message that `owner` sent (see
    /// [`Transmit::owner`]). A client transaction still waiting for its
    /// final response fails with [`TxEvent::TransportError`]; a server
    /// transaction is told its response was lost the same way. Either is
    /// then terminated (no retransmission can help a reliable transport
    /// that failed; over UDP the shell never reports failures). A report
    /// for a transaction that has ended is ignored.
    pub fn on_transport_error(&mut self, owner: TxIdEither) {
        match owner {
            TxIdEither::Client(id) => {
                let awaiting = match self.clients.get(&id) {
                    Some((_, ClientTx::Invite(tx))) => tx.awaiting_final(),
                    Some((_, ClientTx::NonInvite(tx))) => tx.awaiting_final(),
                    None => return,
                };
                if awaiting {
                    self.sh.event(TxEvent::TransportError { id: owner });
                }
                self.after_client_step(id, Step::Done);
            }
            TxIdEither::Server(id) => {
                if !self.servers.contains_key(&id) {
                    return;
                }
                self.sh.event(TxEvent::TransportError { id: owner });
                self.after_server_step(id, Step::Done);
            }
        }
    }

    /// Live transactions, client and server.
    pub fn len(&self) -> usize {
        self.servers.len() + self.clients.len()
    }

    /// Whether no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn after_server_step(&mut self, id: ServerTxId, step: Step) {
        if step == Step::Live {
            return;
        }
        if let Some((key, mut tx)) = self.servers.remove(&id) {
            self.sh.disarm_all(tx.slots());
            self.server_index.remove(&key);
            self.sh.event(TxEvent::Terminated(TxIdEither::Server(id)));
        }
    }

    fn after_client_step(&mut self, id: ClientTxId, step: Step) {
        if step == Step::Live {
            return;
        }
        if let Some((key, mut tx)) = self.clients.remove(&id) {
            self.sh.disarm_all(tx.slots());
            self.client_index.remove(&key);
            self.sh.event(TxEvent::Terminated(TxIdEither::Client(id)));
        }
    }

    /// Answers a request we have no room for with a stateless 503 (never
    /// an ACK, which gets no response). The To-tag is derived from the
    /// key so a retransmission gets the same one.
    fn reject_overloaded(
        &mut self,
        request: &Request,
        key: &ServerKey,
        dest: SocketAddr,
        transport: Transport,
    ) {
        let mut hasher = std::hash::DefaultHasher::new();
        key.hash(&mut hasher);
        let tag = format!("wl{:016x}", hasher.finish());
        let mut response = request.response(503, "Service Unavailable", Some(&tag));
        // A constant header value cannot be refused.
        let _ = response.headers.push("Retry-After", "5");
        self.sh.send(dest, transport, response.to_bytes());
    }

    #[cfg(test)]
    fn armed_timers(&self) -> usize {
        self.sh.armed()
    }
}
