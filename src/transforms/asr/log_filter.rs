//! What whisper.cpp logs that the service says better itself.

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Where whisper-rs forwards whisper.cpp's own log lines.
const WHISPER_TARGET: &str = "whisper_rs::whisper_logging_hook";

/// Drops whisper.cpp's "failed to encode" / "failed to decode" lines. whisper.cpp writes
/// them at error level whenever a transcription stops early, and a partial pre-empted for a
/// final (see `transforms::asr::pool`) is exactly that: routine under load, not a fault. A
/// transcription that really fails reaches the pool as an error, which logs it with the
/// call's span.
pub struct QuietAborts;

struct Message(bool);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.check(field, value);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.check(field, &format!("{value:?}"));
    }
}

impl Message {
    fn check(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 |= is_abort_line(value);
        }
    }
}

/// Whether a whisper.cpp log line is one an early stop writes.
pub fn is_abort_line(line: &str) -> bool {
    line.contains("failed to encode") || line.contains("failed to decode")
}

impl<S: Subscriber> Layer<S> for QuietAborts {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        if event.metadata().target() != WHISPER_TARGET {
            return true;
        }
        let mut m = Message(false);
        event.record(&mut m);
        !m.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_early_stop_lines_are_quietened() {
        assert!(is_abort_line("whisper_full_with_state: failed to decode"));
        assert!(is_abort_line("whisper_full_with_state: failed to encode\n"));
        assert!(!is_abort_line(
            "whisper_model_load: tensor 'x' has wrong size in model file"
        ));
        assert!(!is_abort_line("failed to allocate buffer"));
    }

    /// Counts the events that reach it.
    struct Count(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl<S: Subscriber> Layer<S> for Count {
        fn on_event(&self, _: &Event<'_>, _: Context<'_, S>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn the_layer_drops_whisper_abort_lines_and_nothing_else() {
        use tracing_subscriber::layer::SubscriberExt;
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let subscriber = tracing_subscriber::registry()
            .with(QuietAborts)
            .with(Count(seen.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(target: "whisper_rs::whisper_logging_hook", "whisper_full_with_state: failed to decode");
            tracing::error!(target: "whisper_rs::whisper_logging_hook", "whisper_full_with_state: failed to encode");
            tracing::error!(target: "whisper_rs::whisper_logging_hook", "whisper_model_load: bad magic");
            tracing::error!("recogniser failed: failed to decode");
        });
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
