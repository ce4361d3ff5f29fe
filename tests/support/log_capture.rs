//! A `tracing` subscriber that keeps every event, from every thread, for a test to look at.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// One event: its level, target and fields (`message` first, then `name=value` pairs).
#[derive(Debug, Clone)]
pub(crate) struct Logged {
    pub(crate) level: Level,
    pub(crate) target: String,
    pub(crate) text: String,
}

#[derive(Default)]
struct Inner {
    events: Mutex<Vec<Logged>>,
    spans: Mutex<Vec<String>>,
    next_span: AtomicU64,
}

#[derive(Clone)]
struct Capture(Arc<Inner>);

static INSTALLED: OnceLock<Capture> = OnceLock::new();

/// Installs the capturing subscriber as this process's global default (once per test binary).
pub(crate) fn install() {
    INSTALLED.get_or_init(|| {
        let capture = Capture(Arc::default());
        tracing::subscriber::set_global_default(capture.clone())
            .expect("no other global subscriber in this test binary");
        capture
    });
}

/// Every event logged since [`install`].
pub(crate) fn events() -> Vec<Logged> {
    INSTALLED.get().map_or_else(Vec::new, |c| {
        c.0.events.lock().unwrap_or_else(|p| p.into_inner()).clone()
    })
}

/// The names of every span made since [`install`].
pub(crate) fn spans() -> Vec<String> {
    INSTALLED.get().map_or_else(Vec::new, |c| {
        c.0.spans.lock().unwrap_or_else(|p| p.into_inner()).clone()
    })
}

/// Forgets what was logged so far.
pub(crate) fn clear() {
    if let Some(c) = INSTALLED.get() {
        c.0.events.lock().unwrap_or_else(|p| p.into_inner()).clear();
        c.0.spans.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.0
            .spans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(span.metadata().name().to_owned());
        Id::from_u64(self.0.next_span.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut text = Text(String::new());
        event.record(&mut text);
        self.0
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Logged {
                level: *event.metadata().level(),
                target: event.metadata().target().to_owned(),
                text: text.0,
            });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
