//! BuildKit's two upgraded connections, relayed as HTTP/2 rather than
//! spliced: the proxy speaks HTTP/2 on both sides, so every gRPC call is seen,
//! by method, before anything of it reaches the other side.
//!
//! - `/grpc` (the control API): the client calls, the daemon serves. Each call
//!   must be one [`Call`] and carries exactly one request message, which
//!   [`buildkit::check`] decodes, checks and encodes again; the answer streams
//!   back as the daemon sends it. A solve's exported images are recorded as
//!   the sandbox's before the client learns that the solve finished.
//! - `/session` (the client's files, credentials and secrets for a build):
//!   the daemon calls, the client serves. Only the methods the session's
//!   checked headers announced are passed on; messages flow both ways as they
//!   come, with HTTP/2 flow control on each side.
//!
//! A refused call ends with a gRPC status (`PERMISSION_DENIED`, or
//! `INVALID_ARGUMENT` for what cannot be decoded) whose message names what
//! was refused and why; the connection and the other calls go on.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use dockyard_docker_policy::buildkit::{self, Call};
use dockyard_docker_policy::{Refusal, Scope};
use h2::{RecvStream, SendStream};
use http::header::{CONTENT_TYPE, HeaderName, TE, USER_AGENT};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tracing::{debug, info};

use crate::{Lookups, Proxy};

/// Largest request message of a control call (a solve without an LLB
/// definition is a few KiB).
const MAX_REQUEST_MESSAGE: usize = 256 << 10;
/// Calls in flight on one BuildKit connection, and the largest header block
/// a call may send: what one sandbox can make the proxy hold.
const MAX_CONCURRENT_CALLS: u32 = 32;
const MAX_HEADER_LIST: u32 = 64 << 10;
/// Most of a solve's answer kept to find the image it exported.
const MAX_SOLVE_RESPONSE: usize = 1 << 20;

/// The gRPC request headers a control call passes on.
const CONTROL_HEADERS: [HeaderName; 3] = [CONTENT_TYPE, TE, USER_AGENT];
/// The gRPC headers and trailers of an answer the daemon gets from a session.
const SESSION_ANSWER_HEADERS: [&str; 4] = ["content-type", "grpc-status", "grpc-message", "grpc-status-details-bin"];

/// Relays one `/grpc` connection until either side closes it. With
/// `uncontained` (the daemon cannot contain a build's steps), every call that
/// builds or watches a build is refused with it.
pub(crate) async fn relay_control<L: Lookups>(
    proxy: Arc<Proxy<L>>,
    scope: Scope,
    uncontained: Option<Refusal>,
    client: Upgraded,
    daemon: Upgraded,
) -> Result<(), h2::Error> {
    let mut server = h2::server::Builder::new()
        .max_concurrent_streams(MAX_CONCURRENT_CALLS)
        .max_header_list_size(MAX_HEADER_LIST)
        .handshake(TokioIo::new(client))
        .await?;
    let (sender, connection) = h2::client::handshake(TokioIo::new(daemon)).await?;
    let uid = scope.uid.clone();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            debug!(sandbox = %uid, error = %e, "BuildKit connection to the daemon ended with an error");
        }
    });
    while let Some(accepted) = server.accept().await {
        let (request, respond) = accepted?;
        let (proxy, scope, sender, uncontained) = (proxy.clone(), scope.clone(), sender.clone(), uncontained.clone());
        tokio::spawn(async move {
            let path = request.uri().path().to_string();
            if let Err(e) = control_call(&proxy, &scope, uncontained, sender, request, respond).await {
                debug!(sandbox = %scope.uid, %path, error = %e, "BuildKit call ended with an error");
            }
        });
    }
    Ok(())
}

async fn control_call<L: Lookups>(
    proxy: &Proxy<L>,
    scope: &Scope,
    uncontained: Option<Refusal>,
    sender: h2::client::SendRequest<Bytes>,
    request: Request<RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
) -> Result<(), h2::Error> {
    let path = request.uri().path().to_string();
    let (parts, body) = request.into_parts();
    let checked = async {
        let call = Call::route(&path)?;
        if let Some(refusal) = uncontained.filter(|_| !matches!(call, Call::Info | Call::ListWorkers)) {
            return Err(refusal);
        }
        check_grpc_headers(&parts.headers)?;
        let build_id = match call {
            Call::Bridge(_) => Some(build_id(&parts.headers, scope)?),
            _ => None,
        };
        let message = read_request_message(body).await?;
        let checked = buildkit::check(call, &message, scope)?;
        dockyard_docker_policy::endpoint::check_names(&checked.checks)?;
        proxy.lookups.run(scope, &checked.checks).await?;
        Ok::<_, Refusal>((call, checked, build_id))
    }
    .await;
    let (call, checked, build_id) = match checked {
        Ok(checked) => checked,
        Err(refusal) => {
            info!(sandbox = %scope.uid, %path, reason = %refusal.message, "BuildKit call refused");
            return respond.send_response(grpc_error(&refusal), true).map(drop);
        }
    };

    let mut upstream = Request::builder().method("POST").uri(format!("http://docker{path}"));
    for name in CONTROL_HEADERS {
        if let Some(value) = parts.headers.get(&name) {
            upstream = upstream.header(name, value);
        }
    }
    if let Some(build_id) = build_id {
        upstream = upstream.header(buildkit::BUILD_ID_HEADER, build_id);
    }
    let upstream = upstream.body(()).expect("a request of checked parts is valid");
    let mut sender = sender.ready().await?;
    let (answer, mut send) = sender.send_request(upstream, false)?;
    // The answer decides how the call ends, as in `session_call`: the daemon
    // (grpc-go) runs a call once its message's bytes are in and may answer
    // and close the stream before our end-of-stream frame goes out; under
    // load the send then finds the stream inactive. Failing the call there
    // reset the caller's stream with `CANCEL` although the daemon had
    // answered (buildx: `failed to run Build function: Canceled: stream
    // terminated by RST_STREAM` on its gateway's `Return`).
    if let Err(e) = send_all(&mut send, frame(&checked.message), true).await {
        debug!(sandbox = %scope.uid, %path, error = %e, "BuildKit call's request half ended early; relaying the answer");
    }
    let answer = match answer.await {
        Ok(answer) => answer,
        Err(e) => {
            // A stream the daemon reset (`REFUSED_STREAM`: never processed,
            // which gRPC clients retry) is reset with its reason, not ours.
            if let Some(reason) = e.reason().filter(|_| e.is_reset()) {
                respond.send_reset(reason);
            }
            return Err(e);
        }
    };
    let (answer_parts, mut answer_body) = answer.into_parts();
    let ended = answer_body.is_end_stream();
    let mut out = respond.send_response(Response::from_parts(answer_parts, ()), ended)?;
    if ended {
        return Ok(());
    }
    let mut kept = BytesMut::new();
    relay_data(&mut answer_body, &mut out, |chunk| {
        if call == Call::Solve && kept.len() + chunk.len() <= MAX_SOLVE_RESPONSE {
            kept.extend_from_slice(chunk);
        }
    })
    .await?;
    let trailers = answer_body.trailers().await?.unwrap_or_default();
    if call == Call::Solve && trailers.get("grpc-status").is_some_and(|s| s == "0") {
        // The image the daemon exported, by ID: its names may point elsewhere
        // by now (see `buildkit::Checked::checks`).
        if let Some(image) = first_message(&kept).and_then(|m| buildkit::exported_image(&m)) {
            proxy.lookups.record_export(scope, image).await;
        }
    }
    out.send_trailers(trailers)
}

/// Relays one `/session` connection (the daemon calls the client) until
/// either side closes it; `methods` are those the checked headers announced.
pub(crate) async fn relay_session(
    uid: String,
    methods: Vec<String>,
    client: Upgraded,
    daemon: Upgraded,
) -> Result<(), h2::Error> {
    let mut server = h2::server::handshake(TokioIo::new(daemon)).await?;
    let (sender, connection) = h2::client::handshake(TokioIo::new(client)).await?;
    let connection_uid = uid.clone();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            debug!(sandbox = %connection_uid, error = %e, "build session connection ended with an error");
        }
    });
    let methods = Arc::new(methods);
    while let Some(accepted) = server.accept().await {
        let (request, respond) = accepted?;
        let (sender, methods, uid) = (sender.clone(), methods.clone(), uid.clone());
        tokio::spawn(async move {
            let path = request.uri().path().to_string();
            if let Err(e) = session_call(&methods, sender, request, respond).await {
                debug!(sandbox = %uid, %path, error = %e, "build session call ended with an error");
            }
        });
    }
    Ok(())
}

async fn session_call(
    methods: &[String],
    sender: h2::client::SendRequest<Bytes>,
    request: Request<RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
) -> Result<(), h2::Error> {
    let path = request.uri().path().to_string();
    if !methods.contains(&path) {
        let refusal = Refusal::forbidden(format!("the build session does not offer {path}"));
        return respond.send_response(grpc_error(&refusal), true).map(drop);
    }
    let (parts, mut body) = request.into_parts();
    let mut upstream = Request::from_parts(parts, ());
    *upstream.uri_mut() = format!("http://session{path}").parse().expect("a checked path is a valid URI");
    let mut sender = sender.ready().await?;
    let ended = body.is_end_stream();
    let (answer, mut send) = sender.send_request(upstream, ended)?;
    let requests = async move {
        if ended {
            return Ok(());
        }
        relay_data(&mut body, &mut send, |_| {}).await?;
        match body.trailers().await? {
            Some(trailers) => send.send_trailers(trailers),
            None => send_all(&mut send, Bytes::new(), true).await,
        }
    };
    let answers = async move {
        let (answer_parts, mut answer_body) = answer.await?.into_parts();
        let mut head = Response::new(());
        *head.status_mut() = answer_parts.status;
        *head.headers_mut() = session_answer_headers(&answer_parts.headers);
        let ended = answer_body.is_end_stream();
        let mut out = respond.send_response(head, ended)?;
        if ended {
            return Ok(());
        }
        relay_data(&mut answer_body, &mut out, |_| {}).await?;
        let trailers = answer_body.trailers().await?.unwrap_or_default();
        out.send_trailers(session_answer_headers(&trailers))
    };
    // The answer decides how the call ends. The request half may end early
    // without ending the call: a peer that has sent its whole answer resets
    // the request half with NO_ERROR (HTTP/2 §8.1; h2 and grpc-go both do),
    // and the answer, perhaps still in our buffers, must reach the caller;
    // cancelling it there made the caller see `RST_STREAM CANCEL` and the
    // build fail. An answer that ends (or fails) drops the request half:
    // the call is over.
    tokio::pin!(requests, answers);
    tokio::select! {
        answered = &mut answers => answered,
        sent = &mut requests => {
            if let Err(e) = sent {
                debug!(%path, error = %e, "build session call's request half ended early; relaying the answer");
            }
            answers.await
        }
    }
}

fn session_answer_headers(headers: &HeaderMap) -> HeaderMap {
    let mut kept = HeaderMap::new();
    for name in SESSION_ANSWER_HEADERS {
        if let Some(value) = headers.get(name) {
            kept.insert(name, value.clone());
        }
    }
    kept
}

/// Passes a stream's data on as it comes, each chunk seen by `tap` first,
/// until the stream's data ends (its trailers are the caller's).
async fn relay_data(
    from: &mut RecvStream,
    to: &mut SendStream<Bytes>,
    mut tap: impl FnMut(&Bytes),
) -> Result<(), h2::Error> {
    while let Some(chunk) = from.data().await {
        let chunk = chunk?;
        let _ = from.flow_control().release_capacity(chunk.len());
        tap(&chunk);
        send_all(to, chunk, false).await?;
    }
    Ok(())
}

/// Sends `data` as the peer's flow control allows, instead of buffering it.
async fn send_all(stream: &mut SendStream<Bytes>, mut data: Bytes, end: bool) -> Result<(), h2::Error> {
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        let granted = match std::future::poll_fn(|cx| stream.poll_capacity(cx)).await {
            Some(granted) => granted?,
            None => return Err(h2::Error::from(h2::Reason::CANCEL)),
        };
        let part = data.split_to(granted.min(data.len()));
        stream.send_data(part, false)?;
    }
    if end { stream.send_data(Bytes::new(), true) } else { Ok(()) }
}

/// Prunes the BuildKit cache records of the daemon at `socket` that `filter`
/// matches (the node agent's own call, after a sandbox is gone); returns
/// what was removed. BuildKit's prune does not see records' descriptions, so
/// the records are found with `DiskUsage` and pruned by ID.
pub async fn prune_build_cache(socket: &std::path::Path, filter: String) -> Result<Vec<buildkit::UsageRecord>, String> {
    let usage = buildkit::DiskUsageRequest { filter: vec![filter] };
    let answers = call_daemon(socket, "DiskUsage", prost::Message::encode_to_vec(&usage)).await?;
    let mut found = Vec::new();
    for answer in answers {
        let usage: buildkit::DiskUsageResponse =
            prost::Message::decode(answer.as_slice()).map_err(|e| format!("BuildKit's disk usage: {e}"))?;
        found.extend(usage.record);
    }
    if found.is_empty() {
        return Ok(found);
    }
    // One filter per record: BuildKit prunes what any of them matches.
    let filter = found.iter().map(|r| format!("id=={}", r.id)).collect();
    prune(socket, buildkit::PruneRequest { filter, all: true, keep_bytes: 0 }).await
}

/// Prunes the unused BuildKit cache of the daemon at `socket` down to
/// `keep_bytes`, oldest first (BuildKit's own rule; cache mounts, which it
/// keeps, are pruned with their sandbox); returns what was removed.
pub async fn trim_build_cache(socket: &std::path::Path, keep_bytes: u64) -> Result<Vec<buildkit::UsageRecord>, String> {
    let keep_bytes = i64::try_from(keep_bytes).map_err(|_| format!("a budget of {keep_bytes} bytes is too large"))?;
    prune(socket, buildkit::PruneRequest { filter: Vec::new(), all: false, keep_bytes }).await
}

/// BuildKit's `Prune`; returns the records it removed.
async fn prune(
    socket: &std::path::Path,
    request: buildkit::PruneRequest,
) -> Result<Vec<buildkit::UsageRecord>, String> {
    let answers = call_daemon(socket, "Prune", prost::Message::encode_to_vec(&request)).await?;
    answers
        .iter()
        .map(|answer| prost::Message::decode(answer.as_slice()).map_err(|e| format!("a pruned record: {e}")))
        .collect()
}

/// Calls a method of the daemon's BuildKit control API on a connection of
/// its own; returns the answer's messages.
async fn call_daemon(socket: &std::path::Path, method: &str, message: Vec<u8>) -> Result<Vec<Vec<u8>>, String> {
    let mut sender = crate::connect_daemon(socket).await.map_err(|refusal| refusal.message)?;
    let upgrade = Request::post("/grpc")
        .header(http::header::HOST, "docker")
        .header(http::header::CONNECTION, "Upgrade")
        .header(http::header::UPGRADE, "h2c")
        .body(crate::empty_body())
        .expect("a static request is valid");
    let response = sender.send_request(upgrade).await.map_err(|e| e.to_string())?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(format!("the daemon answered {} to the BuildKit upgrade", response.status()));
    }
    let upgraded = hyper::upgrade::on(response).await.map_err(|e| e.to_string())?;
    let (h2, connection) = h2::client::handshake(TokioIo::new(upgraded)).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = Request::post(format!("http://docker/moby.buildkit.v1.Control/{method}"))
        .header(CONTENT_TYPE, "application/grpc")
        .header(TE, "trailers")
        .body(())
        .expect("a request with a method name is valid");
    let mut h2 = h2.ready().await.map_err(|e| e.to_string())?;
    let (answer, mut send) = h2.send_request(request, false).map_err(|e| e.to_string())?;
    send.send_data(frame(&message), true).map_err(|e| e.to_string())?;
    let mut body = answer.await.map_err(|e| e.to_string())?.into_body();
    let mut data = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await.map_err(|e| e.to_string())?.unwrap_or_default();
    if trailers.get("grpc-status").is_none_or(|s| s != "0") {
        let message = trailers.get("grpc-message").and_then(|m| m.to_str().ok()).unwrap_or("no status");
        return Err(format!("BuildKit's {method} failed: {message}"));
    }
    let mut messages = Vec::new();
    let mut rest = &data[..];
    while let Some(message) = first_message(rest) {
        rest = &rest[5 + message.len()..];
        messages.push(message);
    }
    Ok(messages)
}

/// A call's content type must be gRPC's, and its messages uncompressed: a
/// compressed message is one the policy cannot read.
fn check_grpc_headers(headers: &HeaderMap) -> Result<(), Refusal> {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !(content_type == "application/grpc" || content_type.starts_with("application/grpc+proto")) {
        return Err(Refusal::bad_request(format!("content type `{content_type}` is not gRPC's protobuf")));
    }
    match headers.get("grpc-encoding").map(HeaderValue::as_bytes) {
        None | Some(b"identity") => Ok(()),
        Some(other) => Err(Refusal::bad_request(format!(
            "compressed gRPC messages (`{}`) cannot be checked; send them uncompressed",
            String::from_utf8_lossy(other)
        ))),
    }
}

/// The build a gateway call belongs to, in the sandbox's namespace.
fn build_id(headers: &HeaderMap, scope: &Scope) -> Result<HeaderValue, Refusal> {
    let mut values = headers.get_all(buildkit::BUILD_ID_HEADER).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(Refusal::bad_request(format!("a gateway call needs one `{}` header", buildkit::BUILD_ID_HEADER)));
    };
    let id = value.to_str().map_err(|_| Refusal::bad_request("the build ID is not text"))?;
    HeaderValue::from_str(&buildkit::scoped(scope, id)).map_err(|e| Refusal::bad_request(format!("build ID: {e}")))
}

/// Reads a call's single request message (a unary or server-streaming call
/// sends exactly one).
async fn read_request_message(mut body: RecvStream) -> Result<Vec<u8>, Refusal> {
    let mut data = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| Refusal::bad_request(format!("the call's request could not be read: {e}")))?;
        let _ = body.flow_control().release_capacity(chunk.len());
        if data.len() + chunk.len() > MAX_REQUEST_MESSAGE + 5 {
            return Err(Refusal::bad_request(format!("the call's request is over {MAX_REQUEST_MESSAGE} bytes")));
        }
        data.extend_from_slice(&chunk);
    }
    let mut data = data.freeze();
    if data.len() < 5 {
        return Err(Refusal::bad_request("the call has no request message"));
    }
    let compressed = data.get_u8();
    let length = data.get_u32() as usize;
    if compressed != 0 {
        return Err(Refusal::bad_request("compressed gRPC messages cannot be checked; send them uncompressed"));
    }
    if length != data.len() {
        return Err(Refusal::bad_request("a call must carry exactly one request message"));
    }
    Ok(data.to_vec())
}

/// The first whole message of a gRPC stream's data.
fn first_message(data: &[u8]) -> Option<Vec<u8>> {
    let length = u32::from_be_bytes(data.get(1..5)?.try_into().ok()?) as usize;
    (data.first() == Some(&0)).then(|| data.get(5..5 + length).map(<[u8]>::to_vec)).flatten()
}

/// One uncompressed gRPC message frame.
fn frame(message: &[u8]) -> Bytes {
    let mut framed = BytesMut::with_capacity(5 + message.len());
    framed.extend_from_slice(&[0]);
    framed.extend_from_slice(&u32::try_from(message.len()).expect("checked messages are small").to_be_bytes());
    framed.extend_from_slice(message);
    framed.freeze()
}

/// A trailers-only gRPC answer carrying the refusal.
fn grpc_error(refusal: &Refusal) -> Response<()> {
    let code = if refusal.status == StatusCode::BAD_REQUEST { "3" } else { "7" };
    let message: String = refusal
        .message
        .bytes()
        .map(|b| match b {
            b' '..=b'~' if b != b'%' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, "application/grpc")
        .header("grpc-status", code)
        .header("grpc-message", message)
        .body(())
        .expect("a static response is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_refusals_are_percent_encoded() {
        let framed = frame(b"abc");
        assert_eq!(&framed[..], &[0, 0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(first_message(&framed).unwrap(), b"abc");
        assert_eq!(first_message(&[1, 0, 0, 0, 0]), None, "compressed");
        assert_eq!(first_message(&[0, 0, 0, 0, 9, 1]), None, "short");
        let error = grpc_error(&Refusal::forbidden("100% no\n"));
        assert_eq!(error.headers()["grpc-status"], "7");
        assert_eq!(error.headers()["grpc-message"], "dockyard: 100%25 no%0A");
    }
}
