//! The relay's log filter: the operator's `--log` (tracing's `EnvFilter` syntax), with the
//! dependencies whose debug and trace events carry secrets capped at info unless the filter
//! names them. The relay never logs a token or a key itself, but an operator who sets
//! `--log debug` to see why a viewer cannot connect should not get every viewer's link
//! token in the log.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::{EnvFilter, FilterExt, ParseError, Targets};
use tracing_subscriber::layer::Filter;
use tracing_subscriber::registry::LookupSpan;

/// Dependencies whose debug or trace events carry secrets:
/// - `wtransport`, at debug: a WebTransport CONNECT's headers, whose `:path` carries the
///   viewer's link token (`?token=`);
/// - `tungstenite`, at trace (through `log`): every WebSocket frame's payload, a WebSocket
///   host's hello with its host key or host token among them;
/// - `tokio_tungstenite`, at trace: its reads and writes (no payloads in this version;
///   capped with the frames it carries).
///
/// quinn logs the lengths and kinds of frames, not their data; rustls its handshake
/// messages, which hold no secret of ours; hyper's logs are compiled out (its `tracing`
/// feature is off).
pub const CAPPED: [&str; 3] = ["wtransport", "tungstenite", "tokio_tungstenite"];

/// The filter for `spec`: an event passes if `spec` enables it and, when it comes from a
/// [`CAPPED`] crate that `spec` does not name, it is at info or above. The cap never
/// raises a level: `warn` still hides those crates' info.
pub fn filter<S>(spec: &str) -> Result<impl Filter<S> + Send + Sync + 'static, ParseError>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let requested = EnvFilter::try_new(spec)?;
    let named = named_targets(spec);
    let mut cap = Targets::new().with_default(LevelFilter::TRACE);
    for capped in CAPPED {
        let within = |target: &str| {
            target == capped
                || target
                    .strip_prefix(capped)
                    .is_some_and(|rest| rest.starts_with("::"))
        };
        // Whatever the operator names of the crate, `requested` alone decides.
        let mut cap_level = LevelFilter::INFO;
        for target in named.iter().filter(|target| within(target)) {
            if *target == capped {
                cap_level = LevelFilter::TRACE;
            } else {
                cap = cap.with_target(*target, LevelFilter::TRACE);
            }
        }
        cap = cap.with_target(capped, cap_level);
    }
    Ok(requested.and(cap))
}

/// The targets `spec`'s directives name (`target[span]=level`, or a bare `target`; a bare
/// level names none).
fn named_targets(spec: &str) -> Vec<&str> {
    spec.split(',')
        .filter_map(|directive| {
            let directive = directive.trim();
            let target = directive.split(['[', '=']).next()?.trim();
            let bare_level = !directive.contains('=') && target.parse::<LevelFilter>().is_ok();
            (!target.is_empty() && !bare_level).then_some(target)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::{Context, SubscriberExt};

    use super::*;

    /// Notes the level and target of every event that reaches it.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<String>>>);

    impl<S: tracing::Subscriber> Layer<S> for Seen {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            let meta = event.metadata();
            let seen = format!("{} {}", meta.level(), meta.target());
            self.0.lock().unwrap().push(seen);
        }
    }

    /// Which of a few events, the secret-bearing ones among them, `spec` lets through.
    fn logged(spec: &str) -> Vec<String> {
        let seen = Seen::default();
        let filter = filter(spec).unwrap();
        let subscriber = tracing_subscriber::registry().with(seen.clone().with_filter(filter));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "wtransport::driver", "started");
            tracing::debug!(target: "wtransport::driver::worker", "Headers: ?token=");
            tracing::trace!(target: "tungstenite::protocol::frame", "received frame");
            tracing::trace!(target: "tokio_tungstenite::compat", "Read.read");
            tracing::debug!(target: "relay::viewer", "viewer joined");
            tracing::trace!(target: "relay::quic", "accepted");
        });
        let seen = seen.0.lock().unwrap();
        seen.clone()
    }

    #[test]
    fn secret_bearing_dependencies_stay_at_info_unless_named() {
        assert_eq!(
            logged("trace"),
            [
                "INFO wtransport::driver",
                "DEBUG relay::viewer",
                "TRACE relay::quic"
            ]
        );
        assert_eq!(
            logged("debug"),
            ["INFO wtransport::driver", "DEBUG relay::viewer"]
        );
        // A cap, never a raise.
        assert!(logged("warn").is_empty());
        assert_eq!(logged("warn,relay=debug"), ["DEBUG relay::viewer"]);
        // Naming a crate, or a module of it, leaves it to the filter.
        assert_eq!(
            logged("info,wtransport=debug"),
            [
                "INFO wtransport::driver",
                "DEBUG wtransport::driver::worker"
            ]
        );
        assert_eq!(
            logged("info,tungstenite::protocol=trace"),
            [
                "INFO wtransport::driver",
                "TRACE tungstenite::protocol::frame"
            ]
        );
        assert_eq!(
            logged("warn,tokio_tungstenite"),
            ["TRACE tokio_tungstenite::compat"]
        );
        // A prefix of a crate's name is not its name (EnvFilter's `tokio` matches
        // `tokio_tungstenite` too), nor is a longer name.
        assert_eq!(
            logged("trace,tokio=trace,tungstenite_x=trace,wtransport_proto=trace"),
            logged("trace")
        );
    }

    #[test]
    fn directives_name_targets_but_not_levels() {
        assert_eq!(
            named_targets("debug, wtransport=trace,relay[conn]=info,tokio ,3,=x"),
            ["wtransport", "relay", "tokio"]
        );
    }
}
