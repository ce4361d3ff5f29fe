//! The worker's built-in tasks in its sans-IO session: `Collect` makes a batch's `Vec` from its
//! inputs' bytes, `Split` cuts a `Vec` into its elements, neither runs a function; a batch
//! waits for its pending inputs and is the first failure among them, by position.

#![cfg(feature = "remote")]

use bytes::Bytes;
use rivulet::remote::proto::{
    Action, ClientMessage, Failure, FailureKind, Key, Limits, Reply, Request, Response, Run, Task,
    TaskKind, TaskOutput, Violation, WorkerSession, split_params,
};

fn known(name: &str) -> bool {
    name == "f"
}

fn task(kind: TaskKind, inputs: &[u64], outputs: &[u64]) -> Task {
    Task {
        kind,
        function: if kind.is_built_in() {
            String::new()
        } else {
            "f".into()
        },
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

fn fetch(id: u64, key: u64) -> ClientMessage {
    ClientMessage::Request {
        id,
        request: Request::Fetch { key: Key(key) },
    }
}

fn scatter<T: serde::Serialize>(key: u64, value: &T) -> ClientMessage {
    ClientMessage::Scatter {
        key: Key(key),
        value: Bytes::from(postcard::to_allocvec(value).unwrap()),
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

fn fetched(replies: &[Reply], id: u64) -> Bytes {
    match replies.iter().find(|r| r.id == id).map(|r| &r.response) {
        Some(Response::Value(bytes)) => bytes.clone(),
        other => panic!("fetch {id}: {other:?}"),
    }
}

#[test]
fn a_batch_is_the_vec_of_its_inputs() {
    let mut session = WorkerSession::new(Limits::default());
    let words = ["one".to_owned(), String::new(), "three".to_owned()];
    for (i, word) in words.iter().enumerate() {
        session.handle(scatter(i as u64, word), known).unwrap();
    }
    session
        .handle(submit(1, task(TaskKind::Collect, &[0, 1, 2], &[3])), known)
        .unwrap();
    session
        .handle(submit(2, task(TaskKind::Collect, &[], &[4])), known)
        .unwrap();
    session.handle(fetch(3, 3), known).unwrap();
    session.handle(fetch(4, 4), known).unwrap();
    let (runs, replies) = actions(&mut session);
    assert!(runs.is_empty(), "a batch runs no function");
    let batch: Vec<String> = postcard::from_bytes(&fetched(&replies, 3)).unwrap();
    assert_eq!(batch, words);
    let empty: Vec<String> = postcard::from_bytes(&fetched(&replies, 4)).unwrap();
    assert!(empty.is_empty());
}

#[test]
fn a_batch_waits_for_its_inputs_and_is_the_first_failure() {
    let mut session = WorkerSession::new(Limits::default());
    session.handle(scatter(0, &1_i64), known).unwrap();
    session.handle(scatter(1, &2_i64), known).unwrap();
    // Keys 2 and 3 are made by tasks that fail, the later one first.
    session
        .handle(submit(1, task(TaskKind::Map, &[0], &[2])), known)
        .unwrap();
    session
        .handle(submit(2, task(TaskKind::Map, &[1], &[3])), known)
        .unwrap();
    session
        .handle(submit(3, task(TaskKind::Collect, &[0, 2, 3], &[4])), known)
        .unwrap();
    let (runs, replies) = actions(&mut session);
    assert_eq!(runs.len(), 2);
    assert!(replies.is_empty(), "the batch waits for its inputs");
    let second = Failure::new(FailureKind::Returned, "second");
    session.finished(runs[1].task, Err(second));
    let (_, replies) = actions(&mut session);
    assert_eq!(replies.len(), 1, "still waiting for key 2");
    let first = Failure::new(FailureKind::Panicked, "first");
    session.finished(runs[0].task, Err(first.clone()));
    let (_, replies) = actions(&mut session);
    let batch = replies.iter().find(|r| r.id == 3).unwrap();
    assert_eq!(batch.response, Response::Failed(first));
}

#[test]
fn a_vec_splits_into_its_elements() {
    let mut session = WorkerSession::new(Limits::default());
    let batch = vec!["a".to_owned(), "bcd".to_owned()];
    session.handle(scatter(0, &batch), known).unwrap();
    let mut split = task(TaskKind::Split, &[0], &[1, 2]);
    split.params = split_params(&[1, 3, 7]);
    session.handle(submit(1, split), known).unwrap();
    session.handle(fetch(2, 1), known).unwrap();
    session.handle(fetch(3, 2), known).unwrap();
    let (runs, replies) = actions(&mut session);
    assert!(runs.is_empty());
    for (id, want) in [(2, "a"), (3, "bcd")] {
        let got: String = postcard::from_bytes(&fetched(&replies, id)).unwrap();
        assert_eq!(got, want);
    }
    // Offsets that do not fit the value fail the task (every output), typed.
    let mut bad = task(TaskKind::Split, &[0], &[3, 4]);
    bad.params = split_params(&[1, 3, 8]);
    session.handle(submit(4, bad), known).unwrap();
    let mut short = task(TaskKind::Split, &[0], &[5]);
    short.params = split_params(&[1, 7]);
    session.handle(submit(5, short), known).unwrap();
    let (_, replies) = actions(&mut session);
    assert_eq!(replies.len(), 2);
    for reply in replies {
        match reply.response {
            Response::Failed(failure) => assert_eq!(failure.kind, FailureKind::Decode),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(session.unfinished_tasks(), 0);
}

#[test]
fn built_in_shapes_are_checked() {
    let mut session = WorkerSession::new(Limits::default());
    session.handle(scatter(0, &vec![1_u8]), known).unwrap();
    assert_eq!(
        session.handle(submit(1, task(TaskKind::Collect, &[0], &[1, 2])), known),
        Err(Violation::TaskShape {
            kind: TaskKind::Collect,
            inputs: 1,
            outputs: 2
        })
    );
    assert_eq!(
        session.handle(submit(2, task(TaskKind::Split, &[0, 0], &[1])), known),
        Err(Violation::TaskShape {
            kind: TaskKind::Split,
            inputs: 2,
            outputs: 1
        })
    );
    assert_eq!(
        session.handle(submit(3, task(TaskKind::Collect, &[9], &[1])), known),
        Err(Violation::UnknownKey(Key(9)))
    );
}

#[rivulet::remote]
fn double(x: i64) -> i64 {
    2 * x
}

/// A registered function never runs as a built-in task (a driver asked to would be broken).
#[test]
fn the_registry_refuses_to_run_a_built_in_kind() {
    use rivulet::RemoteFn;
    let registration = rivulet::remote::registry::lookup(double::NAME).unwrap();
    let input = postcard::to_allocvec(&3_i64).unwrap();
    for kind in [TaskKind::Collect, TaskKind::Split] {
        let refused = registration.run_task(kind, &[], &input);
        assert!(
            matches!(refused, Err(ref f) if f.kind == FailureKind::Encode),
            "{refused:?}"
        );
    }
    let ran: Result<TaskOutput, Failure> = registration.run_task(TaskKind::Map, &[], &input);
    let values = ran.unwrap().values;
    assert_eq!(postcard::from_bytes::<i64>(&values[0]).unwrap(), 6);
}
