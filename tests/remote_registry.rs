//! The registry of remote functions: registration, lookup, and running functions on bytes.
#![cfg(feature = "remote")]

use rivulet::RemoteFn;
use rivulet::remote::proto::FunctionId;
use rivulet::remote::registry::{TaskFailure, functions, lookup, missing};
use serde::{Deserialize, Serialize};

#[rivulet::remote]
fn inc(x: i64) -> i64 {
    x + 1
}

#[rivulet::remote]
fn parse(text: String) -> Result<i64, String> {
    text.parse()
        .map_err(|e| format!("cannot parse {text:?}: {e}"))
}

#[rivulet::remote]
fn explode(x: i64) -> i64 {
    if x < 0 {
        panic!("negative input: {x}");
    }
    x
}

/// An accumulate step, `(S, T) -> (S, U)`: a running total and the number of items seen.
#[rivulet::remote]
fn running_total(state: (i64, u32), x: i64) -> ((i64, u32), String) {
    let (total, count) = (state.0 + x, state.1 + 1);
    ((total, count), format!("{count}: {total}"))
}

/// A function with parameters: a serde struct implementing `RemoteFn` by hand.
#[derive(Debug, Serialize, Deserialize)]
struct AddN {
    n: i64,
}

impl RemoteFn for AddN {
    const NAME: &'static str = concat!(module_path!(), "::AddN");
    type Input = i64;
    type Output = i64;
    type Error = std::convert::Infallible;

    fn call(&self, x: i64) -> Result<i64, Self::Error> {
        Ok(x + self.n)
    }
}

rivulet::register!(AddN);

// Registering a type a second time changes nothing.
rivulet::register!(AddN, inc);

// Two different types claiming one name: neither can run.
#[derive(Serialize, Deserialize)]
struct ClashA;
#[derive(Serialize, Deserialize)]
struct ClashB;

const CLASH: &str = concat!(module_path!(), "::clash");

impl RemoteFn for ClashA {
    const NAME: &'static str = CLASH;
    type Input = i64;
    type Output = i64;
    type Error = std::convert::Infallible;
    fn call(&self, x: i64) -> Result<i64, Self::Error> {
        Ok(x)
    }
}

impl RemoteFn for ClashB {
    const NAME: &'static str = CLASH;
    type Input = String;
    type Output = String;
    type Error = std::convert::Infallible;
    fn call(&self, x: String) -> Result<String, Self::Error> {
        Ok(x)
    }
}

rivulet::register!(ClashA, ClashB);

fn enc<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).unwrap()
}

fn dec<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> T {
    postcard::from_bytes(bytes).unwrap()
}

#[test]
fn lookup_finds_registered_functions_by_name() {
    let registration = lookup(inc::NAME).expect("inc is registered");
    assert_eq!(inc::NAME, "remote_registry::inc");
    assert_eq!(registration.name(), "remote_registry::inc");
    assert_eq!(registration.signature(), "i64 -> i64");
    assert_eq!(registration.type_name(), "remote_registry::inc");
    assert_eq!(
        registration.id(),
        FunctionId {
            name: "remote_registry::inc".into(),
            signature: "i64 -> i64".into()
        }
    );

    assert_eq!(
        lookup(AddN::NAME).unwrap().type_name(),
        "remote_registry::AddN"
    );
    assert!(lookup("remote_registry::nope").is_none());
    assert!(lookup("").is_none());
}

#[test]
fn run_decodes_calls_and_encodes() {
    let output = lookup(inc::NAME).unwrap().run(&[], &enc(&41_i64)).unwrap();
    assert_eq!(output, enc(&42_i64));
    assert_eq!(dec::<i64>(&output), 42);
}

#[test]
fn run_reports_the_err_display() {
    let registration = lookup(parse::NAME).unwrap();
    assert_eq!(registration.signature(), "alloc::string::String -> i64");
    assert_eq!(dec::<i64>(&registration.run(&[], &enc("-7")).unwrap()), -7);

    let failure = registration.run(&[], &enc("seven")).unwrap_err();
    assert_eq!(
        failure,
        TaskFailure::Failed("cannot parse \"seven\": invalid digit found in string".into())
    );
    assert_eq!(
        failure.to_string(),
        "cannot parse \"seven\": invalid digit found in string"
    );
}

#[test]
fn run_catches_panics_with_their_message() {
    let registration = lookup(explode::NAME).unwrap();
    let failure = registration.run(&[], &enc(&-3_i64)).unwrap_err();
    assert_eq!(failure, TaskFailure::Panicked("negative input: -3".into()));
    assert_eq!(failure.to_string(), "panicked: negative input: -3");
    // The registration is still usable afterwards.
    assert_eq!(dec::<i64>(&registration.run(&[], &enc(&3_i64)).unwrap()), 3);
}

#[test]
fn run_rejects_bad_input_bytes() {
    let registration = lookup(inc::NAME).unwrap();
    // Nothing at all where an i64 should be.
    assert!(matches!(
        registration.run(&[], &[]),
        Err(TaskFailure::BadInput(_))
    ));
    // A varint that never ends.
    assert!(matches!(
        registration.run(&[], &[0xff; 11]),
        Err(TaskFailure::BadInput(_))
    ));
    // A valid i64 followed by more bytes: the value was of another type.
    let mut too_long = enc(&1_i64);
    too_long.extend(enc(&2_i64));
    let failure = registration.run(&[], &too_long).unwrap_err();
    assert_eq!(
        failure,
        TaskFailure::BadInput("1 bytes left over after the value".into())
    );
    assert_eq!(
        failure.to_string(),
        "cannot decode the input: 1 bytes left over after the value"
    );
    // Invalid UTF-8 where a String should be.
    let failure = lookup(parse::NAME)
        .unwrap()
        .run(&[], &[2, 0xff, 0xfe])
        .unwrap_err();
    assert!(matches!(failure, TaskFailure::BadInput(_)), "{failure:?}");
    // A unit struct has no parameters: any byte there is wrong.
    assert!(matches!(
        registration.run(&[0], &enc(&1_i64)),
        Err(TaskFailure::BadParams(_))
    ));
}

#[test]
fn hand_written_function_carries_its_parameters() {
    let registration = lookup(AddN::NAME).unwrap();
    assert_eq!(registration.signature(), "i64 -> i64");
    let output = registration
        .run(&enc(&AddN { n: 10 }), &enc(&5_i64))
        .unwrap();
    assert_eq!(dec::<i64>(&output), 15);
    let output = registration
        .run(&enc(&AddN { n: -10 }), &enc(&5_i64))
        .unwrap();
    assert_eq!(dec::<i64>(&output), -5);

    let failure = registration.run(&[], &enc(&5_i64)).unwrap_err();
    assert!(matches!(failure, TaskFailure::BadParams(_)), "{failure:?}");
    assert!(
        failure
            .to_string()
            .starts_with("cannot decode the function's parameters: ")
    );
}

#[test]
fn accumulator_output_splits_into_state_and_value() {
    let registration = lookup(running_total::NAME).unwrap();
    assert!(registration.is_accumulator());
    assert_eq!(
        registration.signature(),
        "((i64, u32), i64) -> ((i64, u32), alloc::string::String)"
    );

    // A worker builds the input pair by putting the stored encodings back to back.
    let mut state = enc(&(0_i64, 0_u32));
    for (x, expected) in [(5_i64, "1: 5"), (-2, "2: 3"), (300, "3: 303")] {
        let input = [state.as_slice(), &enc(&x)].concat();
        let output = registration.run(&[], &input).unwrap();
        let (next, value) = registration.split(&output).unwrap();
        assert_eq!(dec::<String>(value), expected);
        assert_eq!([next, value].concat(), output);
        state = next.to_vec();
    }
    assert_eq!(dec::<(i64, u32)>(&state), (303, 3));
}

#[test]
fn split_refuses_non_pairs_and_bad_bytes() {
    let inc_registration = lookup(inc::NAME).unwrap();
    assert!(!inc_registration.is_accumulator());
    let failure = inc_registration.split(&enc(&1_i64)).unwrap_err();
    assert_eq!(
        failure,
        TaskFailure::NotAccumulator("remote_registry::inc".into())
    );
    assert_eq!(
        failure.to_string(),
        "`remote_registry::inc` is not an accumulator: its output is not a pair (state, value)"
    );

    let accumulator = lookup(running_total::NAME).unwrap();
    assert!(matches!(
        accumulator.split(&[]),
        Err(TaskFailure::BadOutput(_))
    ));
}

#[test]
fn missing_reports_unknown_names_and_other_signatures() {
    let inc_id = lookup(inc::NAME).unwrap().id();
    let add_id = lookup(AddN::NAME).unwrap().id();
    let other_signature = FunctionId {
        name: inc::NAME.into(),
        signature: "u8 -> u8".into(),
    };
    let unknown = FunctionId {
        name: "elsewhere::inc".into(),
        signature: "i64 -> i64".into(),
    };

    assert_eq!(missing(&[]), vec![]);
    assert_eq!(missing(&[inc_id.clone(), add_id.clone()]), vec![]);
    assert_eq!(
        missing(&[unknown.clone(), inc_id, other_signature.clone(), add_id]),
        vec![unknown, other_signature]
    );
}

#[test]
fn functions_lists_every_registration_once_sorted() {
    let all = functions();
    let names: Vec<&str> = all.iter().map(|id| id.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted, "sorted by name, no name twice");
    assert_eq!(
        names,
        [
            "remote_registry::AddN",
            "remote_registry::clash",
            "remote_registry::explode",
            "remote_registry::inc",
            "remote_registry::parse",
            "remote_registry::running_total",
        ]
    );
    // Everything this binary lists, it can also run.
    let runnable: Vec<FunctionId> = all.iter().filter(|id| id.name != CLASH).cloned().collect();
    assert_eq!(missing(&runnable), vec![]);
}

#[test]
fn a_name_claimed_by_two_types_is_reported_and_never_run() {
    assert!(
        lookup(CLASH).is_none(),
        "picking one would depend on link order"
    );

    let reported = functions().into_iter().find(|id| id.name == CLASH).unwrap();
    assert_eq!(
        reported.signature,
        "conflict: registered by 2 types: \
         `remote_registry::ClashA` (i64 -> i64), \
         `remote_registry::ClashB` (alloc::string::String -> alloc::string::String)"
    );
    // Not even a client of the same build gets it through a handshake.
    assert_eq!(missing(std::slice::from_ref(&reported)), vec![reported]);
    let as_a = FunctionId {
        name: CLASH.into(),
        signature: "i64 -> i64".into(),
    };
    assert_eq!(missing(std::slice::from_ref(&as_a)), vec![as_a]);
}

#[test]
fn registration_debug_names_the_function() {
    let text = format!("{:?}", lookup(running_total::NAME).unwrap());
    assert!(
        text.starts_with("Registration { name: \"remote_registry::running_total\""),
        "{text}"
    );
    assert!(text.contains("accumulator: true"), "{text}");
}

/// A function given bytes that are not its input type fails as `Decode` on the wire, which the
/// client reports as `TaskErrorKind::Codec`.
#[test]
fn an_undecodable_input_is_a_decode_failure_on_the_wire() {
    use rivulet::remote::proto::{Failure, FailureKind, TaskKind};
    let registration = rivulet::remote::registry::lookup(inc::NAME).expect("registered");
    let failure: Failure = registration
        .run_task(
            TaskKind::Map,
            &[],
            &[
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ],
        )
        .expect_err("not an i64");
    assert_eq!(failure.kind, FailureKind::Decode, "{failure}");
}
