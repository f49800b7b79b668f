//! Key Vault's "get secret" call: `GET <vault>/secrets/<name>[/<version>]?api-version=7.4`.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::ACCEPT;
use serde::Deserialize;

use crate::credential::error_chain;
use crate::vault_url::VaultSecretUrl;

/// Pause before the one retry.
const RETRY_DELAY: Duration = Duration::from_millis(500);

/// Longest Key Vault error message kept in an error.
const MAX_DETAIL: usize = 500;

/// A failed "get secret" call (after the retry, where one applies).
#[derive(Debug)]
pub(crate) enum FetchError {
    /// Key Vault answered with an error status.
    Status {
        /// The status.
        status: StatusCode,
        /// Key Vault's error code and message, or a note that there was none.
        detail: String,
    },
    /// The request could not be sent or the answer not read.
    Transport(String),
    /// 200 with a body that is not a secret bundle.
    InvalidResponse(String),
}

/// One attempt's failure, and whether it is worth a retry.
struct Attempt {
    error: FetchError,
    retry: bool,
}

#[derive(Deserialize)]
struct SecretBundle {
    value: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<ErrorInfo>,
}

#[derive(Deserialize)]
struct ErrorInfo {
    code: Option<String>,
    message: Option<String>,
    innererror: Option<Box<ErrorInfo>>,
}

/// Read one secret with a bearer token; retry once on 5xx and on
/// connection errors.
pub(crate) async fn get_secret(
    client: &reqwest::Client,
    url: &VaultSecretUrl,
    token: &str,
) -> Result<String, FetchError> {
    match get_once(client, url, token).await {
        Ok(value) => Ok(value),
        Err(Attempt { retry: true, .. }) => {
            tokio::time::sleep(RETRY_DELAY).await;
            get_once(client, url, token).await.map_err(|a| a.error)
        }
        Err(Attempt { error, .. }) => Err(error),
    }
}

async fn get_once(
    client: &reqwest::Client,
    url: &VaultSecretUrl,
    token: &str,
) -> Result<String, Attempt> {
    let transport = |e: reqwest::Error| Attempt {
        retry: e.is_connect() || e.is_timeout() || e.is_request() || e.is_body(),
        error: FetchError::Transport(error_chain(&e)),
    };
    let response = client
        .get(url.request.clone())
        .bearer_auth(token)
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(transport)?;
    let status = response.status();
    let body = response.bytes().await.map_err(transport)?;
    if status.is_success() {
        // The parse error is not shown: it may quote part of the body.
        let bundle: SecretBundle = serde_json::from_slice(&body).map_err(|_| Attempt {
            retry: false,
            error: FetchError::InvalidResponse(format!(
                "HTTP {status} with a body that is not a JSON secret bundle"
            )),
        })?;
        return bundle.value.ok_or_else(|| Attempt {
            retry: false,
            error: FetchError::InvalidResponse(
                "the secret bundle has no `value` (is it a certificate or a disabled secret?)"
                    .to_owned(),
            ),
        });
    }
    Err(Attempt {
        retry: status.is_server_error(),
        error: FetchError::Status {
            status,
            detail: error_detail(&body),
        },
    })
}

/// Key Vault's `{"error":{"code","message","innererror"}}` as
/// `Code (InnerCode): message`; a short excerpt when the body is not that.
pub(crate) fn error_detail(body: &[u8]) -> String {
    if let Ok(ErrorBody { error: Some(info) }) = serde_json::from_slice::<ErrorBody>(body) {
        let mut codes: Vec<&str> = Vec::new();
        let mut current = Some(&info);
        while let Some(i) = current {
            if let Some(code) = i.code.as_deref().filter(|c| !c.is_empty()) {
                codes.push(code);
            }
            current = i.innererror.as_deref();
        }
        let code = match codes.split_first() {
            Some((first, [])) => (*first).to_owned(),
            Some((first, rest)) => format!("{first} ({})", rest.join(", ")),
            None => String::new(),
        };
        let message = info.message.as_deref().map(one_line).unwrap_or_default();
        return match (code.is_empty(), message.is_empty()) {
            (true, true) => "no error details".to_owned(),
            (false, true) => code,
            (true, false) => message,
            (false, false) => format!("{code}: {message}"),
        };
    }
    let text = one_line(&String::from_utf8_lossy(body));
    if text.is_empty() {
        "no error details".to_owned()
    } else {
        text
    }
}

/// Collapse whitespace and cut to [`MAX_DETAIL`] characters.
fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match joined.char_indices().nth(MAX_DETAIL) {
        Some((cut, _)) => format!("{}…", &joined[..cut]),
        None => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_vault_error_json() {
        let body = br#"{"error":{"code":"Forbidden","message":"Caller is not authorized.\nVault: v;","innererror":{"code":"ForbiddenByRbac"}}}"#;
        assert_eq!(
            error_detail(body),
            "Forbidden (ForbiddenByRbac): Caller is not authorized. Vault: v;"
        );
        assert_eq!(
            error_detail(br#"{"error":{"code":"SecretNotFound"}}"#),
            "SecretNotFound"
        );
        assert_eq!(error_detail(br#"{"error":{}}"#), "no error details");
    }

    #[test]
    fn other_bodies() {
        assert_eq!(error_detail(b""), "no error details");
        assert_eq!(
            error_detail(b"<html>\n  Bad   gateway</html>"),
            "<html> Bad gateway</html>"
        );
        let long = "x".repeat(2000);
        let detail = error_detail(long.as_bytes());
        assert_eq!(detail.chars().count(), MAX_DETAIL + 1);
        assert!(detail.ends_with('…'));
    }
}
