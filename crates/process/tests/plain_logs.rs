//! Log lines as a Pod's log collector gets them: standard output is a pipe,
//! so text lines carry no ANSI colour codes, and `--log-format json` gives one
//! JSON object per line. Each case runs this test binary again as a child
//! (`DOCKYARD_LOG_CHILD`), which sets up logging as the binaries do and logs.

use std::process::Command;

use dockyard_process::{LogFormat, init_logging};

const CHILD: &str = "DOCKYARD_LOG_CHILD";

fn child_output(test: &str, format: &str) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, format)
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// In the child: log one warning with a field, as the binaries would.
fn log_as_child() -> bool {
    let Ok(format) = std::env::var(CHILD) else { return false };
    init_logging("info", if format == "json" { LogFormat::Json } else { LogFormat::Text });
    tracing::warn!(sandbox = "ns/name", "cannot publish event");
    true
}

#[test]
fn text_logs_to_a_pipe_have_no_colour_codes() {
    if log_as_child() {
        return;
    }
    let out = child_output("text_logs_to_a_pipe_have_no_colour_codes", "text");
    let line =
        out.lines().find(|l| l.contains("cannot publish event")).unwrap_or_else(|| panic!("no log line in {out:?}"));
    assert!(!line.contains('\u{1b}'), "colour codes in {line:?}");
    assert!(line.contains("WARN") && line.contains("sandbox=\"ns/name\""), "{line}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    if log_as_child() {
        return;
    }
    let out = child_output("json_logs_are_one_object_per_line", "json");
    let line =
        out.lines().find(|l| l.contains("cannot publish event")).unwrap_or_else(|| panic!("no log line in {out:?}"));
    // The test harness may print its own "test … " before the child's line.
    let value: serde_json::Value = serde_json::from_str(&line[line.find('{').unwrap()..]).unwrap();
    assert_eq!(value["level"], "WARN");
    assert_eq!(value["fields"]["message"], "cannot publish event");
    assert_eq!(value["fields"]["sandbox"], "ns/name");
}
