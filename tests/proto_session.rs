//! The worker's sans-IO session: messages in, actions out, no sockets and no clock.
#![cfg(feature = "remote")]

use bytes::Bytes;
use proptest::prelude::*;
use rivulet::remote::proto::{
    Action, ClientMessage, Failure, FailureKind, Key, Limits, Reply, Request, Response, Run, Task,
    TaskKind, TaskOutput, Violation, WorkerSession,
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

fn task(kind: TaskKind, inputs: &[u64], outputs: &[u64]) -> Task {
    Task {
        kind,
        function: "f".into(),
        params: Bytes::new(),
        inputs: inputs.iter().copied().map(Key).collect(),
        outputs: outputs.iter().copied().map(Key).collect(),
        reply_with_value: true,
    }
}

fn submit(id: u64, task: Task) -> ClientMessage {
    ClientMessage::Request {
        id,
        request: Request::Submit(task),
    }
}

fn submit_with(id: u64, task: Task, inputs: &[(u64, &'static [u8])]) -> ClientMessage {
    ClientMessage::Request {
        id,
        request: Request::SubmitWith {
            task,
            inputs: inputs
                .iter()
                .map(|(key, bytes)| (Key(*key), Bytes::from_static(bytes)))
                .collect(),
        },
    }
}

fn fetch(id: u64, key: u64) -> ClientMessage {
    ClientMessage::Request {
        id,
        request: Request::Fetch { key: Key(key) },
    }
}

fn scatter(key: u64, bytes: &'static [u8]) -> ClientMessage {
    ClientMessage::Scatter {
        key: Key(key),
        value: Bytes::from_static(bytes),
    }
}

fn actions(session: &mut WorkerSession) -> (Vec<Run>, Vec<Reply>) {
    let (mut runs, mut replies) = (Vec::new(), Vec::new());
    while let Some(action) = session.poll_action() {
        match action {
            Action::Run(run) => runs.push(run),
            Action::Send(reply) => replies.push(reply),
            other => panic!("{other:?} without a grant or a pull"),
        }
    }
    (runs, replies)
}

fn one_value(bytes: &'static [u8]) -> Result<TaskOutput, Failure> {
    Ok(TaskOutput {
        values: vec![Bytes::from_static(bytes)],
        verdict: None,
    })
}

#[test]
fn a_task_waits_for_the_task_that_makes_its_input() {
    let mut session = WorkerSession::new(small());
    session.handle(scatter(0, b"a"), known).unwrap();
    session
        .handle(submit(1, task(TaskKind::Map, &[0], &[1])), known)
        .unwrap();
    session
        .handle(submit(2, task(TaskKind::Map, &[1], &[2])), known)
        .unwrap();
    session.handle(fetch(3, 2), known).unwrap();
    let (runs, replies) = actions(&mut session);
    assert_eq!(runs.len(), 1, "only the first task can run");
    assert!(replies.is_empty());
    session.finished(runs[0].task, one_value(b"b"));
    let (runs, replies) = actions(&mut session);
    assert_eq!(replies[0].id, 1);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].input, Bytes::from_static(b"b"));
    session.finished(runs[0].task, one_value(b"c"));
    let (_, replies) = actions(&mut session);
    let ids: Vec<u64> = replies.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![2, 3]);
    assert_eq!(
        replies[1].response,
        Response::Value(Bytes::from_static(b"c"))
    );
    assert_eq!(session.unfinished_tasks(), 0);
}

#[test]
fn a_failure_passes_to_the_tasks_and_fetches_that_wait_for_it() {
    let mut session = WorkerSession::new(small());
    session.handle(scatter(0, b"a"), known).unwrap();
    session
        .handle(submit(1, task(TaskKind::Map, &[0], &[1])), known)
        .unwrap();
    session
        .handle(submit(2, task(TaskKind::Map, &[1], &[2])), known)
        .unwrap();
    session.handle(fetch(3, 2), known).unwrap();
    let (runs, _) = actions(&mut session);
    let boom = Failure::new(FailureKind::Panicked, "boom");
    session.finished(runs[0].task, Err(boom.clone()));
    let (runs, replies) = actions(&mut session);
    assert!(runs.is_empty(), "a task on a failed input never runs");
    assert_eq!(replies.len(), 3);
    assert!(
        replies
            .iter()
            .all(|r| r.response == Response::Failed(boom.clone()))
    );
}

#[test]
fn a_zip_is_made_without_running_anything() {
    let mut session = WorkerSession::new(small());
    session.handle(scatter(0, b"ab"), known).unwrap();
    session.handle(scatter(1, b"cd"), known).unwrap();
    let mut zip = task(TaskKind::Zip, &[0, 1], &[2]);
    zip.function = String::new();
    session.handle(submit(9, zip), known).unwrap();
    session.handle(fetch(10, 2), known).unwrap();
    let (runs, replies) = actions(&mut session);
    assert!(runs.is_empty());
    assert_eq!(
        replies[1].response,
        Response::Value(Bytes::from_static(b"abcd"))
    );
}

#[test]
fn protocol_violations_are_typed() {
    let mut session = WorkerSession::new(small());
    session.handle(scatter(0, b"a"), known).unwrap();
    assert_eq!(
        session.handle(scatter(0, b"a"), known),
        Err(Violation::KeyInUse(Key(0)))
    );
    assert_eq!(
        session.handle(fetch(1, 7), known),
        Err(Violation::UnknownKey(Key(7)))
    );
    let mut unknown = task(TaskKind::Map, &[0], &[1]);
    unknown.function = "g".into();
    assert_eq!(
        session.handle(submit(2, unknown), known),
        Err(Violation::UnknownFunction("g".into()))
    );
    assert!(matches!(
        session.handle(submit(3, task(TaskKind::Map, &[0], &[1, 2])), known),
        Err(Violation::TaskShape { .. })
    ));
    assert!(matches!(
        session.handle(
            ClientMessage::Scatter {
                key: Key(5),
                value: Bytes::from(vec![0; 1001])
            },
            known
        ),
        Err(Violation::ValueTooLarge {
            len: 1001,
            max: 1000,
            ..
        })
    ));
}

#[test]
fn a_value_in_pieces_is_kept_once_whole_and_fetched_in_pieces() {
    let mut session = WorkerSession::new(small());
    let value: Vec<u8> = (0..250u32).map(|i| i as u8).collect();
    for (i, chunk) in value.chunks(100).enumerate() {
        let back_offset = 100 * i as u64;
        assert_eq!(session.values_held(), 0);
        let part = ClientMessage::ScatterPart {
            key: Key(4),
            total: 250,
            offset: back_offset,
            chunk: Bytes::copy_from_slice(chunk),
        };
        session.handle(part, known).unwrap();
    }
    assert_eq!(session.values_held(), 1);
    session.handle(fetch(1, 4), known).unwrap();
    let (_, replies) = actions(&mut session);
    let mut back = Vec::new();
    for reply in &replies {
        match &reply.response {
            Response::ValuePart {
                total: 250,
                offset,
                chunk,
            } => {
                assert_eq!(*offset as usize, back.len());
                back.extend_from_slice(chunk)
            }
            other => panic!("not a piece: {other:?}"),
        }
    }
    assert_eq!(replies.len(), 3);
    assert_eq!(back, value);
    // A piece past the announced length breaks the protocol.
    let piece = |offset: u64, chunk: &'static [u8]| ClientMessage::ScatterPart {
        key: Key(5),
        total: 3,
        offset,
        chunk: Bytes::from_static(chunk),
    };
    session.handle(piece(0, b"ab"), known).unwrap();
    assert!(matches!(
        session.handle(piece(2, b"cd"), known),
        Err(Violation::BadPiece { .. })
    ));
    // A piece repeated (or out of order) is seen, not put into the value.
    let mut session = WorkerSession::new(small());
    session.handle(piece(0, b"a"), known).unwrap();
    assert!(matches!(
        session.handle(piece(0, b"a"), known),
        Err(Violation::BadPiece { .. })
    ));
}

#[test]
fn quotas_refuse_with_a_typed_failure() {
    let mut session = WorkerSession::new(small());
    for key in 0..3 {
        let value = ClientMessage::Scatter {
            key: Key(key),
            value: Bytes::from(vec![1; 1000]),
        };
        session.handle(value, known).unwrap();
    }
    // The fourth value would pass 3000 bytes: its key holds a refusal.
    let value = ClientMessage::Scatter {
        key: Key(3),
        value: Bytes::from(vec![1; 10]),
    };
    session.handle(value, known).unwrap();
    session.handle(fetch(1, 3), known).unwrap();
    let (_, replies) = actions(&mut session);
    assert!(
        matches!(&replies[0].response, Response::Failed(f) if f.kind == FailureKind::Overloaded)
    );
    session
        .handle(
            ClientMessage::Release(vec![Key(0), Key(1), Key(2), Key(3)]),
            known,
        )
        .unwrap();
    assert_eq!(session.bytes_held(), 0);

    // More than four unfinished tasks: the fifth is refused.
    session.handle(scatter(10, b"x"), known).unwrap();
    for id in 0..5 {
        session
            .handle(submit(id, task(TaskKind::Map, &[10], &[20 + id])), known)
            .unwrap();
    }
    let (runs, replies) = actions(&mut session);
    assert_eq!(runs.len(), 4);
    assert_eq!(replies.len(), 1);
    assert!(
        matches!(&replies[0].response, Response::Failed(f) if f.kind == FailureKind::Overloaded)
    );
}

#[test]
fn a_task_result_over_the_value_limit_fails_that_task() {
    let mut session = WorkerSession::new(small());
    session.handle(scatter(0, b"a"), known).unwrap();
    session
        .handle(submit(1, task(TaskKind::Map, &[0], &[1])), known)
        .unwrap();
    let (runs, _) = actions(&mut session);
    let big = Ok(TaskOutput {
        values: vec![Bytes::from(vec![0; 1001])],
        verdict: None,
    });
    session.finished(runs[0].task, big);
    let (_, replies) = actions(&mut session);
    assert!(
        matches!(&replies[0].response, Response::Failed(f) if f.kind == FailureKind::ValueTooLarge)
    );
}

#[test]
fn released_while_pending_is_dropped_when_made() {
    let mut session = WorkerSession::new(small());
    session.handle(scatter(0, b"a"), known).unwrap();
    session
        .handle(submit(1, task(TaskKind::Map, &[0], &[1])), known)
        .unwrap();
    let (runs, _) = actions(&mut session);
    session
        .handle(ClientMessage::Release(vec![Key(0), Key(1)]), known)
        .unwrap();
    session.finished(runs[0].task, one_value(b"b"));
    let (_, replies) = actions(&mut session);
    assert_eq!(replies.len(), 1, "the task is still answered");
    assert_eq!(session.values_held(), 0);
    // A report for a task the session does not know is ignored.
    session.finished(runs[0].task, one_value(b"c"));
    assert!(session.poll_action().is_none());
}

/// A reference model: a chain of maps over random scatters and releases, with tasks finishing
/// in a random order; every submit gets exactly one reply, and the values held are those
/// scattered or made and not released.
#[derive(Debug, Clone)]
enum Step {
    Scatter,
    Map {
        input: usize,
    },
    /// An accumulate step whose item comes along with it, on a state that may be pending.
    AccumulateWith {
        state: usize,
    },
    Release {
        index: usize,
    },
    Finish {
        index: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::Scatter),
        (0usize..32).prop_map(|input| Step::Map { input }),
        (0usize..32).prop_map(|state| Step::AccumulateWith { state }),
        (0usize..32).prop_map(|index| Step::Release { index }),
        (0usize..32).prop_map(|index| Step::Finish { index }),
    ]
}

proptest! {
    #[test]
    fn every_submit_is_answered_once_and_held_values_match(steps in prop::collection::vec(step(), 1..120)) {
        let mut session = WorkerSession::new(Limits { max_tasks: 1000, ..small() });
        let mut live: Vec<Key> = Vec::new();
        let mut next_key = 0u64;
        let mut next_id = 0u64;
        let mut running: Vec<Run> = Vec::new();
        let mut answered = std::collections::HashMap::<u64, usize>::new();
        let mut submitted = 0u64;
        for step in steps {
            match step {
                Step::Scatter => {
                    session.handle(ClientMessage::Scatter { key: Key(next_key), value: Bytes::from_static(b"v") }, known).unwrap();
                    live.push(Key(next_key));
                    next_key += 1;
                }
                Step::Map { input } if !live.is_empty() => {
                    let input = live[input % live.len()];
                    let output = Key(next_key);
                    next_key += 1;
                    let t = Task { inputs: vec![input], outputs: vec![output], ..task(TaskKind::Map, &[], &[]) };
                    session.handle(submit(next_id, t), known).unwrap();
                    next_id += 1;
                    submitted += 1;
                    live.push(output);
                }
                Step::AccumulateWith { state } if !live.is_empty() => {
                    let state = live[state % live.len()];
                    let (item, out_state, out_value) = (Key(next_key), Key(next_key + 1), Key(next_key + 2));
                    next_key += 3;
                    let t = Task { inputs: vec![state, item], outputs: vec![out_state, out_value], ..task(TaskKind::Accumulate, &[], &[]) };
                    let message = ClientMessage::Request {
                        id: next_id,
                        request: Request::SubmitWith { task: t, inputs: vec![(item, Bytes::from_static(b"x"))] },
                    };
                    session.handle(message, known).unwrap();
                    next_id += 1;
                    submitted += 1;
                    // The item is the worker's only until the task starts: never the client's.
                    live.push(out_state);
                    live.push(out_value);
                }
                Step::Release { index } if !live.is_empty() => {
                    let key = live.remove(index % live.len());
                    session.handle(ClientMessage::Release(vec![key]), known).unwrap();
                }
                Step::Finish { index } if !running.is_empty() => {
                    let run = running.remove(index % running.len());
                    session.finished(run.task, one_value(b"w"));
                }
                _ => {}
            }
            let (runs, replies) = actions(&mut session);
            running.extend(runs);
            for reply in replies {
                *answered.entry(reply.id).or_default() += 1;
            }
        }
        // Finish everything still running, in order, until nothing is left.
        while let Some(run) = running.pop() {
            session.finished(run.task, one_value(b"w"));
            let (runs, replies) = actions(&mut session);
            running.extend(runs);
            for reply in replies {
                *answered.entry(reply.id).or_default() += 1;
            }
        }
        prop_assert!(answered.values().all(|n| *n == 1), "a submit answered twice: {answered:?}");
        prop_assert_eq!(answered.len() as u64, submitted, "a submit never answered");
        prop_assert_eq!(session.values_held(), live.len());
        prop_assert_eq!(session.unfinished_tasks(), 0);
    }
}

#[test]
fn a_paused_worker_refuses_new_work_and_serves_what_it_has() {
    let mut session = WorkerSession::new(small());
    session.handle(scatter(0, b"a"), known).unwrap();
    session.pause(Some("short of memory".into()));
    session.handle(scatter(1, b"b"), known).unwrap();
    session
        .handle(submit(2, task(TaskKind::Map, &[0], &[3])), known)
        .unwrap();
    session.handle(fetch(4, 0), known).unwrap();
    session.handle(fetch(5, 1), known).unwrap();
    let (runs, replies) = actions(&mut session);
    assert!(runs.is_empty(), "no new task runs while paused");
    let refused = |r: &Reply| matches!(&r.response, Response::Failed(f) if f.kind == FailureKind::Overloaded && f.message == "short of memory");
    assert!(refused(&replies[0]), "{:?}", replies[0]);
    assert_eq!(
        replies[1].response,
        Response::Value(Bytes::from_static(b"a"))
    );
    assert!(refused(&replies[2]));
    session.pause(None);
    session
        .handle(submit(6, task(TaskKind::Map, &[0], &[7])), known)
        .unwrap();
    assert_eq!(
        actions(&mut session).0.len(),
        1,
        "work is taken again once resumed"
    );
}

fn run_one(session: &mut WorkerSession) -> Run {
    match session.poll_action() {
        Some(Action::Run(run)) => run,
        other => panic!("expected a run, got {other:?}"),
    }
}

/// Found by fuzzing: a released key made again by another task keeps its waiters for that
/// task, instead of their being answered when the first task finishes.
#[test]
fn a_reused_key_keeps_its_waiters_for_the_task_that_makes_it_now() {
    let mut s = WorkerSession::new(Limits::default());
    s.handle(scatter(0, &[1]), known).unwrap();
    s.handle(submit(1, task(TaskKind::Map, &[0], &[1])), known)
        .unwrap();
    let first = run_one(&mut s);
    s.handle(ClientMessage::Release(vec![Key(1)]), known)
        .unwrap();
    s.handle(submit(2, task(TaskKind::Map, &[0], &[1])), known)
        .unwrap();
    let second = run_one(&mut s);
    s.handle(fetch(3, 1), known).unwrap();
    s.handle(submit(4, task(TaskKind::Map, &[1], &[2])), known)
        .unwrap();
    s.finished(first.task, one_value(b"old"));
    let (runs, replies) = actions(&mut s);
    assert!(runs.is_empty());
    assert_eq!(replies.iter().map(|r| r.id).collect::<Vec<_>>(), vec![1]);
    s.finished(second.task, one_value(b"new"));
    let (runs, replies) = actions(&mut s);
    assert_eq!(runs.len(), 1, "the waiting task runs on the new value");
    assert_eq!(runs[0].input, Bytes::from_static(b"new"));
    assert_eq!(
        replies[1].response,
        Response::Value(Bytes::from_static(b"new"))
    );
}

/// Found by fuzzing: a refused first piece leaves its key free.
#[test]
fn a_refused_first_piece_leaves_its_key_free() {
    let mut s = WorkerSession::new(Limits::default());
    let bad = ClientMessage::ScatterPart {
        key: Key(5),
        total: 1,
        offset: 0,
        chunk: Bytes::from_static(&[0, 0]),
    };
    assert!(matches!(
        s.handle(bad, known),
        Err(Violation::BadPiece { .. })
    ));
    let late = ClientMessage::ScatterPart {
        key: Key(5),
        total: 4,
        offset: 2,
        chunk: Bytes::from_static(&[0, 0]),
    };
    assert!(matches!(
        s.handle(late, known),
        Err(Violation::BadPiece { .. })
    ));
    s.handle(scatter(5, b""), known)
        .expect("the key is still free");
}

/// Found by fuzzing: a long chain of tasks waiting on one that fails is woken in a loop, not
/// by recursion (2,000 pipelined accumulate steps overflowed a 2 MiB stack).
#[test]
fn a_long_chain_failing_at_its_root_does_not_overflow_the_stack() {
    let chain = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(|| {
            let mut s = WorkerSession::new(Limits::default());
            s.handle(scatter(0, &[1]), known).unwrap();
            s.handle(submit(0, task(TaskKind::Map, &[0], &[1])), known)
                .unwrap();
            let root = run_one(&mut s);
            for i in 1..=5_000u64 {
                s.handle(
                    submit(
                        i,
                        task(
                            TaskKind::Accumulate,
                            &[2 * i - 1, 0],
                            &[2 * i + 1, 2 * i + 2],
                        ),
                    ),
                    known,
                )
                .unwrap();
            }
            s.finished(root.task, Err(Failure::new(FailureKind::Returned, "no")));
            let (_, replies) = actions(&mut s);
            replies.len()
        })
        .expect("thread");
    assert_eq!(chain.join().expect("no stack overflow"), 5_001);
}

/// Found by fuzzing: values announced in pieces count at their whole length against the quota,
/// so announcing many and sending them slowly cannot get past it.
#[test]
fn values_in_pieces_count_against_the_quota_at_their_whole_length() {
    let limits = Limits {
        max_value: 1 << 20,
        max_bytes_held: 1 << 20,
        ..Limits::default()
    };
    let mut s = WorkerSession::new(limits);
    for k in 0..100 {
        let first = ClientMessage::ScatterPart {
            key: Key(k),
            total: 1 << 20,
            offset: 0,
            chunk: Bytes::new(),
        };
        s.handle(first, known).unwrap();
    }
    let rest = Bytes::from(vec![0u8; 1 << 20]);
    for k in 0..100 {
        let piece = ClientMessage::ScatterPart {
            key: Key(k),
            total: 1 << 20,
            offset: 0,
            chunk: rest.clone(),
        };
        s.handle(piece, known).unwrap();
    }
    assert!(
        s.bytes_held() <= 1 << 20,
        "bytes held {} past the quota",
        s.bytes_held()
    );
    // The first was within the quota and is kept; the others hold a typed refusal.
    for k in 0..100 {
        s.handle(fetch(1000 + k, k), known).unwrap();
    }
    let (_, replies) = actions(&mut s);
    let refused = replies
        .iter()
        .filter(|r| matches!(&r.response, Response::Failed(f) if f.kind == FailureKind::Overloaded))
        .count();
    assert_eq!(refused, 99);
}

/// Found by fuzzing: a task waiting for a key the client releases fails at once, so a key
/// released and made again by a task over the waiter's own output cannot leave both waiting
/// for ever.
#[test]
fn a_released_input_fails_the_task_waiting_for_it() {
    let mut s = WorkerSession::new(Limits::default());
    s.handle(scatter(0, &[1]), known).unwrap();
    s.handle(submit(1, task(TaskKind::Map, &[0], &[1])), known)
        .unwrap(); // A makes key 1
    let a = run_one(&mut s);
    s.handle(submit(2, task(TaskKind::Map, &[1], &[2])), known)
        .unwrap(); // W waits for key 1
    s.handle(ClientMessage::Release(vec![Key(1)]), known)
        .unwrap();
    s.handle(submit(3, task(TaskKind::Map, &[2], &[1])), known)
        .unwrap(); // B: key 2 -> key 1
    s.finished(a.task, one_value(b"a"));
    let (runs, replies) = actions(&mut s);
    assert!(runs.is_empty());
    let mut answered: Vec<u64> = replies.iter().map(|r| r.id).collect();
    answered.sort_unstable();
    assert_eq!(answered, vec![1, 2, 3], "every request is answered");
    assert!(
        matches!(&replies.iter().find(|r| r.id == 2).unwrap().response,
        Response::Failed(f) if f.kind == FailureKind::Aborted)
    );
    assert_eq!(s.unfinished_tasks(), 0);
}

#[test]
fn inputs_along_with_a_task_are_its_own_and_freed_once_it_starts() {
    let mut session = WorkerSession::new(small());
    session
        .handle(
            submit_with(1, task(TaskKind::Map, &[0], &[1]), &[(0, b"a")]),
            known,
        )
        .unwrap();
    let (runs, _) = actions(&mut session);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].input, Bytes::from_static(b"a"));
    assert_eq!(session.values_held(), 1, "only the output is kept");

    // On a pending state, the item is kept until the task can start.
    session
        .handle(
            submit_with(
                2,
                task(TaskKind::Accumulate, &[1, 5], &[6, 7]),
                &[(5, b"x")],
            ),
            known,
        )
        .unwrap();
    assert_eq!(
        session.values_held(),
        4,
        "output 1, item 5, outputs 6 and 7"
    );
    session.finished(runs[0].task, one_value(b"s"));
    let (runs, replies) = actions(&mut session);
    assert_eq!((runs.len(), replies.len()), (1, 1));
    assert_eq!(runs[0].input, Bytes::from_static(b"sx"));
    assert_eq!(
        session.values_held(),
        3,
        "the item went when the task started"
    );
}

#[test]
fn a_task_that_fails_before_starting_frees_its_inputs_along() {
    let mut session = WorkerSession::new(small());
    session.handle(scatter(0, b"a"), known).unwrap();
    session
        .handle(submit(1, task(TaskKind::Map, &[0], &[1])), known)
        .unwrap();
    let (runs, _) = actions(&mut session);
    session
        .handle(
            submit_with(2, task(TaskKind::Zip, &[1, 9], &[2]), &[(9, b"b")]),
            known,
        )
        .unwrap();
    session.finished(
        runs[0].task,
        Err(Failure::new(FailureKind::Panicked, "boom")),
    );
    let (_, replies) = actions(&mut session);
    assert_eq!(replies.len(), 2);
    assert_eq!(
        session.values_held(),
        3,
        "0, and the failures under 1 and 2; not 9"
    );
}

#[test]
fn inputs_along_that_break_the_rules_are_violations_and_change_nothing() {
    let mut session = WorkerSession::new(small());
    session.handle(scatter(0, b"a"), known).unwrap();
    let stray = submit_with(1, task(TaskKind::Map, &[0], &[1]), &[(3, b"b")]);
    assert_eq!(
        session.handle(stray, known),
        Err(Violation::StrayInput(Key(3)))
    );
    let taken = submit_with(1, task(TaskKind::Map, &[0], &[1]), &[(0, b"b")]);
    assert_eq!(
        session.handle(taken, known),
        Err(Violation::KeyInUse(Key(0)))
    );
    let twice = submit_with(
        1,
        task(TaskKind::Zip, &[4, 4], &[1]),
        &[(4, b"b"), (4, b"c")],
    );
    assert_eq!(
        session.handle(twice, known),
        Err(Violation::StrayInput(Key(4)))
    );
    let unknown = ClientMessage::Request {
        id: 1,
        request: Request::SubmitWith {
            task: Task {
                function: "nope".into(),
                ..task(TaskKind::Map, &[4], &[5])
            },
            inputs: vec![(Key(4), Bytes::from_static(b"b"))],
        },
    };
    assert_eq!(
        session.handle(unknown, known),
        Err(Violation::UnknownFunction("nope".into()))
    );
    assert_eq!(session.values_held(), 1, "only the scattered value");
    assert_eq!(session.bytes_held(), 1);
}
