//! Remote functions: the [`RemoteFn`] trait and the registry of them compiled into the binary.
//!
//! A worker keeps values as postcard bytes and never knows their types. What it runs is a
//! [`Registration`]: a function looked up by its stable name, erased to "bytes in, bytes out".
//! Every function made by [`#[rivulet::remote]`](macro@crate::remote) or [`register!`](crate::register)
//! is in the registry of every binary that links it, so a worker built from the same code as the
//! client runs the same functions.
//!
//! postcard encodes a tuple as its fields back to back, so the encoding of the input `(a, b)` of
//! a two-parameter function is the encoding of `a` followed by that of `b`: a worker builds it
//! by concatenating the values it holds, and cuts an accumulator's `(state, value)` output with
//! [`Registration::split`].

use std::any::{TypeId, type_name};
use std::collections::BTreeMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::panic_message;
use bytes::Bytes;

use crate::remote::proto::{Failure, FailureKind, FunctionId, TaskKind, TaskOutput};

/// A function that can run on a worker: a serde value (its parameters) with a stable name.
///
/// The easy way to get one is [`#[rivulet::remote]`](macro@crate::remote) on a plain function. A
/// function that needs parameters is a serde struct carrying them, implementing `RemoteFn` by
/// hand and registered with [`register!`](crate::register); the struct itself travels to the
/// worker with each task.
///
/// A function with several inputs takes them as a tuple (`type Input = (i64, i64)`). An
/// accumulator, as `accumulate` runs it, is `(S, T) -> (S, U)`: its `Input` is the pair of the
/// state and the item, and its `Output` the pair of the new state and what it emits.
///
/// ```
/// use rivulet::RemoteFn;
///
/// /// Adds `n` to every item.
/// #[derive(rivulet::serde::Serialize, rivulet::serde::Deserialize)]
/// #[serde(crate = "rivulet::serde")]
/// struct AddN {
///     n: i64,
/// }
///
/// impl RemoteFn for AddN {
///     const NAME: &'static str = concat!(module_path!(), "::AddN");
///     type Input = i64;
///     type Output = i64;
///     type Error = std::convert::Infallible;
///
///     fn call(&self, x: i64) -> Result<i64, Self::Error> {
///         Ok(x + self.n)
///     }
/// }
///
/// rivulet::register!(AddN);
///
/// assert_eq!(AddN { n: 3 }.call(4), Ok(7));
/// // What a worker does with it: the function value and the input arrive as postcard bytes.
/// let registration = rivulet::remote::registry::lookup(AddN::NAME).unwrap();
/// let params = postcard::to_allocvec(&AddN { n: 3 }).unwrap();
/// let output = registration.run(&params, &postcard::to_allocvec(&4_i64).unwrap()).unwrap();
/// assert_eq!(postcard::from_bytes::<i64>(&output).unwrap(), 7);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a remote function",
    label = "not a remote function: workers cannot run it",
    note = "closures and plain `fn`s cannot run on workers: put `#[rivulet::remote]` on a `fn`, or implement `RemoteFn` for a serde struct and `rivulet::register!` it",
    note = "to call a function on this process's values, `.gather()` first and use the local `map`"
)]
pub trait RemoteFn: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The stable name by which client and worker find the function, unique in the program:
    /// conventionally `concat!(module_path!(), "::", "name")`, as `#[rivulet::remote]` makes it.
    const NAME: &'static str;
    /// What one call takes; several inputs are a tuple.
    type Input: Serialize + DeserializeOwned + Send + 'static;
    /// What one call returns when it succeeds.
    type Output: Serialize + DeserializeOwned + Send + 'static;
    /// What one call returns when it fails; only its `Display` text crosses the network
    /// (`std::convert::Infallible` for functions that cannot fail).
    type Error: fmt::Display;

    /// Whether the function never blocks and takes microseconds, so that a worker may run it on
    /// its runtime thread instead of handing it to a slot thread (which costs two thread
    /// wake-ups per task: about a quarter of a one-item round trip on loopback). `#[rivulet::remote(inline)]`
    /// sets it; the default is `false`, and every other function runs on a slot.
    ///
    /// A worker holds an inline function to [`INLINE_BUDGET`]: the first call that takes longer
    /// sends every later call of that function on that worker to the slots, with a warning in
    /// the log, so a function wrongly declared inline delays the worker's other work once, not
    /// for good.
    ///
    /// ```
    /// #[rivulet::remote(inline)]
    /// fn inc(x: i64) -> i64 {
    ///     x + 1
    /// }
    ///
    /// #[rivulet::remote]
    /// fn slow(x: i64) -> i64 {
    ///     std::thread::sleep(std::time::Duration::from_millis(10));
    ///     x
    /// }
    ///
    /// use rivulet::RemoteFn;
    /// assert!(inc::INLINE);
    /// assert!(!slow::INLINE);
    /// ```
    const INLINE: bool = false;

    /// Runs the function on one input, in this process.
    fn call(&self, input: Self::Input) -> Result<Self::Output, Self::Error>;
}

/// How long one call of an [`inline`](RemoteFn::INLINE) function may take on a worker's runtime
/// thread before the function's later calls go to the slots instead.
pub const INLINE_BUDGET: std::time::Duration = std::time::Duration::from_micros(500);

/// Why running a registered function on bytes gave no output.
///
/// ```
/// use rivulet::remote::registry::TaskFailure;
///
/// let failure = TaskFailure::Panicked("index out of bounds".to_owned());
/// assert_eq!(failure.to_string(), "panicked: index out of bounds");
/// assert_eq!(TaskFailure::Failed("not a number".to_owned()).to_string(), "not a number");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum TaskFailure {
    /// The function panicked; this is the panic's message.
    #[error("panicked: {0}")]
    Panicked(String),
    /// The function returned an error; this is its `Display` text.
    #[error("{0}")]
    Failed(String),
    /// The bytes of the function value (its parameters) are not an encoding of its type.
    #[error("cannot decode the function's parameters: {0}")]
    BadParams(String),
    /// The input bytes are not an encoding of the function's `Input` type.
    #[error("cannot decode the input: {0}")]
    BadInput(String),
    /// The function's output could not be encoded.
    #[error("cannot encode the output: {0}")]
    Encode(String),
    /// [`Registration::split`] was asked to cut the output of this function (named here), whose
    /// `Output` is not a pair `(state, value)`.
    #[error("`{0}` is not an accumulator: its output is not a pair (state, value)")]
    NotAccumulator(String),
    /// The bytes given to [`Registration::split`] are not an encoding of the function's output.
    #[error("cannot split the output into state and value: {0}")]
    BadOutput(String),
}

/// The longest failure message sent to a client, in bytes.
const MAX_MESSAGE: usize = 64 << 10;

impl From<TaskFailure> for Failure {
    /// The failure as it travels to the client, its kind kept.
    fn from(failure: TaskFailure) -> Self {
        let kind = match &failure {
            TaskFailure::Panicked(_) => FailureKind::Panicked,
            TaskFailure::Failed(_) => FailureKind::Returned,
            TaskFailure::BadParams(_) | TaskFailure::BadInput(_) => FailureKind::Decode,
            TaskFailure::Encode(_) | TaskFailure::NotAccumulator(_) | TaskFailure::BadOutput(_) => {
                FailureKind::Encode
            }
        };
        let mut message = match failure {
            TaskFailure::Panicked(message) | TaskFailure::Failed(message) => message,
            other => other.to_string(),
        };
        // A message travels in one reply frame: keep it to a size any client takes.
        if message.len() > MAX_MESSAGE {
            let mut end = MAX_MESSAGE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        Failure::new(kind, message)
    }
}

/// Runs a function, erased to bytes: `(params, input) -> output`.
type RunFn = fn(&[u8], &[u8]) -> Result<Vec<u8>, TaskFailure>;

/// One function in the registry, as [`register!`](crate::register) submits it.
///
/// A worker finds it by name with [`lookup`] and runs it on postcard bytes with
/// [`run`](Self::run), never knowing the types involved.
///
/// ```
/// #[rivulet::remote]
/// fn double(x: i64) -> i64 {
///     x * 2
/// }
///
/// # fn main() {
/// use rivulet::RemoteFn;
/// let registration = rivulet::remote::registry::lookup(double::NAME).unwrap();
/// assert_eq!(registration.name(), double::NAME);
/// assert_eq!(registration.signature(), "i64 -> i64");
/// assert!(!registration.is_accumulator());
/// // A unit struct's parameters encode to no bytes at all.
/// let output = registration.run(&[], &postcard::to_allocvec(&21_i64).unwrap()).unwrap();
/// assert_eq!(postcard::from_bytes::<i64>(&output).unwrap(), 42);
/// # }
/// ```
pub struct Registration {
    name: &'static str,
    type_name: fn() -> &'static str,
    type_id: fn() -> TypeId,
    signature: fn() -> String,
    run: RunFn,
    split: fn() -> Option<__private::SplitFn>,
    inline: bool,
}

impl Registration {
    /// Used by [`register!`](crate::register) only: `split` comes from the autoref probe of
    /// [`__private`], which needs the concrete type that only the macro's expansion has.
    #[doc(hidden)]
    pub const fn __new<F: RemoteFn>(split: fn() -> Option<__private::SplitFn>) -> Self {
        Registration {
            name: F::NAME,
            type_name: type_name::<F>,
            type_id: TypeId::of::<F>,
            signature: signature::<F>,
            run: run_erased::<F>,
            split,
            inline: F::INLINE,
        }
    }

    /// Whether the function is declared [`inline`](RemoteFn::INLINE).
    pub fn is_inline(&self) -> bool {
        self.inline
    }

    /// The function's stable name, [`RemoteFn::NAME`].
    ///
    /// ```
    /// #[rivulet::remote]
    /// fn negate(x: i64) -> i64 {
    ///     -x
    /// }
    ///
    /// # fn main() {
    /// use rivulet::RemoteFn;
    /// let registration = rivulet::remote::registry::lookup(negate::NAME).unwrap();
    /// assert_eq!(registration.name(), negate::NAME);
    /// assert!(registration.name().ends_with("::negate"));
    /// # }
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The input and output types, `"Input -> Output"` (their [`std::any::type_name`]s), which
    /// tell apart two builds that give the same name to functions of different types.
    ///
    /// ```
    /// #[rivulet::remote]
    /// fn add(a: i64, b: i64) -> i64 {
    ///     a + b
    /// }
    ///
    /// # fn main() {
    /// use rivulet::RemoteFn;
    /// let registration = rivulet::remote::registry::lookup(add::NAME).unwrap();
    /// assert_eq!(registration.signature(), "(i64, i64) -> i64");
    /// # }
    /// ```
    pub fn signature(&self) -> String {
        (self.signature)()
    }

    /// The Rust type that implements the function (its [`std::any::type_name`]).
    ///
    /// ```
    /// #[rivulet::remote]
    /// fn square(x: u32) -> u32 {
    ///     x * x
    /// }
    ///
    /// # fn main() {
    /// use rivulet::RemoteFn;
    /// let registration = rivulet::remote::registry::lookup(square::NAME).unwrap();
    /// assert!(registration.type_name().ends_with("square"));
    /// # }
    /// ```
    pub fn type_name(&self) -> &'static str {
        (self.type_name)()
    }

    /// The name and signature as the handshake carries them.
    ///
    /// ```
    /// #[rivulet::remote]
    /// fn halve(x: f64) -> f64 {
    ///     x / 2.0
    /// }
    ///
    /// # fn main() {
    /// use rivulet::RemoteFn;
    /// let id = rivulet::remote::registry::lookup(halve::NAME).unwrap().id();
    /// assert_eq!(id.name, halve::NAME);
    /// assert_eq!(id.signature, "f64 -> f64");
    /// # }
    /// ```
    pub fn id(&self) -> FunctionId {
        FunctionId {
            name: self.name.to_owned(),
            signature: self.signature(),
        }
    }

    /// Runs the function: decodes the function value from `params` and its input from `input`
    /// (both postcard), calls it, and returns the postcard encoding of its output.
    ///
    /// A panic in the function (or in its serde code) is caught and returned as
    /// [`TaskFailure::Panicked`], so a worker survives it; this needs the default
    /// `panic = "unwind"`. The panic hook still runs, so the message is printed on the
    /// worker's stderr too.
    ///
    /// # Errors
    ///
    /// [`TaskFailure::BadParams`] or [`TaskFailure::BadInput`] when the bytes are not an
    /// encoding of the function's type or of its `Input` (trailing bytes count as wrong),
    /// [`TaskFailure::Failed`] with the `Display` of the function's `Err`,
    /// [`TaskFailure::Panicked`] with the panic's message, [`TaskFailure::Encode`] when the
    /// output cannot be encoded.
    ///
    /// ```
    /// use rivulet::remote::registry::{lookup, TaskFailure};
    ///
    /// #[rivulet::remote]
    /// fn parse(text: String) -> Result<i64, std::num::ParseIntError> {
    ///     text.parse()
    /// }
    ///
    /// # fn main() {
    /// use rivulet::RemoteFn;
    /// let registration = lookup(parse::NAME).unwrap();
    /// let ok = registration.run(&[], &postcard::to_allocvec("12").unwrap()).unwrap();
    /// assert_eq!(postcard::from_bytes::<i64>(&ok).unwrap(), 12);
    ///
    /// let err = registration.run(&[], &postcard::to_allocvec("twelve").unwrap()).unwrap_err();
    /// assert_eq!(err, TaskFailure::Failed("invalid digit found in string".to_owned()));
    /// # }
    /// ```
    pub fn run(&self, params: &[u8], input: &[u8]) -> Result<Vec<u8>, TaskFailure> {
        (self.run)(params, input)
    }

    /// Whether the function's `Output` is a pair `(state, value)`, so that
    /// [`split`](Self::split) can cut it: only such functions can be `accumulate` steps.
    ///
    /// ```
    /// #[rivulet::remote]
    /// fn running_sum(total: i64, x: i64) -> (i64, i64) {
    ///     (total + x, total + x)
    /// }
    ///
    /// # fn main() {
    /// use rivulet::RemoteFn;
    /// assert!(rivulet::remote::registry::lookup(running_sum::NAME).unwrap().is_accumulator());
    /// # }
    /// ```
    pub fn is_accumulator(&self) -> bool {
        (self.split)().is_some()
    }

    /// Cuts the encoded output of an accumulator, `(state, value)`, into the encoded state and
    /// the encoded value, without decoding the value.
    ///
    /// # Errors
    ///
    /// [`TaskFailure::NotAccumulator`] when the function's `Output` is not a pair;
    /// [`TaskFailure::BadOutput`] when `output` does not start with an encoded state.
    ///
    /// ```
    /// #[rivulet::remote]
    /// fn count_words(seen: u64, line: String) -> (u64, usize) {
    ///     let words = line.split_whitespace().count();
    ///     (seen + words as u64, words)
    /// }
    ///
    /// # fn main() {
    /// use rivulet::RemoteFn;
    /// let registration = rivulet::remote::registry::lookup(count_words::NAME).unwrap();
    /// // The input pair is the state's encoding followed by the item's.
    /// let mut input = postcard::to_allocvec(&10_u64).unwrap();
    /// input.extend(postcard::to_allocvec("two words").unwrap());
    /// let output = registration.run(&[], &input).unwrap();
    ///
    /// let (state, value) = registration.split(&output).unwrap();
    /// assert_eq!(postcard::from_bytes::<u64>(state).unwrap(), 12);
    /// assert_eq!(postcard::from_bytes::<usize>(value).unwrap(), 2);
    /// # }
    /// ```
    pub fn split<'a>(&self, output: &'a [u8]) -> Result<(&'a [u8], &'a [u8]), TaskFailure> {
        let split =
            (self.split)().ok_or_else(|| TaskFailure::NotAccumulator(self.name.to_owned()))?;
        let cut = split(output).map_err(|e| TaskFailure::BadOutput(e.to_string()))?;
        Ok(output.split_at(cut))
    }

    /// Runs the function as a task of `kind` runs it, and cuts its output as the task's outputs
    /// are kept: a map's one value, a retain's verdict, an accumulator's state and value.
    ///
    /// # Errors
    ///
    /// The function's own failure, or a [`Failure`] saying its output does not fit the kind.
    pub fn run_task(
        &self,
        kind: TaskKind,
        params: &[u8],
        input: &[u8],
    ) -> Result<TaskOutput, Failure> {
        if matches!(kind, TaskKind::Collect | TaskKind::Split) {
            return Err(Failure::new(
                FailureKind::Encode,
                format!(
                    "{kind:?} tasks are made by the worker, not run by `{}`",
                    self.name
                ),
            ));
        }
        let output = self.run(params, input)?;
        match kind {
            TaskKind::Map | TaskKind::Zip => Ok(TaskOutput {
                values: vec![Bytes::from(output)],
                verdict: None,
            }),
            TaskKind::Retain => match postcard::from_bytes::<bool>(&output) {
                Ok(verdict) => Ok(TaskOutput {
                    values: Vec::new(),
                    verdict: Some(verdict),
                }),
                Err(_) => Err(Failure::new(
                    FailureKind::Encode,
                    format!(
                        "`{}` does not return a bool, so it cannot be used by retain",
                        self.name
                    ),
                )),
            },
            // Answered above, before running anything.
            TaskKind::Collect | TaskKind::Split => unreachable!("built-in tasks are not run"),
            TaskKind::Accumulate => {
                let (state, emitted) = self.split(&output)?;
                Ok(TaskOutput {
                    values: vec![
                        Bytes::copy_from_slice(state),
                        Bytes::copy_from_slice(emitted),
                    ],
                    verdict: None,
                })
            }
        }
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("name", &self.name)
            .field("type_name", &self.type_name())
            .field("signature", &self.signature())
            .field("accumulator", &self.is_accumulator())
            .finish()
    }
}

inventory::collect!(Registration);

fn signature<F: RemoteFn>() -> String {
    format!(
        "{} -> {}",
        type_name::<F::Input>(),
        type_name::<F::Output>()
    )
}

fn run_erased<F: RemoteFn>(params: &[u8], input: &[u8]) -> Result<Vec<u8>, TaskFailure> {
    // Decoding and encoding run user serde code too, so they are inside the guard as well.
    catch_unwind(AssertUnwindSafe(|| {
        let function: F = decode_exact(params).map_err(TaskFailure::BadParams)?;
        let input: F::Input = decode_exact(input).map_err(TaskFailure::BadInput)?;
        let output = function
            .call(input)
            .map_err(|e| TaskFailure::Failed(e.to_string()))?;
        postcard::to_allocvec(&output).map_err(|e| TaskFailure::Encode(e.to_string()))
    }))
    .unwrap_or_else(|payload| Err(TaskFailure::Panicked(panic_message(&*payload))))
}

/// Decodes a whole buffer: bytes left over mean the value was of another type.
fn decode_exact<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(format!("{} bytes left over after the value", rest.len())),
        Err(e) => Err(e.to_string()),
    }
}

/// The registry, indexed once per process (registrations are all in place before `main`).
struct Index {
    /// Names registered by exactly one type.
    unique: BTreeMap<&'static str, &'static Registration>,
    /// Names registered by several types: runnable by none of them (see [`lookup`]).
    conflicts: BTreeMap<&'static str, Vec<&'static Registration>>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut by_name: BTreeMap<&'static str, Vec<&'static Registration>> = BTreeMap::new();
        for registration in inventory::iter::<Registration> {
            let same = by_name.entry(registration.name).or_default();
            // Registering one type twice (say `register!` on a `#[remote]` function) is harmless.
            if !same
                .iter()
                .any(|r| (r.type_id)() == (registration.type_id)())
            {
                same.push(registration);
            }
        }
        let mut index = Index {
            unique: BTreeMap::new(),
            conflicts: BTreeMap::new(),
        };
        for (name, mut registrations) in by_name {
            if let [only] = registrations[..] {
                index.unique.insert(name, only);
            } else {
                // Sorted, so the report does not depend on link order.
                registrations.sort_by_key(|r| r.type_name());
                tracing::warn!(
                    name,
                    types = ?registrations.iter().map(|r| r.type_name()).collect::<Vec<_>>(),
                    "remote function name registered by several types: none of them can run"
                );
                index.conflicts.insert(name, registrations);
            }
        }
        index
    })
}

/// Finds a registered function by its stable name.
///
/// Returns `None` for a name nobody registered, and also for a name that several *different*
/// types registered (two hand-written `RemoteFn`s with one `NAME`): picking one of them would
/// depend on link order, so neither runs, [`functions`] reports the clash and a warning is
/// logged. Registering the same type twice is harmless.
///
/// ```
/// #[rivulet::remote]
/// fn inc(x: i64) -> i64 {
///     x + 1
/// }
///
/// # fn main() {
/// use rivulet::RemoteFn;
/// assert!(rivulet::remote::registry::lookup(inc::NAME).is_some());
/// assert!(rivulet::remote::registry::lookup("no::such::function").is_none());
/// # }
/// ```
pub fn lookup(name: &str) -> Option<&'static Registration> {
    index().unique.get(name).copied()
}

/// Every function registered in this binary, sorted by name: what a client announces in its
/// [`Hello`](crate::remote::proto::Hello).
///
/// A name that several types registered appears once, with a signature that says so
/// (`"conflict: registered by 2 types: …"`), so that a worker refuses it with a message naming
/// the clash.
///
/// ```
/// #[rivulet::remote]
/// fn shout(text: String) -> String {
///     text.to_uppercase()
/// }
///
/// # fn main() {
/// use rivulet::RemoteFn;
/// let all = rivulet::remote::registry::functions();
/// let id = all.iter().find(|id| id.name == shout::NAME).unwrap();
/// assert_eq!(id.signature, "alloc::string::String -> alloc::string::String");
/// # }
/// ```
pub fn functions() -> Vec<FunctionId> {
    let index = index();
    let mut all: Vec<FunctionId> = index.unique.values().map(|r| r.id()).collect();
    all.extend(index.conflicts.iter().map(|(name, registrations)| {
        let types: Vec<String> = registrations
            .iter()
            .map(|r| format!("`{}` ({})", r.type_name(), r.signature()))
            .collect();
        FunctionId {
            name: (*name).to_owned(),
            signature: format!(
                "conflict: registered by {} types: {}",
                registrations.len(),
                types.join(", ")
            ),
        }
    }));
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

/// The functions of `requested` that this binary cannot run: names it does not know (or knows
/// only as a [conflict](lookup)), and names it knows with another signature. A worker refuses
/// a client whose list has any.
///
/// ```
/// use rivulet::remote::proto::FunctionId;
///
/// #[rivulet::remote]
/// fn trim(text: String) -> String {
///     text.trim().to_owned()
/// }
///
/// # fn main() {
/// use rivulet::RemoteFn;
/// let known = rivulet::remote::registry::lookup(trim::NAME).unwrap().id();
/// let other_build = FunctionId { name: trim::NAME.to_owned(), signature: "i64 -> i64".to_owned() };
/// let unknown = FunctionId { name: "elsewhere::f".to_owned(), signature: "i64 -> i64".to_owned() };
///
/// let missing = rivulet::remote::registry::missing(&[known, other_build.clone(), unknown.clone()]);
/// assert_eq!(missing, vec![other_build, unknown]);
/// # }
/// ```
pub fn missing(requested: &[FunctionId]) -> Vec<FunctionId> {
    requested
        .iter()
        .filter(|id| lookup(&id.name).is_none_or(|r| r.signature() != id.signature))
        .cloned()
        .collect()
}

/// Registers hand-written [`RemoteFn`] types, so that workers built from this code run them.
///
/// `#[rivulet::remote]` does this for the functions it makes. Registration happens when the
/// binary starts (it is compiled into the binary), wherever the macro is invoked: at module
/// level, once per type. Several types may be given at once: `register!(A, B)`.
///
/// ```
/// use rivulet::RemoteFn;
///
/// /// Keeps the items above a threshold.
/// #[derive(rivulet::serde::Serialize, rivulet::serde::Deserialize)]
/// #[serde(crate = "rivulet::serde")]
/// struct Above(i64);
///
/// impl RemoteFn for Above {
///     const NAME: &'static str = concat!(module_path!(), "::Above");
///     type Input = i64;
///     type Output = bool;
///     type Error = std::convert::Infallible;
///
///     fn call(&self, x: i64) -> Result<bool, Self::Error> {
///         Ok(x > self.0)
///     }
/// }
///
/// rivulet::register!(Above);
///
/// # fn main() {
/// assert!(rivulet::remote::registry::lookup(Above::NAME).is_some());
/// # }
/// ```
#[macro_export]
macro_rules! register {
    ($($function:ty),+ $(,)?) => {
        $(
            $crate::__private::inventory::submit! {
                $crate::remote::registry::Registration::__new::<$function>(|| {
                    #[allow(unused_imports)]
                    use $crate::remote::registry::__private::{NoSplit as _, PairSplit as _};
                    (&&$crate::remote::registry::__private::Probe::<
                        <$function as $crate::remote::registry::RemoteFn>::Output,
                    >::NEW)
                        .split_fn()
                })
            }
        )+
    };
}

/// Autoref specialization for [`register!`]: whether a function's `Output` is a pair.
///
/// `(&&Probe::<O>::NEW).split_fn()` picks `PairSplit` when `O` is `(S, U)` (its method is
/// found one autoref earlier) and `NoSplit` otherwise. This needs the concrete type, so it runs
/// in the macro's expansion rather than in generic code.
#[doc(hidden)]
pub mod __private {
    use std::marker::PhantomData;

    use serde::de::DeserializeOwned;

    /// Finds where the encoded state ends in an encoded `(state, value)`.
    pub type SplitFn = fn(&[u8]) -> Result<usize, postcard::Error>;

    /// Carries the output type to probe.
    #[derive(Debug)]
    pub struct Probe<T>(PhantomData<fn() -> T>);

    impl<T> Probe<T> {
        /// The probe, as a constant so the expansion needs no function call.
        pub const NEW: Self = Probe(PhantomData);
    }

    /// Chosen when the output is a pair.
    pub trait PairSplit {
        /// `Some`: how to cut the encoded pair.
        fn split_fn(&self) -> Option<SplitFn>;
    }

    impl<S: DeserializeOwned, U> PairSplit for &Probe<(S, U)> {
        fn split_fn(&self) -> Option<SplitFn> {
            Some(split_pair::<S>)
        }
    }

    /// Chosen for every other output.
    pub trait NoSplit {
        /// `None`: not an accumulator.
        fn split_fn(&self) -> Option<SplitFn>;
    }

    impl<T> NoSplit for Probe<T> {
        fn split_fn(&self) -> Option<SplitFn> {
            None
        }
    }

    /// postcard encodes a pair as its two fields back to back, so decoding the first field
    /// tells where the second starts.
    fn split_pair<S: DeserializeOwned>(bytes: &[u8]) -> Result<usize, postcard::Error> {
        let (_, rest) = postcard::take_from_bytes::<S>(bytes)?;
        Ok(bytes.len() - rest.len())
    }
}
