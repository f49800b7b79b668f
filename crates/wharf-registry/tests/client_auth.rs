//! Bearer token auth against the real distribution registry configured for token
//! auth, with a token server written for the test (tests/support/token.rs).

mod support;

use support::token::{SERVICE, TokenServer};
use support::{TestImage, basic, client, unique};
use wharf_e2e::Registry;
use wharf_registry::client::BlobOutcome;
use wharf_registry::{Credential, ImageRef, Keychain, Repository};

const USER: &str = "ci-bot";
const PASSWORD: &str = "s3cret+/=pass";

async fn setup() -> (TokenServer, Registry) {
    let tokens = TokenServer::start(&[(USER, PASSWORD)]).await;
    let registry = Registry::start_with_token(
        &tokens.realm(),
        SERVICE,
        support::token::ISSUER,
        &tokens.cert_path,
    );
    (tokens, registry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_fetched_with_basic_credentials_once_per_scope() {
    let (tokens, registry) = setup().await;
    let client = client(basic(&registry.host, USER, PASSWORD));
    let repo = Repository::new(registry.host.clone(), "team/app");
    let test = TestImage::oci("bearer", &[100_000, 2000, 30, 4]);
    let pushed = client.push_blobs(&repo, &test.blobs).await.expect("blobs");
    assert!(pushed.iter().all(|p| p.outcome == BlobOutcome::Uploaded));
    client
        .push_manifest(&repo, "v1", test.media_type, test.manifest.clone())
        .await
        .expect("manifest");
    let image = ImageRef::parse(&format!("{}/team/app:v1", registry.host)).expect("ref");
    let pulled = client.pull_manifest(&image).await.expect("pull");
    assert_eq!(pulled.bytes, test.manifest);

    let seen = tokens.seen();
    let push_scope: Vec<_> = seen
        .iter()
        .filter(|s| s.params_named("scope") == ["repository:team/app:pull,push"])
        .collect();
    let pull_scope: Vec<_> = seen
        .iter()
        .filter(|s| s.params_named("scope") == ["repository:team/app:pull"])
        .collect();
    // Five blobs and a manifest in parallel share one token; the pull needs another.
    assert_eq!(push_scope.len(), 1, "{seen:?}");
    assert_eq!(pull_scope.len(), 1, "{seen:?}");
    for s in &seen {
        assert_eq!(s.method, "GET");
        assert_eq!(s.path, "/token");
        assert_eq!(s.basic_user.as_deref(), Some(USER));
        assert_eq!(s.param("service"), Some(SERVICE));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_gets_a_refresh_token_which_later_pushes_use() {
    let (tokens, registry) = setup().await;
    let anonymous = client(Keychain::anonymous());
    let stored = anonymous
        .check_login(
            &registry.host,
            &Credential::Basic {
                username: USER.into(),
                password: PASSWORD.into(),
            },
        )
        .await
        .expect("login");
    let Credential::IdentityToken(_) = &stored else {
        panic!("the token server offers a refresh token: {stored:?}")
    };
    // What `wharf registry login` stores, in a docker config directory.
    let dir = tempfile::tempdir().expect("temp");
    let lookup = wharf_registry::credentials::CredentialLookup::new(dir.path().to_path_buf());
    lookup.store(&registry.host, &stored).expect("stored");
    tokens.clear();
    let client = client(Keychain::docker_config(dir.path().to_path_buf()));
    let repo = Repository::new(registry.host.clone(), "team/refresh");
    let test = TestImage::oci("refresh", &[10]);
    client.push_blobs(&repo, &test.blobs).await.expect("blobs");
    client
        .push_manifest(&repo, "1", test.media_type, test.manifest.clone())
        .await
        .expect("manifest");
    let seen = tokens.seen();
    assert!(!seen.is_empty());
    for s in &seen {
        assert_eq!(s.method, "POST", "{s:?}");
        assert_eq!(s.param("grant_type"), Some("refresh_token"));
        assert_eq!(s.param("refresh_token"), Some("<secret>"));
        assert!(
            s.basic_user.is_none(),
            "no password goes with a refresh token"
        );
    }

    // A wrong password is refused at login, naming the registry, never the password.
    let err = anonymous
        .check_login(
            &registry.host,
            &Credential::Basic {
                username: USER.into(),
                password: "wrong-password-xyz".into(),
            },
        )
        .await
        .expect_err("refused");
    let text = err.to_string();
    assert!(text.contains(&registry.host), "{text}");
    assert!(text.contains("refused"), "{text}");
    assert!(!text.contains("wrong-password-xyz"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_tokens_pull_public_repositories_and_cannot_push() {
    let (_tokens, registry) = setup().await;
    let owner = client(basic(&registry.host, USER, PASSWORD));
    let public = Repository::new(registry.host.clone(), "public/tool");
    let test = TestImage::oci("public", &[10]);
    owner.push_blobs(&public, &test.blobs).await.expect("blobs");
    owner
        .push_manifest(&public, "1", test.media_type, test.manifest.clone())
        .await
        .expect("manifest");

    let anonymous = client(Keychain::anonymous());
    let image = ImageRef::parse(&format!("{}/public/tool:1", registry.host)).expect("ref");
    let pulled = anonymous
        .pull_manifest(&image)
        .await
        .expect("anonymous pull");
    assert_eq!(pulled.bytes, test.manifest);

    let private = Repository::new(registry.host.clone(), format!("team/{}", unique()));
    let err = anonymous
        .push_blobs(&private, &test.blobs)
        .await
        .expect_err("anonymous push");
    let text = err.to_string();
    assert!(text.contains("authentication required"), "{text}");
    assert!(text.contains("no credentials are stored"), "{text}");
}
