//! One client's connection to a worker: the handshake, then the thin driver that feeds the
//! sans-IO [`WorkerSession`] the client's messages and the finished tasks, and carries out what
//! it says (run a function on a slot, send a reply).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;

use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::slots::{Finished, Job, unknown_function};
use super::{WorkerAuth, WorkerShared, close_code};
use crate::remote::obs::WorkerStats;
use crate::remote::proto::{
    Action, ClientMessage, Failure, HelloReply, Key, MAX_HELLO, Reply, WorkerSession,
    check_hello_body,
};
use crate::remote::registry;
use crate::remote::transport::{
    self, MessageReader, StreamError, spawn_counted_writer, write_message,
};

/// Closes a connection whose peer broke the protocol, saying why in the log and on the wire.
fn violation(connection: &quinn::Connection, reason: &str) {
    warn!(remote = %connection.remote_address(), reason, "closing connection");
    connection.close(close_code::PROTOCOL.into(), reason.as_bytes());
}

pub(super) async fn serve_connection(connection: quinn::Connection, shared: Arc<WorkerShared>) {
    let remote = connection.remote_address();
    let hello_timeout = shared.timeouts.hello;
    let (mut send, recv) = match tokio::time::timeout(hello_timeout, connection.accept_bi()).await {
        Ok(Ok(streams)) => streams,
        Ok(Err(error)) => {
            debug!(%remote, %error, "connection ended before its first stream");
            return;
        }
        Err(_) => return violation(&connection, "no stream opened in time"),
    };
    // Until the client is authenticated it may send one small frame: its hello.
    let mut reader = MessageReader::new(recv, MAX_HELLO.min(shared.max_frame))
        .with_frame_timeout(shared.timeouts.frame);
    let hello = match tokio::time::timeout(hello_timeout, reader.next_body()).await {
        Ok(Ok(Some(hello))) => hello,
        Ok(Ok(None)) => return violation(&connection, "stream ended before hello"),
        Ok(Err(error)) => return violation(&connection, &format!("bad hello: {error}")),
        Err(_) => return violation(&connection, "no hello in time"),
    };
    let refusal = check_hello_body(
        &hello,
        |proof| match &shared.auth {
            WorkerAuth::Secret(secret) => {
                proof.is_some_and(|proof| transport::verify(&connection, secret, proof))
            }
            // rustls already refused a client without a certificate from the CA.
            WorkerAuth::ClientCertificates(_) => connection.peer_identity().is_some(),
        },
        registry::missing,
    );
    let refusal = match refusal {
        Ok(refusal) => refusal,
        Err(error) => return violation(&connection, &format!("bad hello: {error}")),
    };
    drop(hello);
    reader.set_max_frame(shared.max_frame);
    if let Some(refusal) = refusal {
        warn!(%remote, ?refusal, "refusing client");
        let _ = write_message(&mut send, &HelloReply::Refused(refusal), shared.max_frame).await;
        let _ = send.finish();
        // Give the refusal a moment to arrive before the connection goes.
        let _ = tokio::time::timeout(Duration::from_secs(1), send.stopped()).await;
        connection.close(close_code::REFUSED.into(), b"refused");
        return;
    }
    let welcome = HelloReply::Welcome {
        slots: u32::try_from(shared.slot_count).unwrap_or(u32::MAX),
    };
    if let Err(error) = write_message(&mut send, &welcome, shared.max_frame).await {
        debug!(%remote, %error, "client went away during the handshake");
        return;
    }
    info!(%remote, "client connected");
    let _connected = WorkerStats::global().connected();

    // One stream per connection: any further stream is a protocol violation.
    let guard = connection.clone();
    let stray_streams = tokio::spawn(async move {
        // Only a stream that opens is a violation: the connection closing ends both waits
        // with an error, which is no one's fault.
        tokio::select! {
            Ok(_) = guard.accept_bi() => violation(&guard, "unexpected second stream"),
            Ok(_) = guard.accept_uni() => violation(&guard, "unexpected unidirectional stream"),
            else => {}
        }
    });

    let (replies, writer) = spawn_counted_writer::<Reply>(send, shared.max_frame);
    let max_unread = shared.limits.max_unread;
    let mut session = WorkerSession::new(shared.limits);
    // This connection's tasks queue in a lane of their own, which the slots serve in turn with
    // the other connections': a client with a million tasks queued does not go ahead of
    // another's (see `slots`).
    let lane = shared.slots.lane();
    let mut on_slots = 0;
    let mut jobs: Vec<Job> = Vec::new();
    let mut unknown = Vec::new();
    let (done, mut finished) = mpsc::unbounded_channel::<Finished>();
    // Values pulled from other workers for this client, as they arrive.
    let (arrived, mut pulled) = mpsc::unbounded_channel::<(Key, Result<Bytes, Failure>)>();
    let mut pulling = 0_usize;
    let grantor = connection.stable_id() as u64;
    let mut held = 0;
    let mut bytes_held = 0;
    let mut reading = true;
    loop {
        tokio::select! {
            Some((key, outcome)) = pulled.recv(), if pulling > 0 => {
                pulling -= 1;
                session.pulled(key, outcome);
            }
            Some((task, outcome)) = finished.recv(), if on_slots > 0 => {
                on_slots -= 1;
                session.finished(task, outcome);
                // Take every outcome already here in one go, before replying.
                while let Ok((task, outcome)) = finished.try_recv() {
                    on_slots -= 1;
                    session.finished(task, outcome);
                }
            }
            // A client that does not read its replies is not read from either, until they are
            // written: the worker's queue for it stays bounded, and so does the client.
            () = replies.written(), if reading && replies.queued() > max_unread => {}
            message = reader.next::<ClientMessage>(), if reading && replies.queued() <= max_unread => match message {
                Ok(Some(message)) => {
                    let known = |name: &str| registry::lookup(name).is_some();
                    if let Err(broken) = session.handle(message, known) {
                        violation(&connection, &broken.to_string());
                        break;
                    }
                }
                // The client finished its side: it sends nothing more, and is gone.
                Ok(None) => {
                    info!(%remote, "client disconnected");
                    break;
                }
                // The connection went away: nobody to tell. A client that closed it is gone
                // cleanly; any other end (a timeout, a reset) lost it.
                Err(StreamError::Read(quinn::ReadError::ConnectionLost(
                    quinn::ConnectionError::ApplicationClosed(_),
                ))) => {
                    info!(%remote, "client disconnected");
                    break;
                }
                // This worker closed it (it is shutting down, or said why already).
                Err(StreamError::Read(quinn::ReadError::ConnectionLost(
                    quinn::ConnectionError::LocallyClosed,
                ))) => {
                    debug!(%remote, "closed the connection to a client");
                    break;
                }
                Err(StreamError::Read(error)) => {
                    info!(%remote, %error, "lost the connection to a client");
                    break;
                }
                Err(error) => {
                    violation(&connection, &format!("bad frame: {error}"));
                    break;
                }
            },
            // A stopping worker reads no more, but finishes the tasks it has.
            () = shared.drain.cancelled(), if reading => reading = false,
        }
        loop {
            while let Some(action) = session.poll_action() {
                match action {
                    // The writer is gone only when the connection is; the client then no
                    // longer waits for the reply.
                    Action::Send(reply) => {
                        let weight = reply.weight();
                        drop(replies.send(reply, weight));
                    }
                    Action::Run(run) => match registry::lookup(&run.function) {
                        // Declared never to block, and within its budget so far: run here,
                        // saving the slot thread's two wake-ups.
                        Some(registration) if shared.slots.runs_inline(registration) => {
                            let outcome = shared.slots.run_inline(
                                registration,
                                run.kind,
                                &run.params,
                                &run.input,
                            );
                            session.finished(run.task, outcome);
                        }
                        Some(registration) => jobs.push(Job {
                            task: run.task,
                            kind: run.kind,
                            registration,
                            params: run.params,
                            input: run.input,
                            done: done.clone(),
                        }),
                        None => unknown.push((run.task, run.function)),
                    },
                    Action::Offer { token, value } => {
                        shared.peers.grants.offer(token, grantor, value);
                    }
                    Action::Revoke(tokens) => shared.peers.grants.revoke(&tokens),
                    Action::Pull(pull) => {
                        pulling += 1;
                        let peers = Arc::clone(&shared);
                        let arrived = arrived.clone();
                        let max_value = shared.limits.max_value;
                        // Dropped with the connection's other work if the client goes.
                        shared.connections.spawn(async move {
                            let outcome = peers.peers.pull(&pull.from, max_value).await;
                            let _ = arrived.send((pull.key, outcome));
                        });
                    }
                }
            }
            // Most turns of the loop (a reply read, a task finished) queue nothing: no lock then.
            if !jobs.is_empty() {
                on_slots += jobs.len();
                lane.submit(jobs.drain(..));
            }
            // An unknown function's failure is a reply (and may start other tasks).
            if unknown.is_empty() {
                break;
            }
            for (task, function) in unknown.drain(..) {
                session.finished(task, Err(unknown_function(&function)));
            }
        }
        held = track_values(held, session.values_held());
        let bytes = session.bytes_held();
        if bytes != bytes_held {
            if bytes > bytes_held {
                shared
                    .bytes_held
                    .fetch_add(bytes - bytes_held, Ordering::AcqRel);
            } else {
                shared
                    .bytes_held
                    .fetch_sub(bytes_held - bytes, Ordering::AcqRel);
            }
            bytes_held = bytes;
        }
        session.pause(shared.pause_reason());
        if !reading && on_slots == 0 && pulling == 0 {
            break;
        }
    }
    stray_streams.abort();
    shared.peers.grants.revoke_all(grantor);
    track_values(held, 0);
    shared.bytes_held.fetch_sub(bytes_held, Ordering::AcqRel);
    // Dropping the session, the lane and the channel frees this client's values and queued
    // work now: the tasks still in the lane go with it, and one already running finishes on
    // its slot and its outcome is dropped.
    drop(finished);
    drop(lane);
    drop(session);
    drop(replies);
    // Let the replies already queued go out, unless the connection is gone.
    let _ = writer.await;
}

/// Keeps the process's count of values held in step with one session's.
fn track_values(before: usize, now: usize) -> usize {
    let stats = WorkerStats::global();
    if now > before {
        stats.values_stored(now - before);
    } else if before > now {
        stats.values_released(before - now);
    }
    now
}
