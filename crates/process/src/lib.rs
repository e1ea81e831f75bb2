//! What the controller and the node agent processes share: their log setup
//! (`--log`, `--log-format`) and the signal that stops them.

use std::io::IsTerminal;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global tracing subscriber; `filter` is an EnvFilter
/// expression (an invalid one falls back to `info`). Text has colour codes
/// only when standard output is a terminal: in a Pod, `kubectl logs` and log
/// collectors get plain lines.
pub fn init_logging(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(colours(std::io::stdout().is_terminal()));
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Whether text logs get ANSI colour codes: only on a terminal, and never
/// when `NO_COLOR` is set (<https://no-color.org>).
fn colours(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Resolves on SIGTERM (what the kubelet sends) or Ctrl-C.
pub async fn stop_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}
