//! Registry credentials in headers: `X-Registry-Auth` (pull, push: one
//! `AuthConfig`) and `X-Registry-Config` (build: a map of them), base64url
//! JSON. Decoded as dockerd decodes them, re-encoded from the typed value.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};

use crate::model::AuthConfig;
use crate::{Refusal, gojson};

/// The `X-Registry-Auth` header to forward.
pub fn auth_header(value: &[u8]) -> Result<String, Refusal> {
    let auth: AuthConfig = decode(value, "X-Registry-Auth")?;
    Ok(URL_SAFE.encode(serde_json::to_vec(&auth).expect("the model serialises")))
}

/// The `X-Registry-Config` header to forward.
pub fn config_header(value: &[u8]) -> Result<String, Refusal> {
    let config: BTreeMap<String, AuthConfig> = decode(value, "X-Registry-Config")?;
    Ok(URL_SAFE.encode(serde_json::to_vec(&config).expect("the model serialises")))
}

fn decode<T: serde::de::DeserializeOwned>(value: &[u8], header: &str) -> Result<T, Refusal> {
    let value = value.trim_ascii();
    let json = URL_SAFE
        .decode(value)
        .or_else(|_| URL_SAFE_NO_PAD.decode(value))
        .map_err(|e| Refusal::bad_request(format!("header {header} is not base64url: {e}")))?;
    gojson::from_slice(&json).map_err(|e| Refusal::bad_request(format!("header {header}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_decoded_and_re_encoded() {
        let header = URL_SAFE.encode(br#"{"username":"u","password":"p","serveraddress":"reg.local"}"#);
        let forwarded = auth_header(header.as_bytes()).unwrap();
        let auth: AuthConfig = serde_json::from_slice(&URL_SAFE.decode(forwarded).unwrap()).unwrap();
        assert_eq!((auth.username.as_str(), auth.server_address.as_str()), ("u", "reg.local"));
        let config = URL_SAFE.encode(br#"{"reg.local":{"Username":"u"}}"#);
        assert!(config_header(config.as_bytes()).is_ok());
        assert!(auth_header(b"!!!").unwrap_err().message.contains("base64"));
        let unknown = URL_SAFE.encode(br#"{"username":"u","frob":1}"#);
        assert!(auth_header(unknown.as_bytes()).unwrap_err().message.contains("frob"));
    }
}
