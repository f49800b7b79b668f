//! Azure Container Registry sign-in on the wire: azure_identity's managed identity
//! (App Service protocol) against a stand-in for Azure AD, then ACR's
//! `/oauth2/exchange` and `/oauth2/token` against a stand-in for ACR's token
//! service, in front of the real distribution registry (token auth). Azure AD and
//! ACR cannot run here; the stand-in speaks their protocols (tests/support/token.rs).
//!
//! azure_identity reads the managed identity endpoint from the process environment,
//! and changing a running process's environment is `unsafe` (forbidden here), so
//! each test runs its scenario in a child process (this test binary again) with
//! that environment, then checks what the stand-in saw.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::token::{AcrRules, IDENTITY_HEADER, SERVICE, TokenServer};
use support::{TestImage, options};
use wharf_e2e::Registry;
use wharf_registry::client::{AzureOptions, AzureSignIn, Error};
use wharf_registry::credentials::{ACR_REFRESH_TOKEN_USER, CredentialLookup};
use wharf_registry::{Client, Credential, ImageRef, Keychain, Repository};

const REGISTRY_ENV: &str = "WHARF_ACR_TEST_REGISTRY";
const SCENARIO_ENV: &str = "WHARF_ACR_TEST_SCENARIO";
const DONE: &str = "acr child: scenario passed";

const ACR_RESOURCE: &str = "https://containerregistry.azure.net";
const ARM_RESOURCE: &str = "https://management.azure.com";

fn acr_client(registry: &str, keychain: Keychain) -> Client {
    let (mut options, _) = options(keychain, Duration::from_secs(3));
    options.azure = AzureOptions {
        sign_in: Arc::new(AzureSignIn::from_environment()),
        extra_hosts: vec![registry.to_string()],
    };
    Client::new(options).expect("client")
}

/// What the child does, by scenario.
async fn child(scenario: &str, registry: &str) {
    let client = acr_client(registry, Keychain::anonymous());
    let repo = Repository::new(registry, "acr/app");
    let test = TestImage::oci(scenario, &[4096, 10]);
    match scenario {
        "push-and-login" | "arm-fallback" => {
            client
                .push_blobs(&repo, &test.blobs)
                .await
                .expect("push with Azure AD");
            client
                .push_manifest(&repo, "v1", test.media_type, test.manifest.clone())
                .await
                .expect("manifest");
            let image = ImageRef::parse(&format!("{registry}/acr/app:v1")).expect("ref");
            assert_eq!(
                client.pull_manifest(&image).await.expect("pull").bytes,
                test.manifest
            );
            if scenario == "arm-fallback" {
                return;
            }
            // `wharf registry login REGISTRY` with no user: what az acr login stores.
            let stored = client.azure_login(registry).await.expect("azure login");
            let Credential::Basic { username, .. } = &stored else {
                panic!("{stored:?}")
            };
            assert_eq!(username, ACR_REFRESH_TOKEN_USER);
            let dir = tempfile::tempdir().expect("temp");
            CredentialLookup::new(dir.path().to_path_buf())
                .store(registry, &stored)
                .expect("stored");
            // A client that knows nothing of Azure uses the stored login, as docker would.
            let (plain, _) = options(
                Keychain::docker_config(dir.path().to_path_buf()),
                Duration::from_secs(3),
            );
            let plain = Client::new(plain).expect("client");
            let other = Repository::new(registry, "acr/stored");
            plain
                .push_blobs(&other, &test.blobs)
                .await
                .expect("push with the stored login");
        }
        "refused" => {
            let err = client
                .push_blobs(&repo, &test.blobs)
                .await
                .expect_err("the exchange refuses every token");
            let Error::Azure { .. } = &err else {
                panic!("{err:?}")
            };
            let text = err.to_string();
            println!("error: {text}");
            assert!(text.contains(registry), "{text}");
            assert!(text.contains("az login"), "{text}");
            assert!(text.contains(".default"), "{text}");
        }
        other => panic!("unknown scenario {other}"),
    }
}

async fn run_child(test: &str, scenario: &str, tokens: &TokenServer, registry: &Registry) {
    let mut command = tokio::process::Command::new(std::env::current_exe().expect("exe"));
    command.args([test, "--exact", "--nocapture", "--test-threads=1"]);
    for var in [
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_AUTHORITY_HOST",
        "IDENTITY_SERVER_THUMBPRINT",
        "IMDS_ENDPOINT",
        "MSI_ENDPOINT",
        "MSI_SECRET",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        command.env_remove(var);
    }
    command
        .env(REGISTRY_ENV, &registry.host)
        .env(SCENARIO_ENV, scenario)
        .env("IDENTITY_ENDPOINT", format!("{}/msi/token", tokens.base))
        .env("IDENTITY_HEADER", IDENTITY_HEADER)
        // No Azure CLI login to fall back on.
        .env("PATH", "/nonexistent")
        .kill_on_drop(true);
    let out = command.output().await.expect("child runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(DONE),
        "child failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    for secret in ["aad-signature", "acr-refresh-", "eyJ"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} shown:\n{stdout}\n{stderr}"
        );
    }
}

/// Runs as the child when the environment says so; `None` when this is the parent.
async fn as_child() -> Option<()> {
    let registry = std::env::var(REGISTRY_ENV).ok()?;
    let scenario = std::env::var(SCENARIO_ENV).unwrap_or_default();
    child(&scenario, &registry).await;
    println!("{DONE}");
    Some(())
}

async fn setup(accepted: &[&str]) -> (TokenServer, Registry) {
    let tokens = TokenServer::start(&[]).await;
    tokens.set_acr(AcrRules {
        accepted_resources: accepted.iter().map(|s| s.to_string()).collect(),
    });
    let registry = Registry::start_with_token(
        &tokens.acr_realm(),
        SERVICE,
        support::token::ISSUER,
        &tokens.cert_path,
    );
    (tokens, registry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_ad_exchange_then_tokens_per_scope_then_login_for_docker() {
    if as_child().await.is_some() {
        return;
    }
    let (tokens, registry) = setup(&[ACR_RESOURCE]).await;
    run_child(
        "azure_ad_exchange_then_tokens_per_scope_then_login_for_docker",
        "push-and-login",
        &tokens,
        &registry,
    )
    .await;
    let seen = tokens.seen();
    let msi: Vec<_> = seen.iter().filter(|s| s.path == "/msi/token").collect();
    assert!(!msi.is_empty(), "{seen:?}");
    assert!(
        msi.iter()
            .all(|s| s.param("resource") == Some(ACR_RESOURCE)),
        "{msi:?}"
    );
    let exchanges: Vec<_> = seen
        .iter()
        .filter(|s| s.path == "/oauth2/exchange")
        .collect();
    // One for the client (cached afterwards), one for the login.
    assert_eq!(exchanges.len(), 2, "{seen:?}");
    for e in &exchanges {
        assert_eq!(e.method, "POST");
        assert_eq!(e.param("grant_type"), Some("access_token"));
        assert_eq!(e.param("service"), Some(SERVICE));
        assert_eq!(e.param("tenant"), Some("tenant-0001"));
        assert_eq!(e.param("access_token"), Some("<secret>"));
    }
    let posts: Vec<_> = seen
        .iter()
        .filter(|s| s.path == "/oauth2/token" && s.method == "POST")
        .collect();
    assert!(
        posts
            .iter()
            .any(|s| s.param("scope") == Some("repository:acr/app:pull,push")),
        "{posts:?}"
    );
    assert!(
        posts
            .iter()
            .all(|s| s.param("grant_type") == Some("refresh_token"))
    );
    // The stored login works the way docker uses it: Basic with the null GUID.
    let basic: Vec<_> = seen
        .iter()
        .filter(|s| s.path == "/oauth2/token" && s.method == "GET")
        .collect();
    assert!(!basic.is_empty(), "{seen:?}");
    assert!(
        basic
            .iter()
            .all(|s| s.basic_user.as_deref() == Some(ACR_REFRESH_TOKEN_USER))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_arm_audience_is_tried_when_the_acr_one_is_refused() {
    if as_child().await.is_some() {
        return;
    }
    let (tokens, registry) = setup(&[ARM_RESOURCE]).await;
    run_child(
        "the_arm_audience_is_tried_when_the_acr_one_is_refused",
        "arm-fallback",
        &tokens,
        &registry,
    )
    .await;
    let resources: Vec<String> = tokens
        .seen()
        .iter()
        .filter(|s| s.path == "/msi/token")
        .filter_map(|s| s.param("resource").map(str::to_string))
        .collect();
    assert_eq!(resources, [ACR_RESOURCE, ARM_RESOURCE]);
    let exchanges = tokens
        .seen()
        .iter()
        .filter(|s| s.path == "/oauth2/exchange")
        .count();
    assert_eq!(exchanges, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_exchange_says_how_to_sign_in_without_showing_tokens() {
    if as_child().await.is_some() {
        return;
    }
    let (tokens, registry) = setup(&[]).await;
    run_child(
        "a_refused_exchange_says_how_to_sign_in_without_showing_tokens",
        "refused",
        &tokens,
        &registry,
    )
    .await;
}
