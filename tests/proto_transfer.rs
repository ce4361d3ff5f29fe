//! Worker to worker, sans-IO: a holder's grants and a puller's pulls in the session, and the
//! holder's table of grants, with no sockets and no clock.
#![cfg(feature = "remote")]

use bytes::Bytes;
use rivulet::remote::proto::{
    Action, ClientMessage, Failure, FailureKind, Grants, Holder, Key, Limits, PROTOCOL_VERSION,
    PeerAnswer, PeerRequest, Pull, Reply, Request, Response, Task, TaskKind, TaskOutput, Token,
    Violation, WorkerSession, answer_peer,
};

fn known(name: &str) -> bool {
    name == "f"
}

fn small() -> Limits {
    Limits {
        max_value: 1000,
        piece: 100,
        inline: 10,
        max_bytes_held: 3000,
        max_tasks: 4,
        max_unread: 1 << 20,
    }
}

fn map(input: u64, output: u64) -> Task {
    Task {
        kind: TaskKind::Map,
        function: "f".into(),
        params: Bytes::new(),
        inputs: vec![Key(input)],
        outputs: vec![Key(output)],
        reply_with_value: true,
    }
}

fn holder(token: u8) -> Holder {
    Holder {
        addr: "127.0.0.1:9".parse().unwrap(),
        certificate: Bytes::from_static(b"cert"),
        token: Token([token; 32]),
    }
}

fn grant(key: u64, token: u8) -> ClientMessage {
    ClientMessage::Grant {
        key: Key(key),
        token: Token([token; 32]),
    }
}

fn pull(id: u64, key: u64, token: u8) -> ClientMessage {
    ClientMessage::Request {
        id,
        request: Request::Pull {
            key: Key(key),
            from: holder(token),
        },
    }
}

#[derive(Debug, Default)]
struct Seen {
    runs: Vec<rivulet::remote::proto::Run>,
    replies: Vec<Reply>,
    offers: Vec<(Token, Result<Bytes, Failure>)>,
    revoked: Vec<Token>,
    pulls: Vec<Pull>,
}

fn actions(session: &mut WorkerSession) -> Seen {
    let mut seen = Seen::default();
    while let Some(action) = session.poll_action() {
        match action {
            Action::Run(run) => seen.runs.push(run),
            Action::Send(reply) => seen.replies.push(reply),
            Action::Offer { token, value } => seen.offers.push((token, value)),
            Action::Revoke(tokens) => seen.revoked.extend(tokens),
            Action::Pull(pull) => seen.pulls.push(pull),
        }
    }
    seen
}

#[test]
fn a_grant_of_a_made_value_is_offered_at_once_and_revoked_on_release() {
    let mut session = WorkerSession::new(small());
    session
        .handle(
            ClientMessage::Scatter {
                key: Key(1),
                value: Bytes::from_static(b"abc"),
            },
            known,
        )
        .unwrap();
    session.handle(grant(1, 7), known).unwrap();
    let seen = actions(&mut session);
    assert_eq!(
        seen.offers,
        vec![(Token([7; 32]), Ok(Bytes::from_static(b"abc")))]
    );
    assert!(seen.replies.is_empty(), "a grant has no reply");
    session
        .handle(ClientMessage::Release(vec![Key(1)]), known)
        .unwrap();
    assert_eq!(actions(&mut session).revoked, vec![Token([7; 32])]);
}

#[test]
fn a_grant_of_a_pending_value_is_offered_once_its_task_ends() {
    let mut session = WorkerSession::new(small());
    session
        .handle(
            ClientMessage::Scatter {
                key: Key(1),
                value: Bytes::from_static(b"x"),
            },
            known,
        )
        .unwrap();
    session
        .handle(
            ClientMessage::Request {
                id: 1,
                request: Request::Submit(map(1, 2)),
            },
            known,
        )
        .unwrap();
    session.handle(grant(2, 3), known).unwrap();
    let seen = actions(&mut session);
    assert!(seen.offers.is_empty(), "nothing to offer yet");
    let task = seen.runs[0].task;
    session.finished(
        task,
        Ok(TaskOutput {
            values: vec![Bytes::from_static(b"made")],
            verdict: None,
        }),
    );
    let seen = actions(&mut session);
    assert_eq!(
        seen.offers,
        vec![(Token([3; 32]), Ok(Bytes::from_static(b"made")))]
    );
}

#[test]
fn a_grant_of_a_failed_value_offers_the_failure_and_one_released_first_says_so() {
    let mut session = WorkerSession::new(small());
    session
        .handle(
            ClientMessage::Scatter {
                key: Key(1),
                value: Bytes::from_static(b"x"),
            },
            known,
        )
        .unwrap();
    session
        .handle(
            ClientMessage::Request {
                id: 1,
                request: Request::Submit(map(1, 2)),
            },
            known,
        )
        .unwrap();
    session
        .handle(
            ClientMessage::Request {
                id: 2,
                request: Request::Submit(map(1, 3)),
            },
            known,
        )
        .unwrap();
    session.handle(grant(2, 4), known).unwrap();
    session.handle(grant(3, 5), known).unwrap();
    let seen = actions(&mut session);
    session.finished(
        seen.runs[0].task,
        Err(Failure::new(FailureKind::Returned, "no")),
    );
    // The second task's output is released before it is made: its grant hears so.
    session
        .handle(ClientMessage::Release(vec![Key(3)]), known)
        .unwrap();
    let seen = actions(&mut session);
    assert_eq!(seen.offers.len(), 2, "{seen:?}");
    let by = |token: u8| {
        seen.offers
            .iter()
            .find(|(t, _)| *t == Token([token; 32]))
            .map(|(_, value)| value.clone())
            .unwrap()
    };
    assert_eq!(by(4).unwrap_err().kind, FailureKind::Returned);
    assert_eq!(by(5).unwrap_err().kind, FailureKind::Unavailable);
}

#[test]
fn granting_an_unknown_key_breaks_the_protocol() {
    let mut session = WorkerSession::new(small());
    assert_eq!(
        session.handle(grant(9, 1), known),
        Err(Violation::UnknownKey(Key(9)))
    );
    assert!(actions(&mut session).offers.is_empty());
}

#[test]
fn a_task_on_a_pulled_value_waits_for_it_and_the_pull_is_answered_with_its_size() {
    let mut session = WorkerSession::new(small());
    session.handle(pull(1, 5, 9), known).unwrap();
    session
        .handle(
            ClientMessage::Request {
                id: 2,
                request: Request::Submit(map(5, 6)),
            },
            known,
        )
        .unwrap();
    let seen = actions(&mut session);
    assert_eq!(seen.pulls.len(), 1);
    assert_eq!(seen.pulls[0].key, Key(5));
    assert_eq!(seen.pulls[0].from.token, Token([9; 32]));
    assert!(seen.runs.is_empty(), "the task waits for its input");
    assert_eq!(session.pulls_in_flight(), 1);

    session.pulled(Key(5), Ok(Bytes::from_static(b"pulled")));
    let seen = actions(&mut session);
    assert_eq!(seen.runs.len(), 1);
    assert_eq!(seen.runs[0].input, Bytes::from_static(b"pulled"));
    assert_eq!(seen.replies.len(), 1);
    assert_eq!(seen.replies[0].id, 1);
    assert!(matches!(
        &seen.replies[0].response,
        Response::Done { sizes, values, .. } if sizes == &[6] && values.is_empty()
    ));
    assert_eq!(session.bytes_held(), 6);
    assert_eq!(session.pulls_in_flight(), 0);
}

#[test]
fn a_failed_pull_fails_what_waits_for_it() {
    let mut session = WorkerSession::new(small());
    session.handle(pull(1, 5, 9), known).unwrap();
    session
        .handle(
            ClientMessage::Request {
                id: 2,
                request: Request::Fetch { key: Key(5) },
            },
            known,
        )
        .unwrap();
    actions(&mut session);
    session.pulled(
        Key(5),
        Err(Failure::new(FailureKind::Unavailable, "holder gone")),
    );
    let seen = actions(&mut session);
    assert_eq!(seen.replies.len(), 2);
    for reply in &seen.replies {
        assert!(
            matches!(&reply.response, Response::Failed(f) if f.kind == FailureKind::Unavailable),
            "{reply:?}"
        );
    }
}

#[test]
fn a_pulled_value_over_the_limits_is_refused_typed() {
    let mut session = WorkerSession::new(small());
    session.handle(pull(1, 5, 9), known).unwrap();
    session.handle(pull(2, 6, 8), known).unwrap();
    actions(&mut session);
    session.pulled(Key(5), Ok(Bytes::from(vec![0; 1001])));
    // Three values of 999 bytes fit the quota of 3000; the fourth would not.
    let seen = actions(&mut session);
    assert!(matches!(
        &seen.replies[0].response,
        Response::Failed(f) if f.kind == FailureKind::ValueTooLarge
    ));
    for (i, key) in [10, 11, 12].into_iter().enumerate() {
        session
            .handle(
                ClientMessage::Scatter {
                    key: Key(key),
                    value: Bytes::from(vec![i as u8; 999]),
                },
                known,
            )
            .unwrap();
    }
    session.pulled(Key(6), Ok(Bytes::from(vec![0; 100])));
    let seen = actions(&mut session);
    assert!(matches!(
        &seen.replies[0].response,
        Response::Failed(f) if f.kind == FailureKind::Overloaded
    ));
}

#[test]
fn a_pull_released_while_it_comes_is_answered_and_kept_nowhere() {
    let mut session = WorkerSession::new(small());
    session.handle(pull(1, 5, 9), known).unwrap();
    session
        .handle(ClientMessage::Release(vec![Key(5)]), known)
        .unwrap();
    actions(&mut session);
    session.pulled(Key(5), Ok(Bytes::from_static(b"late")));
    let seen = actions(&mut session);
    assert_eq!(seen.replies.len(), 1);
    assert_eq!(session.values_held(), 0);
    assert_eq!(session.bytes_held(), 0);
    // An unknown pull is ignored.
    session.pulled(Key(77), Ok(Bytes::from_static(b"?")));
    assert!(actions(&mut session).replies.is_empty());
}

#[test]
fn pulling_into_a_key_in_use_breaks_the_protocol() {
    let mut session = WorkerSession::new(small());
    session
        .handle(
            ClientMessage::Scatter {
                key: Key(5),
                value: Bytes::from_static(b"x"),
            },
            known,
        )
        .unwrap();
    assert_eq!(
        session.handle(pull(1, 5, 9), known),
        Err(Violation::KeyInUse(Key(5)))
    );
}

#[test]
fn a_key_whose_pull_is_out_stays_in_use_after_release() {
    // Found by the random test below: the second pull took the first one's answer.
    let mut session = WorkerSession::new(small());
    session.handle(pull(1, 5, 9), known).unwrap();
    session
        .handle(ClientMessage::Release(vec![Key(5)]), known)
        .unwrap();
    assert_eq!(
        session.handle(pull(2, 5, 9), known),
        Err(Violation::KeyInUse(Key(5)))
    );
    session.pulled(Key(5), Ok(Bytes::from_static(b"v")));
    let seen = actions(&mut session);
    assert_eq!(seen.replies.len(), 1);
    assert_eq!(seen.replies[0].id, 1);
    // Answered, the key is free again.
    session.handle(pull(3, 5, 9), known).unwrap();
}

#[test]
fn a_paused_worker_refuses_a_pull_typed() {
    let mut session = WorkerSession::new(small());
    session.pause(Some("memory".to_owned()));
    session.handle(pull(1, 5, 9), known).unwrap();
    let seen = actions(&mut session);
    assert!(seen.pulls.is_empty());
    assert!(matches!(
        &seen.replies[0].response,
        Response::Failed(f) if f.kind == FailureKind::Overloaded
    ));
}

#[test]
fn grants_are_taken_once_and_end_with_their_grantor() {
    let mut grants = Grants::default();
    grants.offer(Token([1; 32]), 1, Ok(Bytes::from_static(b"a")));
    grants.offer(Token([2; 32]), 1, Ok(Bytes::from_static(b"b")));
    grants.offer(Token([3; 32]), 2, Ok(Bytes::from_static(b"c")));
    assert_eq!(grants.len(), 3);
    grants.revoke_all(1);
    assert_eq!(grants.take(&Token([1; 32])), None);
    assert_eq!(grants.take(&Token([2; 32])), None);
    grants.revoke(&[Token([3; 32])]);
    assert!(grants.is_empty());
}

#[test]
fn a_peer_of_another_version_is_refused_even_with_a_good_token() {
    let request = PeerRequest {
        version: PROTOCOL_VERSION + 1,
        token: Token([1; 32]),
    };
    let (answer, body) = answer_peer(&request, Some(Ok(Bytes::from_static(b"v"))));
    assert!(matches!(answer, PeerAnswer::Refused(_)));
    assert!(body.is_none());
}

mod random {
    //! Random sequences of scatters, tasks, grants, pulls and releases against the rules a
    //! holder and a puller must keep: every pull is answered exactly once; every grant is
    //! offered at most once, and a grant offered for a key is revoked when the key is released;
    //! and once everything is released and finished, nothing is held. A failing case prints
    //! its steps (proptest's shrinking finds a short one).
    use std::collections::{HashMap, HashSet};

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Step {
        Scatter(u8),
        Map(u8, u8),
        Grant(u8),
        Pull(u8, u8),
        Pulled(u8, bool),
        Finish(bool),
        Release(u8),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0..8u8).prop_map(Step::Scatter),
            (0..8u8, 0..8u8).prop_map(|(a, b)| Step::Map(a, b)),
            (0..8u8).prop_map(Step::Grant),
            (0..8u8, 0..16u8).prop_map(|(k, t)| Step::Pull(k, t)),
            (0..8u8, any::<bool>()).prop_map(|(k, ok)| Step::Pulled(k, ok)),
            any::<bool>().prop_map(Step::Finish),
            (0..8u8).prop_map(Step::Release),
        ]
    }

    #[derive(Default)]
    struct Watch {
        pulls_asked: HashSet<u64>,
        pulls_answered: HashMap<u64, usize>,
        offered: HashMap<Token, Key>,
        revoked: HashSet<Token>,
        running: Vec<rivulet::remote::proto::TaskId>,
        pulling: Vec<Key>,
    }

    impl Watch {
        fn drain(&mut self, session: &mut WorkerSession) {
            let seen = actions(session);
            for (token, _) in &seen.offers {
                assert!(
                    !self.offered.contains_key(token) || self.revoked.contains(token),
                    "{token:?} offered twice"
                );
            }
            self.revoked.extend(seen.revoked.iter().copied());
            for reply in &seen.replies {
                if self.pulls_asked.contains(&reply.id) {
                    *self.pulls_answered.entry(reply.id).or_default() += 1;
                }
            }
            self.running.extend(seen.runs.iter().map(|run| run.task));
            self.pulling.extend(seen.pulls.iter().map(|pull| pull.key));
            self.offered_keys(&seen);
        }

        /// Offers of made values: each must be revoked once its key is released (a failure
        /// offered for a key already gone needs no revoking: nothing is held for it).
        fn offered_keys(&mut self, seen: &Seen) {
            for (token, value) in &seen.offers {
                if value.is_ok() {
                    self.offered.insert(*token, Key(0));
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn grants_and_pulls_keep_their_rules(steps in proptest::collection::vec(step(), 1..60)) {
            let mut session = WorkerSession::new(small());
            let mut watch = Watch::default();
            let mut next_id = 1_u64;
            let mut next_token = 100_u8;
            for step in steps {
                let message = match step {
                    Step::Scatter(k) => Some(ClientMessage::Scatter { key: Key(u64::from(k)), value: Bytes::from_static(b"v") }),
                    Step::Map(a, b) => {
                        next_id += 1;
                        Some(ClientMessage::Request { id: next_id, request: Request::Submit(map(u64::from(a), u64::from(b))) })
                    }
                    Step::Grant(k) => {
                        // The client draws a fresh token for every grant.
                        next_token = next_token.wrapping_add(1);
                        Some(grant(u64::from(k), next_token))
                    }
                    Step::Pull(k, t) => {
                        next_id += 1;
                        watch.pulls_asked.insert(next_id);
                        Some(pull(next_id, u64::from(k), t))
                    }
                    Step::Pulled(k, ok) => {
                        let key = Key(u64::from(k));
                        if let Some(at) = watch.pulling.iter().position(|p| *p == key) {
                            watch.pulling.remove(at);
                        }
                        let outcome = if ok {
                            Ok(Bytes::from_static(b"pulled"))
                        } else {
                            Err(Failure::new(FailureKind::Unavailable, "gone"))
                        };
                        session.pulled(key, outcome);
                        None
                    }
                    Step::Finish(ok) => {
                        if let Some(task) = watch.running.pop() {
                            let outcome = if ok {
                                Ok(TaskOutput { values: vec![Bytes::from_static(b"m")], verdict: None })
                            } else {
                                Err(Failure::new(FailureKind::Returned, "no"))
                            };
                            session.finished(task, outcome);
                        }
                        None
                    }
                    Step::Release(k) => Some(ClientMessage::Release(vec![Key(u64::from(k))])),
                };
                if let Some(message) = message {
                    // A violation leaves the session as it was; a pull refused so is not asked.
                    if session.handle(message, known).is_err() {
                        watch.pulls_asked.remove(&next_id);
                    }
                }
                watch.drain(&mut session);
            }
            // Everything in flight ends, everything is released.
            for key in std::mem::take(&mut watch.pulling) {
                session.pulled(key, Ok(Bytes::from_static(b"late")));
            }
            while let Some(task) = watch.running.pop() {
                session.finished(task, Ok(TaskOutput { values: vec![Bytes::from_static(b"m")], verdict: None }));
                watch.drain(&mut session);
            }
            session.handle(ClientMessage::Release((0..8).map(Key).collect()), known).unwrap();
            watch.drain(&mut session);
            for id in &watch.pulls_asked {
                prop_assert_eq!(watch.pulls_answered.get(id).copied().unwrap_or(0), 1, "pull {} answered once", id);
            }
            prop_assert_eq!(session.values_held(), 0);
            prop_assert_eq!(session.bytes_held(), 0);
            prop_assert_eq!(session.pulls_in_flight(), 0);
            for token in watch.offered.keys() {
                prop_assert!(watch.revoked.contains(token), "{:?} offered and never revoked", token);
            }
        }
    }
}
