//! Running `docker-credential-<name> get`.

use std::ffi::OsStr;
use std::io::Write as _;
use std::process::{Command, Stdio};

use serde::Deserialize;

use super::{Credential, CredentialError};

/// The user name a helper returns when the secret is an identity token.
const TOKEN_USERNAME: &str = "<token>";
/// How much of a failing helper's output goes into the error.
const MAX_MESSAGE: usize = 400;

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Asks helper `name` for the credential of `server`. `Ok(None)` when it has none.
pub(super) fn get(
    name: &str,
    server: &str,
    path: Option<&OsStr>,
) -> Result<Option<Credential>, CredentialError> {
    let program = format!("docker-credential-{name}");
    let mut command = Command::new(&program);
    command
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(path) = path {
        // A changed PATH is also the one the program is looked up in.
        command.env("PATH", path);
    }
    let spawn_error = |source| CredentialError::HelperSpawn {
        program: program.clone(),
        source,
    };
    let mut child = command.spawn().map_err(spawn_error)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper may exit without reading stdin; its answer decides, not this write.
        let _ = stdin.write_all(server.as_bytes());
    }
    let output = child.wait_with_output().map_err(spawn_error)?;
    if !output.status.success() {
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = format!("{} {}", stdout.trim(), stderr.trim());
        if message
            .to_ascii_lowercase()
            .contains("credentials not found")
        {
            return Ok(None);
        }
        return Err(CredentialError::HelperFailed {
            program,
            status: output.status.to_string(),
            message: truncate(message.trim()),
        });
    }
    // Never put a successful answer into an error: it holds the secret.
    let answer: HelperAnswer =
        serde_json::from_slice(&output.stdout).map_err(|_| CredentialError::HelperOutput {
            program: program.clone(),
        })?;
    if answer.username.is_empty() && answer.secret.is_empty() {
        return Ok(None);
    }
    if answer.username == TOKEN_USERNAME {
        return Ok(Some(Credential::IdentityToken(answer.secret)));
    }
    Ok(Some(Credential::Basic {
        username: answer.username,
        password: answer.secret,
    }))
}

fn truncate(message: &str) -> String {
    if message.len() <= MAX_MESSAGE {
        return message.to_string();
    }
    let mut end = MAX_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &message[..end])
}

/// Stores a credential with helper `name` (`docker-credential-<name> store`), as
/// `docker login` does: `{"ServerURL", "Username", "Secret"}` on stdin; an identity
/// token is stored with the user name `<token>`.
pub(super) fn store(
    name: &str,
    server: &str,
    credential: &Credential,
    path: Option<&OsStr>,
) -> Result<(), CredentialError> {
    let (username, secret) = match credential {
        Credential::Basic { username, password } => (username.as_str(), password.as_str()),
        Credential::IdentityToken(token) => (TOKEN_USERNAME, token.as_str()),
    };
    let input = serde_json::json!({
        "ServerURL": server,
        "Username": username,
        "Secret": secret,
    })
    .to_string();
    run(name, "store", &input, path).map(|_| ())
}

/// Erases the credential of `server` from helper `name`; "not found" is success.
pub(super) fn erase(name: &str, server: &str, path: Option<&OsStr>) -> Result<(), CredentialError> {
    match run(name, "erase", server, path) {
        Err(CredentialError::HelperFailed { message, .. })
            if message
                .to_ascii_lowercase()
                .contains("credentials not found") =>
        {
            Ok(())
        }
        other => other.map(|_| ()),
    }
}

/// Runs `docker-credential-<name> <action>` with `input` on stdin; its stdout on
/// success. The input holds the secret for `store`: it is never put in an error.
fn run(
    name: &str,
    action: &str,
    input: &str,
    path: Option<&OsStr>,
) -> Result<Vec<u8>, CredentialError> {
    let program = format!("docker-credential-{name}");
    let mut command = Command::new(&program);
    command
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(path) = path {
        command.env("PATH", path);
    }
    let spawn_error = |source| CredentialError::HelperSpawn {
        program: program.clone(),
        source,
    };
    let mut child = command.spawn().map_err(spawn_error)?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let output = child.wait_with_output().map_err(spawn_error)?;
    if !output.status.success() {
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(CredentialError::HelperFailed {
            program,
            status: output.status.to_string(),
            message: truncate(format!("{} {}", stdout.trim(), stderr.trim()).trim()),
        });
    }
    Ok(output.stdout)
}
