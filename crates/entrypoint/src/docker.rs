//! Is the Docker endpoint answering? One `GET /_ping` over the unix socket,
//! and a wait loop that remembers what it saw, for a useful timeout message.
//!
//! A raw HTTP/1.0 request is enough for `/_ping` and keeps PID 1 small and
//! static: no async runtime, no HTTP stack.

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What a ping saw.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PingError {
    #[error("no socket at {0}")]
    Missing(PathBuf),
    #[error("{0} exists but is not a socket")]
    NotASocket(PathBuf),
    #[error(
        "permission denied on {path} (socket group {gid}, mode {mode:o}; this process has uid {uid} and groups {groups:?})"
    )]
    PermissionDenied { path: PathBuf, gid: u32, mode: u32, uid: u32, groups: Vec<u32> },
    #[error("connection refused on {0} (nothing listens there yet)")]
    Refused(PathBuf),
    #[error("wrong answer from {path}: {answer:?}")]
    WrongAnswer { path: PathBuf, answer: String },
    #[error("cannot talk to {path}: {error}")]
    Io { path: PathBuf, error: String },
}

/// A `DOCKER_HOST` value Dockyard can use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--docker-host {0:?} is not supported: give unix:///path/to/docker.sock")]
pub struct UnsupportedHost(pub String);

/// The socket path of a `unix://` Docker host.
pub fn socket_path(docker_host: &str) -> Result<PathBuf, UnsupportedHost> {
    match docker_host.strip_prefix("unix://") {
        Some(path) if path.starts_with('/') => Ok(PathBuf::from(path)),
        _ => Err(UnsupportedHost(docker_host.to_string())),
    }
}

/// The group that owns the socket, if it exists.
pub fn socket_gid(path: &Path) -> Option<u32> {
    std::fs::metadata(path).ok().map(|m| m.gid())
}

/// One ping: `Ok(())` when the daemon answers `200 OK` with body `OK`.
pub fn ping(path: &Path, timeout: Duration) -> Result<(), PingError> {
    let meta = std::fs::metadata(path).map_err(|_| PingError::Missing(path.into()))?;
    if !meta.file_type().is_socket() {
        return Err(PingError::NotASocket(path.into()));
    }
    let io = |e: std::io::Error| PingError::Io { path: path.into(), error: e.to_string() };
    let mut stream = UnixStream::connect(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => PingError::PermissionDenied {
            path: path.into(),
            gid: meta.gid(),
            mode: meta.permissions().mode() & 0o7777,
            uid: nix::unistd::getuid().as_raw(),
            groups: nix::unistd::getgroups().unwrap_or_default().iter().map(|g| g.as_raw()).collect(),
        },
        std::io::ErrorKind::ConnectionRefused => PingError::Refused(path.into()),
        _ => io(e),
    })?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    stream.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n").map_err(io)?;
    let mut answer = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut answer).map_err(io)?;
    let answer = String::from_utf8_lossy(&answer);
    let status_ok = answer.lines().next().is_some_and(|l| l.split_whitespace().nth(1) == Some("200"));
    let body = answer.split_once("\r\n\r\n").map(|(_, body)| body.trim()).unwrap_or_default();
    if status_ok && body == "OK" {
        Ok(())
    } else {
        Err(PingError::WrongAnswer { path: path.into(), answer: answer.lines().next().unwrap_or_default().to_string() })
    }
}

/// Waited too long.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Docker at {path} did not answer within {}s; last seen: {last}", .waited.as_secs())]
pub struct WaitTimeout {
    pub path: PathBuf,
    pub waited: Duration,
    pub last: PingError,
}

/// Pings every 50 ms until the daemon answers or `timeout` passes.
pub fn wait_until_ready(path: &Path, timeout: Duration) -> Result<Duration, WaitTimeout> {
    let started = Instant::now();
    loop {
        let remaining = timeout.saturating_sub(started.elapsed());
        match ping(path, remaining.clamp(Duration::from_millis(100), Duration::from_secs(2))) {
            Ok(()) => return Ok(started.elapsed()),
            Err(last) if remaining.is_zero() => return Err(WaitTimeout { path: path.into(), waited: timeout, last }),
            Err(_) => std::thread::sleep(Duration::from_millis(50).min(remaining)),
        }
    }
}

/// Why an image did not arrive.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PullError {
    #[error("cannot talk to {path}: {error}")]
    Io { path: PathBuf, error: String },
    #[error("the daemon answered {status}: {message}")]
    Refused { status: String, message: String },
    #[error("{0}")]
    Failed(String),
    #[error("the daemon's answer ended without saying the pull finished")]
    Unfinished,
}

/// One line of the daemon's pull progress (`POST /images/create`).
#[derive(serde::Deserialize)]
struct PullProgress {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// An error body of the Docker API.
#[derive(serde::Deserialize)]
struct ApiError {
    message: String,
}

/// A query-string value: everything but unreserved characters percent-encoded.
fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Pulls `reference` into the daemon at `path` and returns the daemon's last
/// word on it (`Status: Downloaded newer image for …`). `silence` bounds each
/// wait for the daemon's next progress line, not the whole pull.
pub fn pull(path: &Path, reference: &str, silence: Duration) -> Result<String, PullError> {
    use std::io::BufRead;
    let io = |e: std::io::Error| PullError::Io { path: path.into(), error: e.to_string() };
    let mut stream = UnixStream::connect(path).map_err(io)?;
    stream.set_read_timeout(Some(silence)).map_err(io)?;
    stream.set_write_timeout(Some(silence)).map_err(io)?;
    // HTTP/1.0: the daemon streams the progress and closes; no chunking.
    let request = format!(
        "POST /images/create?fromImage={} HTTP/1.0\r\nHost: docker\r\nContent-Length: 0\r\n\r\n",
        // Normalised as the daemon does, `:latest` included: without a tag
        // the API would pull every tag of the repository.
        query_escape(&dockyard_docker_policy::reference::normalize(reference))
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut reader = std::io::BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).map_err(io)?;
    let status = status_line.split_whitespace().nth(1).unwrap_or_default().to_string();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).map_err(io)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    if status != "200" {
        let mut body = String::new();
        reader.take(64 * 1024).read_to_string(&mut body).map_err(io)?;
        let message = serde_json::from_str::<ApiError>(&body).map(|e| e.message).unwrap_or(body);
        return Err(PullError::Refused { status, message: message.trim().to_string() });
    }
    let mut last = None;
    for line in reader.lines() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let progress: PullProgress = serde_json::from_str(&line)
            .map_err(|e| PullError::Failed(format!("cannot read the daemon's progress {line:?}: {e}")))?;
        if let Some(error) = progress.error {
            return Err(PullError::Failed(error));
        }
        if progress.status.is_some() {
            last = progress.status;
        }
    }
    // The daemon's last line of a pull that worked is its `Status: …`.
    last.filter(|s| s.starts_with("Status:")).ok_or(PullError::Unfinished)
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;

    use super::*;

    fn serve_once(listener: UnixListener, answer: &'static str) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            conn.write_all(answer.as_bytes()).unwrap();
        })
    }

    #[test]
    fn a_reference_is_escaped_for_the_query() {
        assert_eq!(query_escape("r.example:5000/a_b@sha256:0f"), "r.example%3A5000%2Fa_b%40sha256%3A0f");
    }

    #[test]
    fn a_pull_reports_the_daemons_error_refusal_or_last_status() {
        let dir = tempdir();
        let serve = |name: &str, answer: &'static str| {
            let path = dir.join(name);
            let handle = serve_once(UnixListener::bind(&path).unwrap(), answer);
            (path, handle)
        };
        let (path, server) = serve(
            "ok.sock",
            "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n\
             {\"status\":\"Pulling from library/busybox\",\"id\":\"latest\"}\r\n\
             {\"status\":\"Status: Downloaded newer image for busybox:latest\"}\r\n",
        );
        assert_eq!(
            pull(&path, "busybox", Duration::from_secs(5)).unwrap(),
            "Status: Downloaded newer image for busybox:latest"
        );
        server.join().unwrap();
        let (path, server) = serve(
            "error.sock",
            "HTTP/1.0 200 OK\r\n\r\n{\"status\":\"Pulling\"}\n\
             {\"errorDetail\":{\"message\":\"manifest unknown\"},\"error\":\"manifest unknown\"}\n",
        );
        assert_eq!(pull(&path, "nope", Duration::from_secs(5)), Err(PullError::Failed("manifest unknown".into())));
        server.join().unwrap();
        let (path, server) =
            serve("refused.sock", "HTTP/1.0 404 Not Found\r\n\r\n{\"message\":\"pull access denied\"}\n");
        let refused = pull(&path, "private/x", Duration::from_secs(5)).unwrap_err();
        assert_eq!(refused.to_string(), "the daemon answered 404: pull access denied");
        server.join().unwrap();
        let (path, server) = serve("cut.sock", "HTTP/1.0 200 OK\r\n\r\n{\"status\":\"Downloading\"}\n");
        assert_eq!(pull(&path, "busybox", Duration::from_secs(5)), Err(PullError::Unfinished));
        server.join().unwrap();
    }

    #[test]
    fn only_unix_hosts_are_supported() {
        assert_eq!(socket_path("unix:///var/run/docker.sock"), Ok(PathBuf::from("/var/run/docker.sock")));
        assert!(socket_path("tcp://127.0.0.1:2375").unwrap_err().to_string().contains("unix:///"));
        assert!(socket_path("unix://relative.sock").is_err());
    }

    #[test]
    fn ping_tells_missing_refused_wrong_and_ok_apart() {
        let dir = tempdir();
        let path = dir.join("docker.sock");
        assert_eq!(ping(&path, Duration::from_secs(1)), Err(PingError::Missing(path.clone())));

        std::fs::write(dir.join("file"), "").unwrap();
        assert!(matches!(ping(&dir.join("file"), Duration::from_secs(1)), Err(PingError::NotASocket(_))));

        let listener = UnixListener::bind(&path).unwrap();
        let server = serve_once(listener, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        assert!(matches!(ping(&path, Duration::from_secs(1)), Err(PingError::WrongAnswer { .. })));
        server.join().unwrap();
        // The listener is gone: the socket file remains, nothing accepts.
        assert_eq!(ping(&path, Duration::from_secs(1)), Err(PingError::Refused(path.clone())));

        std::fs::remove_file(&path).unwrap();
        let server = serve_once(UnixListener::bind(&path).unwrap(), "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\n\r\nOK");
        assert_eq!(ping(&path, Duration::from_secs(1)), Ok(()));
        server.join().unwrap();
    }

    #[test]
    fn waiting_for_a_missing_socket_times_out_with_what_it_saw() {
        let path = tempdir().join("never.sock");
        let started = Instant::now();
        let err = wait_until_ready(&path, Duration::from_millis(300)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(err.last, PingError::Missing(path.clone()));
        assert!(err.to_string().contains("never.sock") && err.to_string().contains("no socket"));
    }

    fn tempdir() -> PathBuf {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Short: a unix socket path may have at most 107 bytes.
        let dir = std::env::temp_dir().join(format!("dye-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
