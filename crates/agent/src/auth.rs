//! Who may call the agent: ServiceAccount tokens checked with the API
//! server's TokenReview, allowed by user name (the controller's ServiceAccount
//! by default). Reviews are cached for a minute so a burst of calls costs one
//! review.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::api::PostParams;
use kube::{Api, Client};
use tonic::{Request, Status};

/// How long a successful review is trusted.
const CACHE_FOR: Duration = Duration::from_secs(60);

pub struct Authenticator {
    client: Client,
    /// User names allowed to call, e.g. `system:serviceaccount:dockyard-system:dockyard-controller`.
    allowed_users: Vec<String>,
    /// Audiences the token must be valid for (empty: the API server's).
    audiences: Vec<String>,
    reviewed: Mutex<HashMap<String, (Instant, String)>>,
}

impl Authenticator {
    pub fn new(client: Client, allowed_users: Vec<String>, audiences: Vec<String>) -> Self {
        Self { client, allowed_users, audiences, reviewed: Mutex::default() }
    }

    /// The caller's user name, or the status the call is refused with.
    pub async fn authorize<T>(&self, request: &Request<T>) -> Result<String, Status> {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Status::unauthenticated("no bearer token: calls must carry a ServiceAccount token"))?;
        if let Some((at, user)) = self.reviewed.lock().expect("review cache poisoned").get(token)
            && at.elapsed() < CACHE_FOR
        {
            return Ok(user.clone());
        }
        let user = self.review(token).await?;
        if !self.allowed_users.contains(&user) {
            return Err(Status::permission_denied(format!(
                "{user} may not call the node agent (allowed: {})",
                self.allowed_users.join(", ")
            )));
        }
        let mut reviewed = self.reviewed.lock().expect("review cache poisoned");
        reviewed.retain(|_, (at, _)| at.elapsed() < CACHE_FOR);
        reviewed.insert(token.to_string(), (Instant::now(), user.clone()));
        Ok(user)
    }

    async fn review(&self, token: &str) -> Result<String, Status> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_string(),
                audiences: (!self.audiences.is_empty()).then(|| self.audiences.clone()),
            },
            ..Default::default()
        };
        let reviews: Api<TokenReview> = Api::all(self.client.clone());
        let reviewed = reviews
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| Status::unavailable(format!("cannot review the caller's token with the API server: {e}")))?;
        let status = reviewed.status.unwrap_or_default();
        // An authenticator that does not know audiences answers without them:
        // the token is then good for the agent only if one of ours comes back.
        let audience_ok = self.audiences.is_empty()
            || status.audiences.as_ref().is_some_and(|got| got.iter().any(|a| self.audiences.contains(a)));
        match (status.authenticated, status.user.and_then(|u| u.username)) {
            (Some(true), Some(_)) if !audience_ok => Err(Status::unauthenticated(format!(
                "the token is not for the audience {} (the API server answered {:?})",
                self.audiences.join(", "),
                status.audiences.unwrap_or_default()
            ))),
            (Some(true), Some(user)) => Ok(user),
            _ => Err(Status::unauthenticated(format!(
                "the token was not accepted by the API server{}",
                status.error.map(|e| format!(": {e}")).unwrap_or_default()
            ))),
        }
    }
}
