//! What the broker does with the daemon's answers: image lists keep only
//! what the sandbox may see, and the images a request made are recorded as
//! the sandbox's before the client reads the end of the answer (so a
//! `docker pull x && docker run x` never races the ledger).

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use dockyard_docker_policy::After;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use serde::Deserialize;
use serde_json::value::RawValue;
use tracing::warn;

use dockyard_docker_proxy::ProxyBody;

use super::lookups::View;
use dockyard_docker_policy::Refusal;

/// Largest image list the broker filters.
const MAX_IMAGE_LIST: usize = 64 << 20;
/// Most of a streamed answer kept to find what it made (build and load output).
const MAX_KEPT: usize = 1 << 20;

/// The answer to pass to the client.
pub async fn answer(
    after: &After,
    response: http::Response<Incoming>,
    lookups: View<'_>,
) -> Result<http::Response<ProxyBody>, Refusal> {
    let (parts, body) = response.into_parts();
    if !parts.status.is_success() {
        return Ok(http::Response::from_parts(parts, body.boxed()));
    }
    match after {
        After::Nothing => Ok(http::Response::from_parts(parts, body.boxed())),
        After::NetworkCreated => {
            lookups.fence_networks().await?;
            Ok(http::Response::from_parts(parts, body.boxed()))
        }
        After::FilterImageList => {
            let bytes = Limited::new(body, MAX_IMAGE_LIST).collect().await.map_err(|e| {
                Refusal::bad_request(format!("the image list could not be read (at most {MAX_IMAGE_LIST} bytes): {e}"))
            })?;
            let filtered = filter_images(&bytes.to_bytes(), &lookups).await?;
            let mut parts = parts;
            parts.headers.remove(http::header::TRANSFER_ENCODING);
            parts.headers.insert(http::header::CONTENT_LENGTH, filtered.len().into());
            Ok(http::Response::from_parts(parts, Full::new(filtered).map_err(|never| match never {}).boxed()))
        }
        After::RecordReference(_) | After::RecordBuild(_) | After::RecordLoad => {
            let recorder = Recorder { after: after.clone() };
            let owned = OwnedLookups::from(&lookups);
            let body = Recording {
                inner: body.boxed(),
                kept: BytesMut::new(),
                finish: None,
                recorder: Some((recorder, owned)),
            };
            Ok(http::Response::from_parts(parts, BoxBody::new(body)))
        }
    }
}

#[derive(Deserialize)]
struct ImageSummary {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Labels", default)]
    labels: Option<std::collections::HashMap<String, String>>,
}

async fn filter_images(bytes: &[u8], lookups: &View<'_>) -> Result<Bytes, Refusal> {
    let images: Vec<Box<RawValue>> = serde_json::from_slice(bytes)
        .map_err(|e| Refusal::bad_request(format!("the daemon's image list is not a JSON list: {e}")))?;
    let mut kept = Vec::new();
    for raw in images {
        let Ok(summary) = serde_json::from_str::<ImageSummary>(raw.get()) else { continue };
        let facts = super::lookups::ImageFacts {
            id: summary.id,
            repo_tags: summary.repo_tags.unwrap_or_default(),
            labels: summary.labels.unwrap_or_default(),
        };
        if lookups.owns_image(&facts) || lookups.is_shared(&facts) {
            kept.push(raw);
        }
    }
    Ok(Bytes::from(serde_json::to_vec(&kept).expect("raw values serialise")))
}

/// What a recording needs after the request's lookups are gone.
struct OwnedLookups {
    scope: dockyard_docker_policy::Scope,
    docker: bollard::Docker,
    ledger: std::sync::Arc<super::images::ImageLedger>,
}

impl OwnedLookups {
    fn from(lookups: &View<'_>) -> Self {
        Self { scope: lookups.scope.clone(), docker: lookups.docker.clone(), ledger: lookups.ledger_handle() }
    }
}

struct Recorder {
    after: After,
}

impl Recorder {
    /// The references or IDs the finished answer says were made.
    fn made(&self, output: &[u8]) -> Vec<String> {
        let text = String::from_utf8_lossy(output);
        match &self.after {
            After::RecordReference(reference) => vec![reference.clone()],
            After::RecordBuild(tags) if !tags.is_empty() => tags.clone(),
            // An untagged build: its ID is in the last `aux` message.
            After::RecordBuild(_) => messages(&text).filter_map(|m| m.aux.map(|a| a.id)).last().into_iter().collect(),
            After::RecordLoad => messages(&text)
                .filter_map(|m| m.stream)
                .filter_map(|line| {
                    let line = line.trim();
                    line.strip_prefix("Loaded image: ")
                        .or_else(|| line.strip_prefix("Loaded image ID: "))
                        .map(str::to_string)
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    async fn record(self, output: Bytes, owned: OwnedLookups) {
        let lookups = View { scope: &owned.scope, docker: &owned.docker, ledger: &owned.ledger, firewall: None };
        record(&lookups, self.made(&output)).await;
    }
}

/// Records the images known by these names or IDs as the sandbox's.
pub async fn record(lookups: &View<'_>, made: Vec<String>) {
    let uid = &lookups.scope.uid;
    for name in made {
        match lookups.image(&name).await {
            Ok(Some(image)) => {
                if let Err(e) = lookups.ledger.record(uid, &image.id) {
                    warn!(sandbox = %uid, image = %name, error = %e, "cannot record the sandbox's image");
                }
            }
            Ok(None) => {}
            Err(e) => warn!(sandbox = %uid, image = %name, error = %e.message, "cannot look up a new image"),
        }
    }
}

#[derive(Deserialize)]
struct Message {
    stream: Option<String>,
    aux: Option<Aux>,
}

#[derive(Deserialize)]
struct Aux {
    #[serde(rename = "ID")]
    id: String,
}

/// The JSON messages of a progress stream (one per line, or back to back).
fn messages(text: &str) -> impl Iterator<Item = Message> + '_ {
    serde_json::Deserializer::from_str(text).into_iter::<Message>().map_while(Result::ok)
}

/// A streamed answer that records what it made before it ends.
struct Recording {
    inner: ProxyBody,
    kept: BytesMut,
    finish: Option<tokio::task::JoinHandle<()>>,
    recorder: Option<(Recorder, OwnedLookups)>,
}

impl Body for Recording {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        loop {
            if let Some(finish) = self.finish.as_mut() {
                let _ = ready!(Pin::new(finish).poll(cx));
                self.finish = None;
                return Poll::Ready(None);
            }
            match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref()
                        && self.kept.len() < MAX_KEPT
                    {
                        let room = MAX_KEPT - self.kept.len();
                        self.kept.extend_from_slice(&data[..data.len().min(room)]);
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => match self.recorder.take() {
                    Some((recorder, owned)) => {
                        let output = std::mem::take(&mut self.kept).freeze();
                        self.finish = Some(tokio::spawn(recorder.record(output, owned)));
                    }
                    None => return Poll::Ready(None),
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recorder.is_none() && self.finish.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder(after: After) -> Recorder {
        Recorder { after }
    }

    #[test]
    fn what_an_answer_made_is_read_from_its_stream() {
        let load = br#"{"stream":"Loaded image: app:1\n"}
{"stream":"Loaded image ID: sha256:abc\n"}"#;
        assert_eq!(recorder(After::RecordLoad).made(load), ["app:1", "sha256:abc"]);
        let build =
            br#"{"stream":"Step 1/1 : FROM x\n"}{"aux":{"ID":"sha256:def"}}{"stream":"Successfully built def\n"}"#;
        assert_eq!(recorder(After::RecordBuild(vec![])).made(build), ["sha256:def"]);
        assert_eq!(recorder(After::RecordBuild(vec!["t:1".into()])).made(build), ["t:1"]);
        assert_eq!(recorder(After::RecordReference("x:1".into())).made(b""), ["x:1"]);
    }
}
