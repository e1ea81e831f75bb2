//! The agent's plugin-registration socket, driven as the kubelet's client
//! drives it: grpc-go, dialling the socket by its path, sends that path as
//! the HTTP/2 `:authority`. Frames are written here one by one (no HTTP/2
//! client library would send such an authority), so the test sends exactly
//! what the kubelet sends. The real kubelet registers the driver in the e2e
//! cluster (`csi_registration_with_the_real_kubelet`, needs the node profile).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dockyard_agent::csi::{self, PluginSockets};
use dockyard_agent::node::{self, Agent};
use dockyard_api::labels::BROKER_CSI_DRIVER;
use dockyard_proto::pluginregistration::PluginInfo;
use futures::{FutureExt, SinkExt, StreamExt};
use h2::Codec;
use h2::frame::{BytesStr, Data, Frame, Headers, Pseudo, Settings, StreamId};
use http::{HeaderMap, HeaderValue, Method, Uri};
use prost::Message;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// One unary gRPC call on a fresh connection, as grpc-go sends it with
/// `authority`; the answer's message, or how the server refused.
async fn call_as_the_kubelet(socket: &Path, authority: &str, method: &str, message: &[u8]) -> Result<Bytes, String> {
    let mut stream = UnixStream::connect(socket).await.map_err(|e| e.to_string())?;
    stream.write_all(PREFACE).await.map_err(|e| e.to_string())?;
    let mut codec: Codec<UnixStream, Bytes> = Codec::new(stream);
    codec.send(Settings::default().into()).await.map_err(|e| format!("{e:?}"))?;
    let uri: Uri = format!("http://localhost{method}").parse().unwrap();
    let mut pseudo = Pseudo::request(Method::POST, uri, None);
    pseudo.authority = Some(BytesStr::try_from(Bytes::copy_from_slice(authority.as_bytes())).unwrap());
    let mut fields = HeaderMap::new();
    fields.insert("content-type", HeaderValue::from_static("application/grpc"));
    fields.insert("te", HeaderValue::from_static("trailers"));
    let stream_id = StreamId::from(1);
    codec.send(Headers::new(stream_id, pseudo, fields).into()).await.map_err(|e| format!("{e:?}"))?;
    // gRPC's framing: not compressed, the length, the message.
    let mut body = vec![0u8];
    body.extend_from_slice(&(message.len() as u32).to_be_bytes());
    body.extend_from_slice(message);
    let mut data = Data::new(stream_id, Bytes::from(body));
    data.set_end_stream(true);
    codec.send(data.into()).await.map_err(|e| format!("{e:?}"))?;

    let mut answer = Vec::new();
    loop {
        match codec.next().await {
            Some(Ok(Frame::Settings(s))) if !s.is_ack() => {
                codec.send(Settings::ack().into()).await.map_err(|e| format!("{e:?}"))?
            }
            Some(Ok(Frame::Data(d))) => answer.extend_from_slice(d.payload()),
            Some(Ok(Frame::Reset(r))) => return Err(format!("RST_STREAM {:?}", r.reason())),
            Some(Ok(Frame::Headers(h))) if h.is_end_stream() => {
                let status = h.fields().get("grpc-status").map(|v| v.to_str().unwrap_or_default().to_string());
                return match status.as_deref() {
                    Some("0") if answer.len() >= 5 => Ok(Bytes::from(answer).slice(5..)),
                    other => Err(format!("grpc-status {other:?}: {:?}", h.fields().get("grpc-message"))),
                };
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("{e:?}")),
            None => return Err("the server closed the connection".into()),
        }
    }
}

struct Served {
    sockets: PluginSockets,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempdir::Dir,
}

mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

async fn serve(name: &str) -> Served {
    let dir = std::env::temp_dir().join(format!("dockyard-csi-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sockets = PluginSockets::under(&dir);
    // Neither the API server nor a Docker daemon: registration and identity need neither.
    let agent = Agent::new(node::Settings::under(&dir, "node-a", dir.join("no-docker.sock"))).unwrap();
    let client = kube::Client::try_from(kube::Config::new("http://127.0.0.1:1".parse().unwrap())).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(csi::serve(Arc::new(agent), client, sockets.clone(), stopped.map(|_| ()).boxed()));
    for _ in 0..100 {
        if sockets.registration.exists() && sockets.endpoint.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Served { sockets, stop, task, _dir: tempdir::Dir(dir) }
}

#[tokio::test]
async fn the_kubelet_gets_the_plugin_info_though_it_sends_the_socket_path_as_authority() {
    let served = serve("info").await;
    let authority = served.sockets.registration.display().to_string();
    let answer =
        call_as_the_kubelet(&served.sockets.registration, &authority, "/pluginregistration.Registration/GetInfo", &[])
            .await
            .expect("GetInfo through the registration socket");
    let info = PluginInfo::decode(answer).unwrap();
    assert_eq!(info.r#type, "CSIPlugin");
    assert_eq!(info.name, BROKER_CSI_DRIVER);
    assert_eq!(info.endpoint, served.sockets.endpoint.display().to_string());
    assert_eq!(info.supported_versions, ["1.0.0"]);

    // The status call the kubelet makes next, on another connection.
    let status =
        dockyard_proto::pluginregistration::RegistrationStatus { plugin_registered: true, error: String::new() };
    call_as_the_kubelet(
        &served.sockets.registration,
        &authority,
        "/pluginregistration.Registration/NotifyRegistrationStatus",
        &status.encode_to_vec(),
    )
    .await
    .expect("NotifyRegistrationStatus");

    // Stopping removes the registration socket: the kubelet deregisters the driver.
    served.stop.send(()).unwrap();
    served.task.await.unwrap().unwrap();
    assert!(!served.sockets.registration.exists());
}

/// Why the front exists: the CSI endpoint is plain tonic, and the same
/// request with a path as authority is refused there, as it was on the
/// registration socket before the front.
#[tokio::test]
async fn without_the_front_h2_refuses_a_path_as_authority() {
    let served = serve("bare").await;
    let authority = served.sockets.endpoint.display().to_string();
    let refused =
        call_as_the_kubelet(&served.sockets.endpoint, &authority, "/csi.v1.Identity/GetPluginInfo", &[]).await;
    assert_eq!(refused.unwrap_err(), "RST_STREAM PROTOCOL_ERROR");
    // With the authority the kubelet's CSI client sends, the endpoint answers.
    let answer = call_as_the_kubelet(&served.sockets.endpoint, "localhost", "/csi.v1.Identity/GetPluginInfo", &[])
        .await
        .expect("GetPluginInfo with authority localhost");
    let info = dockyard_proto::csi::v1::GetPluginInfoResponse::decode(answer).unwrap();
    assert_eq!(info.name, BROKER_CSI_DRIVER);
}

#[tokio::test]
async fn a_connection_that_is_not_http2_is_closed() {
    let served = serve("garbage").await;
    let mut stream = UnixStream::connect(&served.sockets.registration).await.unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut rest = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(5), tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut rest))
            .await;
    // Closed (a reset, when the rest of the request is unread), never answered.
    let closed =
        matches!(&read, Ok(Ok(0))) || matches!(&read, Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset);
    assert!(closed && rest.is_empty(), "closed without an answer: {read:?} {rest:?}");
}
