//! An HTTP/2 front for the plugin-registration socket that gives each request
//! an `:authority` h2 accepts.
//!
//! The kubelet's plugin-registration client (grpc-go dialling a Unix socket
//! by its path) sends that path as the HTTP/2 `:authority`,
//! e.g. `/var/lib/kubelet/plugins_registry/broker.dockyard.dev-reg.sock`. h2,
//! under tonic, parses `:authority` as an URI authority and resets such a
//! stream (`RST_STREAM PROTOCOL_ERROR`): the kubelet then never registers the
//! driver (`RegisterPlugin error -- failed to get plugin info using RPC
//! GetInfo`). Go's HTTP/2 server takes any authority; the kubelet's CSI client
//! sends `localhost`, which is why only this socket needs the front.
//!
//! The front decodes the client's frames with h2's own codec (HPACK state
//! included), replaces the authority of each request's HEADERS by `localhost`
//! and encodes them again for the server; every other frame, and every frame
//! of the server, passes through decoded and encoded unchanged. A connection
//! that does not start with the HTTP/2 preface is closed.

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use h2::Codec;
use h2::frame::{BytesStr, Frame, Settings};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The client connection preface (RFC 9113, section 3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Why a fronted connection ended before either side closed it.
#[derive(Debug, thiserror::Error)]
pub enum FrontError {
    #[error("not an HTTP/2 connection: the client preface is missing")]
    NoPreface,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("HTTP/2: {0}")]
    Http2(#[from] h2::Error),
    #[error("HTTP/2: {0:?}")]
    Send(h2::SendError),
}

impl From<h2::SendError> for FrontError {
    fn from(e: h2::SendError) -> Self {
        FrontError::Send(e)
    }
}

impl From<h2::proto::Error> for FrontError {
    fn from(e: h2::proto::Error) -> Self {
        FrontError::Http2(e.into())
    }
}

/// Relays one connection of `client` to `server` until either closes.
pub async fn front<C, S>(mut client: C, mut server: S) -> Result<(), FrontError>
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut preface = [0u8; PREFACE.len()];
    client.read_exact(&mut preface).await?;
    if &preface != PREFACE {
        return Err(FrontError::NoPreface);
    }
    server.write_all(PREFACE).await?;
    let mut client: Codec<C, Bytes> = Codec::new(client);
    let mut server: Codec<S, Bytes> = Codec::new(server);
    loop {
        tokio::select! {
            frame = client.next() => {
                let Some(mut frame) = frame.transpose()? else { return Ok(()) };
                match &mut frame {
                    Frame::Headers(headers) => {
                        let pseudo = headers.pseudo_mut();
                        if pseudo.authority.is_some() {
                            pseudo.authority = Some(localhost());
                        }
                    }
                    Frame::Settings(settings) => follow(settings, &mut client, &mut server),
                    _ => {}
                }
                server.send(frame).await?;
            }
            frame = server.next() => {
                let Some(mut frame) = frame.transpose()? else { return Ok(()) };
                if let Frame::Settings(settings) = &mut frame {
                    follow(settings, &mut server, &mut client);
                }
                client.send(frame).await?;
            }
        }
    }
}

fn localhost() -> BytesStr {
    BytesStr::try_from(Bytes::from_static(b"localhost")).expect("ASCII")
}

/// The limits `from` announces bind what the front sends to it, and what the
/// other side, which receives them, may send to the front.
fn follow<A, B>(settings: &Settings, from: &mut Codec<A, Bytes>, to: &mut Codec<B, Bytes>)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    if settings.is_ack() {
        return;
    }
    if let Some(size) = settings.max_frame_size() {
        from.set_max_send_frame_size(size as usize);
        to.set_max_recv_frame_size(size as usize);
    }
    if let Some(size) = settings.header_table_size() {
        from.set_send_header_table_size(size as usize);
        to.set_recv_header_table_size(size as usize);
    }
    if let Some(size) = settings.max_header_list_size() {
        to.set_max_recv_header_list_size(size as usize);
    }
}
