//! Pulling images with the registry's credentials, and progress output that does not
//! flood the log.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::CreateImageOptions;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use wharf_engine::{Output, Stream};

use wharf_registry::reference::{DOCKER_HUB, ImageRef, registry_host};

use crate::error::{Error, describe};
use crate::{Credential, CredentialLookup};

/// The key the engine looks up Docker Hub credentials under (X-Registry-Config), and
/// the server address it expects in Docker Hub's X-Registry-Auth.
pub(crate) const DOCKER_HUB_INDEX: &str = "https://index.docker.io/v1/";

/// Turns the engine's progress messages (pull, push, base images of a build) into lines:
/// one per layer status change, progress-bar updates dropped.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    last: HashMap<String, String>,
    /// The last line without a layer id (repeats are dropped).
    last_plain: Option<String>,
}

impl Progress {
    /// The line to print for a message, if any.
    pub(crate) fn line(&mut self, id: Option<&str>, status: Option<&str>) -> Option<String> {
        let status = status?.trim();
        if status.is_empty() {
            return None;
        }
        match id.filter(|i| !i.is_empty()) {
            Some(id) => {
                if self.last.get(id).is_some_and(|s| s == status) {
                    return None;
                }
                self.last.insert(id.to_string(), status.to_string());
                Some(format!("{id}: {status}"))
            }
            None => {
                if self.last_plain.as_deref() == Some(status) {
                    return None;
                }
                self.last_plain = Some(status.to_string());
                Some(status.to_string())
            }
        }
    }
}

/// The repository of `image` as the user wrote it (`localhost:5000/a/b`, `busybox`),
/// without the tag and digest that `reference` (parsed from `image`) found: the name
/// the engine is given, which normalizes it itself.
pub(crate) fn engine_name<'a>(image: &'a str, reference: &ImageRef) -> &'a str {
    let mut name = image;
    if let Some(digest) = &reference.digest {
        name = name
            .strip_suffix(digest.as_str())
            .and_then(|n| n.strip_suffix('@'))
            .unwrap_or(name);
    }
    // A tag the parser supplied (`latest`) was not written, so it is not a suffix.
    if let Some(tag) = &reference.tag {
        name = name
            .strip_suffix(tag.as_str())
            .and_then(|n| n.strip_suffix(':'))
            .unwrap_or(name);
    }
    name
}

/// The key of a registry host in the engine's credential maps (X-Registry-Config) and
/// its `serveraddress`: Docker Hub's index address, else the host.
pub(crate) fn engine_server_address(host: &str) -> String {
    if host == DOCKER_HUB {
        DOCKER_HUB_INDEX.to_string()
    } else {
        host.to_string()
    }
}

/// Credentials in the engine's form.
pub(crate) fn engine_credentials(credential: Credential, host: &str) -> DockerCredentials {
    let serveraddress = Some(engine_server_address(host));
    match credential {
        Credential::Basic { username, password } => DockerCredentials {
            username: Some(username),
            password: Some(password),
            serveraddress,
            ..Default::default()
        },
        Credential::IdentityToken(token) => DockerCredentials {
            identitytoken: Some(token),
            serveraddress,
            ..Default::default()
        },
    }
}

/// The credentials for the registry of `image`, if the lookup has some.
pub(crate) fn credentials_for(lookup: &CredentialLookup, image: &str) -> Option<DockerCredentials> {
    let host = registry_host(image);
    lookup(&host).map(|c| engine_credentials(c, &host))
}

/// Whether the engine has `image`.
pub(crate) async fn is_present(docker: &Docker, image: &str) -> bool {
    docker.inspect_image(image).await.is_ok()
}

/// Why one attempt of a pull or a push ended without success.
pub(crate) enum Failure {
    /// `cancel` fired.
    Stopped,
    /// The attempt failed, for this reason.
    Failed(String),
}

/// Runs `attempt` up to `attempts` times (at least once) until it succeeds, pausing
/// `pause(n)` after failed attempt `n` (from 1) when another follows. `failed(n,
/// message, retrying)` hears of every failure. Returns [`Failure::Stopped`] as soon as
/// `cancel` fires during an attempt or a pause, else the last failure.
pub(crate) async fn with_retries<T, F, Fut>(
    attempts: u64,
    pause: impl Fn(u64) -> Duration,
    cancel: &CancellationToken,
    mut attempt: F,
    mut failed: impl FnMut(u64, &str, bool),
) -> Result<T, Failure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let attempts = attempts.max(1);
    let mut n = 0;
    loop {
        n += 1;
        let message = match attempt().await {
            Ok(value) => return Ok(value),
            Err(Failure::Stopped) => return Err(Failure::Stopped),
            Err(Failure::Failed(message)) => message,
        };
        let retrying = n < attempts && !cancel.is_cancelled();
        failed(n, &message, retrying);
        if !retrying {
            return Err(Failure::Failed(message));
        }
        tokio::select! {
            () = tokio::time::sleep(pause(n)) => {}
            () = cancel.cancelled() => return Err(Failure::Stopped),
        }
    }
}

/// Pulls `image`, with `retries` extra attempts `delay` apart, writing progress to
/// `output`. Returns early (with an error) when `cancel` fires.
pub(crate) async fn pull(
    docker: &Docker,
    image: &str,
    credentials: &CredentialLookup,
    retries: u64,
    delay: Duration,
    output: &Output,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    // An invalid reference fails every attempt (the engine refuses it too).
    let reference = ImageRef::parse(image).map_err(|e| Error::msg(format!("cannot pull: {e}")))?;
    let result = with_retries(
        retries.saturating_add(1),
        |_| delay,
        cancel,
        || pull_once(docker, image, &reference, credentials, output, cancel),
        |_, message, retrying| {
            if retrying {
                output.line(
                    Stream::Stderr,
                    &format!("{message}; retrying in {}s", delay.as_secs()),
                );
            }
        },
    )
    .await;
    match result {
        Ok(()) => Ok(()),
        Err(Failure::Stopped) => Err(Error::msg(format!("pulling {image} was stopped"))),
        Err(Failure::Failed(message)) => Err(Error::msg(message)),
    }
}

async fn pull_once(
    docker: &Docker,
    image: &str,
    reference: &ImageRef,
    credentials: &CredentialLookup,
    output: &Output,
    cancel: &CancellationToken,
) -> Result<(), Failure> {
    // Without a tag the engine would pull every tag; like `docker pull`, the parsed
    // reference has `latest` when neither tag nor digest was written.
    let options = CreateImageOptions {
        from_image: Some(engine_name(image, reference).to_string()),
        tag: Some(reference.manifest_reference().to_string()),
        ..Default::default()
    };
    let credentials = credentials_for(credentials, image);
    tracing::debug!(
        image,
        with_credentials = credentials.is_some(),
        "pulling an image"
    );
    let mut stream = docker.create_image(Some(options), None, credentials);
    let mut progress = Progress::default();
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            () = cancel.cancelled() => return Err(Failure::Stopped),
        };
        let Some(item) = item else {
            return Ok(());
        };
        let info = item.map_err(|e| {
            Failure::Failed(format!(
                "image {image} is not present locally and cannot be pulled: {}",
                describe(&e)
            ))
        })?;
        if let Some(line) = progress.line(info.id.as_deref(), info.status.as_deref()) {
            output.line(Stream::Stdout, &line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_prints_each_status_change_once() {
        let mut p = Progress::default();
        assert_eq!(
            p.line(Some("abc"), Some("Pushing")).as_deref(),
            Some("abc: Pushing")
        );
        assert_eq!(p.line(Some("abc"), Some("Pushing")), None);
        assert_eq!(
            p.line(Some("abc"), Some("Pushed")).as_deref(),
            Some("abc: Pushed")
        );
        assert_eq!(p.line(None, Some("done")).as_deref(), Some("done"));
        assert_eq!(p.line(None, Some("done")), None);
        assert_eq!(p.line(None, Some("  ")), None);
        assert_eq!(p.line(Some("x"), None), None);
    }

    #[test]
    fn docker_hub_credentials_use_the_index_address() {
        let c = engine_credentials(
            Credential::Basic {
                username: "u".into(),
                password: "p".into(),
            },
            DOCKER_HUB,
        );
        assert_eq!(c.serveraddress.as_deref(), Some(DOCKER_HUB_INDEX));
        let c = engine_credentials(Credential::IdentityToken("t".into()), "r.azurecr.io");
        assert_eq!(c.identitytoken.as_deref(), Some("t"));
        assert_eq!(c.serveraddress.as_deref(), Some("r.azurecr.io"));
    }

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parsed(image: &str) -> ImageRef {
        ImageRef::parse(image).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_engine_gets_the_repository_as_written() {
        let image = "127.0.0.1:5000/a/b:1.0";
        let r = parsed(image);
        assert_eq!(engine_name(image, &r), "127.0.0.1:5000/a/b");
        assert_eq!(r.manifest_reference(), "1.0");

        // A port is not a tag; no tag means `latest`.
        let image = "localhost:5000/x";
        let r = parsed(image);
        assert_eq!(engine_name(image, &r), "localhost:5000/x");
        assert_eq!(r.manifest_reference(), "latest");

        // Docker Hub names are not normalized for the engine.
        for image in ["busybox", "busybox:1", "library/busybox:1", "x/latest"] {
            let r = parsed(image);
            let name = image.strip_suffix(":1").unwrap_or(image);
            assert_eq!(engine_name(image, &r), name, "{image}");
        }

        let image = format!("busybox@{DIGEST}");
        let r = parsed(&image);
        assert_eq!(engine_name(&image, &r), "busybox");
        assert_eq!(r.manifest_reference(), DIGEST);

        // A digest wins over a tag when pulling.
        let image = format!("reg.io/x:v1@{DIGEST}");
        let r = parsed(&image);
        assert_eq!(engine_name(&image, &r), "reg.io/x");
        assert_eq!(r.manifest_reference(), DIGEST);
    }

    #[test]
    fn credentials_are_asked_for_the_registry_host() {
        use std::sync::{Arc, Mutex};

        let asked = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&asked);
        let lookup: CredentialLookup = Arc::new(move |host: &str| {
            seen.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(host.to_string());
            Some(Credential::IdentityToken(format!("token-for-{host}")))
        });
        let cases = [
            ("localhost:5000/x:1", "localhost:5000", "localhost:5000"),
            (
                "myreg.azurecr.io/a/b",
                "myreg.azurecr.io",
                "myreg.azurecr.io",
            ),
            ("busybox", DOCKER_HUB, DOCKER_HUB_INDEX),
            ("user/repo:2", DOCKER_HUB, DOCKER_HUB_INDEX),
            ("index.docker.io/library/x", DOCKER_HUB, DOCKER_HUB_INDEX),
            ("localhost/x", "localhost", "localhost"),
        ];
        for (image, host, address) in cases {
            let c = credentials_for(&lookup, image).unwrap_or_else(|| panic!("{image}"));
            assert_eq!(c.serveraddress.as_deref(), Some(address), "{image}");
            assert_eq!(
                c.identitytoken,
                Some(format!("token-for-{host}")),
                "{image}"
            );
        }
        let asked = asked.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let hosts: Vec<&str> = cases.iter().map(|(_, h, _)| *h).collect();
        assert_eq!(asked, hosts);

        let none: CredentialLookup = Arc::new(|_| None);
        assert!(credentials_for(&none, "busybox").is_none());
    }
}
