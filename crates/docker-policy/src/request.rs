//! The request line as dockerd reads it: Go's `net/url` decoding of the path
//! and query, an API version dockerd would not read differently from today's,
//! and a canonical spelling of both to forward.
//!
//! - The path is percent-decoded first (as Go does before gorilla/mux routes
//!   it), then split; empty, `.` and `..` segments are refused rather than
//!   cleaned (dockerd would redirect to the cleaned path).
//! - A version prefix below [`MIN_API_VERSION`] is refused: old API versions
//!   read some bodies differently (before 1.24, `POST /containers/{id}/start`
//!   took a `HostConfig`).
//! - The query is split on `&` with Go's `url.ParseQuery` rules (`+` is a
//!   space, a bad escape or a `;` is refused, as Go refuses them). Keys are
//!   exact. Go's `Form.Get` reads the first of repeated keys, so a key that
//!   takes one value is refused when repeated.

use http::Method;

use crate::Refusal;

/// The oldest API version a client may ask for (Docker 19.03).
pub const MIN_API_VERSION: (u32, u32) = (1, 40);

/// A request's method and decoded path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiPath {
    /// `Some((1, 41))` for `/v1.41/...`.
    pub version: Option<(u32, u32)>,
    /// The decoded path segments after the version.
    pub segments: Vec<String>,
}

impl ApiPath {
    /// Decodes a raw (percent-encoded) path as Go does, and checks its shape.
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let decoded = percent_decode(raw, false)
            .ok_or_else(|| Refusal::bad_request(format!("the path `{raw}` has an invalid percent escape")))?;
        let Some(rest) = decoded.strip_prefix('/') else {
            return Err(Refusal::bad_request(format!("the path `{raw}` does not start with `/`")));
        };
        let mut segments: Vec<String> = rest.split('/').map(str::to_string).collect();
        if segments.iter().any(|s| s.is_empty() || s == "." || s == "..") {
            return Err(Refusal::bad_request(format!(
                "the path `{raw}` has an empty, `.` or `..` segment; send the plain path"
            )));
        }
        let version = match segments.first().and_then(|s| parse_version(s)) {
            Some(version) => {
                segments.remove(0);
                if version < MIN_API_VERSION {
                    return Err(Refusal::bad_request(format!(
                        "API version {}.{} is older than Dockyard accepts ({}.{}): old versions read some requests \
                         differently",
                        version.0, version.1, MIN_API_VERSION.0, MIN_API_VERSION.1
                    )));
                }
                Some(version)
            }
            None => None,
        };
        Ok(Self { version, segments })
    }

    /// The path to forward: the same segments, each percent-encoded.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        if let Some((major, minor)) = self.version {
            out.push_str(&format!("/v{major}.{minor}"));
        }
        for segment in &self.segments {
            out.push('/');
            out.push_str(&percent_encode(segment));
        }
        out
    }

    /// The path without the version, for messages: `/containers/abc/start`.
    pub fn display(&self) -> String {
        format!("/{}", self.segments.join("/"))
    }
}

fn parse_version(segment: &str) -> Option<(u32, u32)> {
    let (major, minor) = segment.strip_prefix('v')?.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    (digits(major) && digits(minor)).then(|| (major.parse().ok(), minor.parse().ok())).and_then(|(a, b)| Some((a?, b?)))
}

/// Go's unescape: `%XX` escapes (and `+` as a space in a query); `None` for a
/// bad escape or a result that is not UTF-8.
fn percent_decode(raw: &str, plus_is_space: bool) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let value = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                out.push(value);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query as Go's `url.ParseQuery` reads it: pairs in order, repeats kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Result<Self, Refusal> {
        let mut pairs = Vec::new();
        for part in raw.unwrap_or_default().split('&') {
            if part.is_empty() {
                continue;
            }
            if part.contains(';') {
                return Err(Refusal::bad_request(format!(
                    "the query part `{part}` contains `;`, which dockerd refuses"
                )));
            }
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            let decode = |s: &str| {
                percent_decode(s, true)
                    .ok_or_else(|| Refusal::bad_request(format!("the query part `{part}` has an invalid escape")))
            };
            pairs.push((decode(key)?, decode(value)?));
        }
        Ok(Self { pairs })
    }

    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The one value of `key` (what Go's `Form.Get` would read).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable key (`t`, `changes`, `names`).
    pub fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.pairs.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// dockerd's `httputils.BoolValue`.
    pub fn bool(&self, key: &str) -> bool {
        let value = self.get(key).unwrap_or_default().trim().to_ascii_lowercase();
        !matches!(value.as_str(), "" | "0" | "no" | "false" | "none")
    }

    /// Sets `key` to one value, replacing any.
    pub fn set(&mut self, key: &str, value: String) {
        self.pairs.retain(|(k, _)| k != key);
        self.pairs.push((key.to_string(), value));
    }

    pub fn remove(&mut self, key: &str) {
        self.pairs.retain(|(k, _)| k != key);
    }

    /// Refuses keys not in `single` or `repeated`, and repeats of `single` keys.
    pub fn allow(&self, endpoint: &str, single: &[&str], repeated: &[&str]) -> Result<(), Refusal> {
        for (i, (key, _)) in self.pairs.iter().enumerate() {
            if repeated.contains(&key.as_str()) {
                continue;
            }
            if !single.contains(&key.as_str()) {
                return Err(Refusal::bad_request(format!(
                    "query parameter `{key}` is not one Dockyard knows for {endpoint}{}",
                    known(single, repeated)
                )));
            }
            if self.pairs[..i].iter().any(|(k, _)| k == key) {
                return Err(Refusal::bad_request(format!(
                    "query parameter `{key}` is given more than once; dockerd would read only the first"
                )));
            }
        }
        Ok(())
    }

    /// The query to forward (empty: no `?`).
    pub fn encode(&self) -> String {
        let parts: Vec<String> =
            self.pairs.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect();
        parts.join("&")
    }
}

fn known(single: &[&str], repeated: &[&str]) -> String {
    let all: Vec<&str> = single.iter().chain(repeated).copied().collect();
    if all.is_empty() { " (it takes none)".into() } else { format!(" (known: {})", all.join(", ")) }
}

/// `GET` and `HEAD` are the same to dockerd's router for reads.
pub fn is_read(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_decoded_like_go_and_must_be_plain() {
        let path = ApiPath::parse("/v1.41/containers/create").unwrap();
        assert_eq!((path.version, path.segments.clone()), (Some((1, 41)), vec!["containers".into(), "create".into()]));
        assert_eq!(path.canonical(), "/v1.41/containers/create");
        // %2F is a slash to dockerd: the segments are what it routes on.
        let path = ApiPath::parse("/containers%2Fcreate").unwrap();
        assert_eq!(path.segments, ["containers", "create"]);
        let image = ApiPath::parse("/images/registry.local:5000/a/b:1/json").unwrap();
        assert_eq!(image.segments, ["images", "registry.local:5000", "a", "b:1", "json"]);
        assert_eq!(image.canonical(), "/images/registry.local%3A5000/a/b%3A1/json");
        for bad in [
            "/containers/abc/../../build",
            "/containers/abc%2F..%2F..%2Fbuild",
            "//containers/create",
            "/v1.41/../containers/create",
            "/containers/./create",
            "/containers/%zz",
            "containers/create",
            "/v1.23/containers/abc/start",
            "/v1.12/containers/create",
        ] {
            assert_eq!(ApiPath::parse(bad).unwrap_err().status, http::StatusCode::BAD_REQUEST, "{bad}");
        }
        assert_eq!(ApiPath::parse("/v1.52/_ping").unwrap().version, Some((1, 52)));
        assert_eq!(ApiPath::parse("/vx.1/_ping").unwrap().segments, ["vx.1", "_ping"]);
    }

    #[test]
    fn queries_are_read_like_go_and_repeats_refused() {
        let query = Query::parse(Some("t=a+b&t=c%3Ad&networkmode=default&rm=1")).unwrap();
        assert_eq!(query.all("t").collect::<Vec<_>>(), ["a b", "c:d"]);
        assert_eq!(query.get("networkmode"), Some("default"));
        assert!(query.bool("rm") && !query.bool("q"));
        query.allow("POST /build", &["networkmode", "rm"], &["t"]).unwrap();
        let twice = Query::parse(Some("networkmode=default&networkmode=host")).unwrap();
        assert!(twice.allow("POST /build", &["networkmode"], &[]).unwrap_err().message.contains("more than once"));
        let encoded = Query::parse(Some("network%6dode=host")).unwrap();
        assert_eq!(encoded.get("networkmode"), Some("host"), "keys are decoded before they are compared");
        let unknown = Query::parse(Some("cgroupparent=/")).unwrap();
        assert!(unknown.allow("POST /build", &["t"], &[]).unwrap_err().message.contains("`cgroupparent`"));
        assert!(Query::parse(Some("a=1;b=2")).is_err());
        assert!(Query::parse(Some("a=%")).is_err());
        for flag in ["", "0", "no", "FALSE", "none"] {
            assert!(!Query::parse(Some(&format!("x={flag}"))).unwrap().bool("x"), "{flag}");
        }
        assert_eq!(
            Query::parse(Some("filters={\"a\":[\"b c\"]}")).unwrap().encode(),
            "filters=%7B%22a%22%3A%5B%22b%20c%22%5D%7D"
        );
    }
}
