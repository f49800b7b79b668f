//! The ARM side: a bearer token on every request to the ARM endpoint (and
//! nowhere else), the registry's resource id from its login server, and the
//! Tasks operations a one-off run needs.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use crate::endpoint::ArmEndpoint;
use crate::error::{Error, Result};
use crate::model::{
    ErrorResponse, RegistryResource, Run, RunGetLogResult, RunRequest, SourceUploadDefinition,
};

/// The Tasks API version azure-cli uses.
pub const TASKS_API_VERSION: &str = "2025-03-01-preview";
/// The registries (CRUD) API version.
pub const REGISTRIES_API_VERSION: &str = "2025-04-01";

/// Where ARM tokens come from.
pub trait TokenSource: Send + Sync {
    /// A bearer token for `scope` (ARM's: [`ArmEndpoint::scope`]).
    fn token<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, Result<String>>;
}

impl TokenSource for wharf_secrets::AzureCredential {
    fn token<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move { Ok(wharf_secrets::AzureCredential::token(self, scope).await?) })
    }
}

/// A token obtained elsewhere (used as is).
pub struct StaticToken(pub String);

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticToken(***)")
    }
}

impl TokenSource for StaticToken {
    fn token<'a>(&'a self, _scope: &'a str) -> BoxFuture<'a, Result<String>> {
        let token = self.0.clone();
        Box::pin(async move { Ok(token) })
    }
}

/// A client of Azure Resource Manager.
#[derive(Clone)]
pub struct ArmClient {
    endpoint: ArmEndpoint,
    http: reqwest::Client,
    tokens: Arc<dyn TokenSource>,
    /// Pause between polls of a long-running operation without `Retry-After`.
    pub lro_interval: Duration,
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

fn http_error(operation: &str, e: &reqwest::Error) -> Error {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        source = s.source();
    }
    Error::Http {
        operation: operation.to_owned(),
        message: crate::redact_sas(&message),
    }
}

/// An error answer as [`Error::Api`], with ARM's code and message when the body has them.
pub(crate) async fn api_error(operation: &str, response: reqwest::Response) -> Error {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let parsed: ErrorResponse = serde_json::from_str(&body).unwrap_or_default();
    let (code, message) = if parsed.error.code.is_empty() && parsed.error.message.is_empty() {
        (
            status.canonical_reason().unwrap_or("error").to_owned(),
            body.chars().take(300).collect::<String>().trim().to_owned(),
        )
    } else {
        (parsed.error.code, parsed.error.message)
    };
    Error::Api {
        operation: operation.to_owned(),
        status: status.as_u16(),
        code,
        message: crate::redact_sas(&message),
    }
}

/// A path segment that is safe in a resource path.
fn segment(what: &str, value: &str) -> Result<String> {
    let ok = !value.is_empty()
        && value.len() <= 90
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'))
        && value != "."
        && value != "..";
    if ok {
        Ok(value.to_owned())
    } else {
        Err(Error::Usage(format!(
            "{what} {value:?} is not valid: use letters, digits, '-', '_', '.', '(' and ')'"
        )))
    }
}

impl ArmClient {
    /// A client of `endpoint` with tokens from `tokens`.
    pub fn new(endpoint: ArmEndpoint, tokens: Arc<dyn TokenSource>) -> Result<ArmClient> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| http_error("creating the HTTP client", &e))?;
        Ok(ArmClient {
            endpoint,
            http,
            tokens,
            lro_interval: Duration::from_secs(2),
        })
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &ArmEndpoint {
        &self.endpoint
    }

    /// Sends a request with the bearer token; refuses URLs of another origin.
    /// A POST without a body says `Content-Length: 0` (ARM answers 411 otherwise).
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        operation: &str,
    ) -> Result<reqwest::Response> {
        if !self.endpoint.owns(&url) {
            return Err(Error::Protocol {
                operation: operation.to_owned(),
                message: format!(
                    "{} is not on the ARM endpoint {}; no token is sent there",
                    crate::redact_sas(url.as_str()),
                    self.endpoint.as_str()
                ),
            });
        }
        let token = self.tokens.token(&self.endpoint.scope()).await?;
        tracing::debug!(%method, url = %url, "ARM request");
        let mut request = self.http.request(method, url).bearer_auth(token);
        request = match body {
            Some(json) => request.json(json),
            None => request
                .header(reqwest::header::CONTENT_LENGTH, "0")
                .body(Vec::<u8>::new()),
        };
        request.send().await.map_err(|e| http_error(operation, &e))
    }

    /// Sends, and reads a JSON answer of a 2xx status.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        operation: &str,
    ) -> Result<T> {
        let response = self.send(method, url, body, operation).await?;
        if !response.status().is_success() {
            return Err(api_error(operation, response).await);
        }
        read_json(operation, response).await
    }

    /// The registry whose login server is `login_server`, listing the
    /// subscription's registries (or the resource group's) and following `nextLink`.
    pub async fn find_registry(
        &self,
        subscription: &str,
        resource_group: Option<&str>,
        login_server: &str,
    ) -> Result<RegistryResource> {
        let sub = segment("the subscription", subscription)?;
        let path = match resource_group {
            Some(rg) => format!(
                "/subscriptions/{sub}/resourceGroups/{}/providers/Microsoft.ContainerRegistry/registries",
                segment("the resource group", rg)?
            ),
            None => {
                format!("/subscriptions/{sub}/providers/Microsoft.ContainerRegistry/registries")
            }
        };
        let operation = "listing the subscription's registries";
        let mut next = Some(self.endpoint.url(&path, REGISTRIES_API_VERSION)?);
        let mut found: Vec<RegistryResource> = Vec::new();
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > 100 {
                break;
            }
            let page: RegistryPage = self.call(Method::GET, url, None, operation).await?;
            found.extend(
                page.value
                    .into_iter()
                    .filter(|r| r.properties.login_server.eq_ignore_ascii_case(login_server)),
            );
            if let Some(link) = page.next_link.filter(|l| !l.is_empty()) {
                next = Some(Url::parse(&link).map_err(|e| Error::Protocol {
                    operation: operation.into(),
                    message: format!("nextLink: {e}"),
                })?);
            }
        }
        match found.len() {
            0 => Err(Error::RegistryNotFound {
                login_server: login_server.to_owned(),
                subscription: subscription.to_owned(),
                resource_group: resource_group.map(str::to_owned),
            }),
            1 => {
                let registry = found.remove(0);
                if registry
                    .sku
                    .as_ref()
                    .is_some_and(|s| s.name.eq_ignore_ascii_case("Classic"))
                {
                    return Err(Error::Usage(format!(
                        "{login_server} is a Classic registry: runs are only available for \
                         managed registries"
                    )));
                }
                resource_id(&registry.id)?;
                Ok(registry)
            }
            _ => Err(Error::RegistryAmbiguous {
                login_server: login_server.to_owned(),
                ids: found
                    .iter()
                    .map(|r| r.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    fn op_url(&self, registry_id: &str, tail: &str) -> Result<Url> {
        let id = resource_id(registry_id)?;
        self.endpoint.url(&format!("{id}{tail}"), TASKS_API_VERSION)
    }

    /// `POST …/listBuildSourceUploadUrl`: where to upload a context.
    pub async fn source_upload_url(&self, registry_id: &str) -> Result<SourceUploadDefinition> {
        let url = self.op_url(registry_id, "/listBuildSourceUploadUrl")?;
        self.call(Method::POST, url, None, "asking for an upload URL")
            .await
    }

    /// `POST …/scheduleRun`: the `Run` of a 200 answer, or of the older 202
    /// long-running form (polled at its `Location`, or `Azure-AsyncOperation`).
    pub async fn schedule_run(&self, registry_id: &str, request: &RunRequest) -> Result<Run> {
        let operation = "scheduling the run";
        let url = self.op_url(registry_id, "/scheduleRun")?;
        let body = serde_json::to_value(request).map_err(|e| Error::Protocol {
            operation: operation.into(),
            message: e.to_string(),
        })?;
        let response = self.send(Method::POST, url, Some(&body), operation).await?;
        match response.status() {
            StatusCode::OK | StatusCode::CREATED => read_json(operation, response).await,
            StatusCode::ACCEPTED => self.follow_lro(response, operation).await,
            _ => Err(api_error(operation, response).await),
        }
    }

    /// Polls a 202 answer until it gives the `Run`.
    async fn follow_lro(&self, first: reqwest::Response, operation: &str) -> Result<Run> {
        let header = |name: &str| {
            first
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let location = header("location");
        let async_op = header("azure-asyncoperation");
        let mut wait = retry_after(first.headers()).unwrap_or(self.lro_interval);
        let parse = |text: &str| {
            Url::parse(text).map_err(|e| Error::Protocol {
                operation: operation.into(),
                message: format!("the long-running operation's URL: {e}"),
            })
        };
        if let Some(op) = async_op.as_deref() {
            let op = parse(op)?;
            loop {
                tokio::time::sleep(wait).await;
                let response = self.send(Method::GET, op.clone(), None, operation).await?;
                if !response.status().is_success() {
                    return Err(api_error(operation, response).await);
                }
                wait = retry_after(response.headers()).unwrap_or(self.lro_interval);
                let status: OperationStatus = read_json(operation, response).await?;
                match status.status.to_ascii_lowercase().as_str() {
                    "succeeded" => break,
                    "failed" | "canceled" => {
                        return Err(Error::Api {
                            operation: operation.into(),
                            status: 200,
                            code: status.error.code,
                            message: status.error.message,
                        });
                    }
                    _ => {}
                }
            }
            if location.is_none() {
                return Err(Error::Protocol {
                    operation: operation.into(),
                    message: "the operation succeeded but named no Location to read the run from"
                        .into(),
                });
            }
        }
        let Some(location) = location else {
            return Err(Error::Protocol {
                operation: operation.into(),
                message: "202 Accepted without Location or Azure-AsyncOperation".into(),
            });
        };
        let location = parse(&location)?;
        for _ in 0..10_000 {
            let response = self
                .send(Method::GET, location.clone(), None, operation)
                .await?;
            match response.status() {
                StatusCode::ACCEPTED => {
                    wait = retry_after(response.headers()).unwrap_or(self.lro_interval);
                    tokio::time::sleep(wait).await;
                }
                s if s.is_success() => return read_json(operation, response).await,
                _ => return Err(api_error(operation, response).await),
            }
        }
        Err(Error::Protocol {
            operation: operation.into(),
            message: "the long-running operation never finished".into(),
        })
    }

    /// `GET …/runs/{runId}`.
    pub async fn get_run(&self, registry_id: &str, run_id: &str) -> Result<Run> {
        let url = self.op_url(
            registry_id,
            &format!("/runs/{}", segment("the run id", run_id)?),
        )?;
        self.call(Method::GET, url, None, "reading the run").await
    }

    /// `POST …/runs/{runId}/cancel`.
    pub async fn cancel_run(&self, registry_id: &str, run_id: &str) -> Result<()> {
        let operation = "cancelling the run";
        let url = self.op_url(
            registry_id,
            &format!("/runs/{}/cancel", segment("the run id", run_id)?),
        )?;
        let response = self.send(Method::POST, url, None, operation).await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(api_error(operation, response).await)
        }
    }

    /// `POST …/runs/{runId}/listLogSasUrl`.
    pub async fn log_link(&self, registry_id: &str, run_id: &str) -> Result<RunGetLogResult> {
        let url = self.op_url(
            registry_id,
            &format!("/runs/{}/listLogSasUrl", segment("the run id", run_id)?),
        )?;
        self.call(Method::POST, url, None, "asking for the run's log")
            .await
    }
}

/// A registry resource id, checked to be a path of ARM's shape.
fn resource_id(id: &str) -> Result<&str> {
    let parts: Vec<&str> = id.split('/').collect();
    let ok = id.starts_with("/subscriptions/")
        && parts.len() == 9
        && parts[3].eq_ignore_ascii_case("resourceGroups")
        && parts[5].eq_ignore_ascii_case("providers")
        && parts[6].eq_ignore_ascii_case("Microsoft.ContainerRegistry")
        && parts[7].eq_ignore_ascii_case("registries")
        && parts
            .iter()
            .skip(1)
            .all(|p| segment("a resource id segment", p).is_ok());
    if ok {
        Ok(id)
    } else {
        Err(Error::Protocol {
            operation: "reading the registry's resource id".into(),
            message: format!("{id:?} is not a registry resource id"),
        })
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.min(60)))
}

async fn read_json<T: DeserializeOwned>(operation: &str, response: reqwest::Response) -> Result<T> {
    let bytes = response
        .bytes()
        .await
        .map_err(|e| http_error(operation, &e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Protocol {
        operation: operation.to_owned(),
        message: e.to_string(),
    })
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistryPage {
    #[serde(default)]
    value: Vec<RegistryResource>,
    #[serde(default)]
    next_link: Option<String>,
}

#[derive(serde::Deserialize, Default)]
struct OperationStatus {
    #[serde(default)]
    status: String,
    #[serde(default)]
    error: crate::model::ErrorDetail,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_ids_must_be_registry_paths() {
        let good = "/subscriptions/s-1/resourceGroups/rg_1/providers/Microsoft.ContainerRegistry/registries/myreg";
        assert!(resource_id(good).is_ok());
        assert!(resource_id("/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/a/../b").is_err());
        assert!(resource_id("https://evil/x").is_err());
        assert!(
            resource_id("/subscriptions/s/resourceGroups/rg/providers/Other/registries/x").is_err()
        );
        assert!(segment("the run id", "cb1").is_ok());
        assert!(segment("the run id", "cb1/../x").is_err());
    }
}
