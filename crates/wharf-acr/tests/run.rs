//! The run lifecycle against the local stand-in (tests/support): registry
//! lookup by login server, context upload, scheduleRun (200 and 202), the
//! growing log blob, final statuses, cancel.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::json;
use support::{LOGIN_SERVER, REGISTRY_ID, SUBSCRIPTION, Script, StandIn, TOKEN};
use wharf_acr::logs::{LogEnd, LogOptions};
use wharf_acr::model::RunRequest;
use wharf_acr::pack::{PackOptions, pack_context};
use wharf_acr::request::{self, Common};
use wharf_acr::session::Session;
use wharf_acr::upload::UploadOptions;
use wharf_acr::{ArmClient, ArmEndpoint, Error, RunStatus, StaticToken};

async fn session(server: &StandIn, token: &str) -> wharf_acr::Result<Session> {
    let endpoint = ArmEndpoint::new(Some(&server.base))?;
    let mut arm = ArmClient::new(endpoint, Arc::new(StaticToken(token.into())))?;
    arm.lro_interval = Duration::from_millis(1);
    let mut s = Session::open(arm, SUBSCRIPTION, None, LOGIN_SERVER).await?;
    s.logs = LogOptions {
        chunk: 7,
        ..LogOptions::scaled(Duration::from_millis(1))
    };
    s.run_poll = Duration::from_millis(1);
    Ok(s)
}

fn common(values: Vec<wharf_acr::model::SetValue>) -> Common {
    Common {
        values,
        timeout: 3600,
        platform: request::platform(None).unwrap_or_else(|e| panic!("{e}")),
        agent_pool_name: None,
    }
}

async fn follow(s: &Session, run_id: &str) -> (Vec<String>, LogEnd) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let end = s
        .follow(run_id, &mut move |l: &str| {
            sink.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(l.to_owned())
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let got = lines.lock().unwrap_or_else(|e| e.into_inner()).clone();
    (got, end)
}

#[tokio::test]
async fn a_context_run_uploads_the_context_and_streams_the_log() {
    let server = StandIn::start(Script {
        log: vec![
            b"2026/12/02 Downloading source code...\r\nStep ID: hel".to_vec(),
            b"lo marked as successful (elapsed time in seconds: 1.2)\r".to_vec(),
            b"\nThe following dependencies were found:\r\n".to_vec(),
            b"no CRLF at the end".to_vec(),
        ],
        output_images: json!([{"registry": LOGIN_SERVER, "repository": "app", "tag": "cb1", "digest": "sha256:abc"}]),
        ..Script::default()
    })
    .await;
    let s = session(&server, TOKEN)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Found on the second page of the subscription's registries, by login
    // server (its name, myreg, is not the DNS prefix).
    assert_eq!(s.registry_id, REGISTRY_ID);
    assert_eq!(s.registry_name, "myreg");

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("acb.yaml"),
        "steps:\n  - cmd: busybox echo hi\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir(dir.path().join(".git")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join(".git/HEAD"), "ref").unwrap_or_else(|e| panic!("{e}"));
    let packed =
        pack_context(dir.path(), &PackOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let source = s.upload(&packed).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(server.uploads().get(&source), Some(&packed.archive));

    let mut values =
        request::set_values(&["tag=v1".into()], false, "--set").unwrap_or_else(|e| panic!("{e}"));
    values.extend(
        request::set_values(&["pw=hunter2".into()], true, "--set-secret")
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let req = RunRequest::FileTaskRunRequest(request::file_task_run(
        "acb.yaml",
        None,
        &source,
        common(values),
    ));
    let run = s.schedule(&req).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.run_id(), Some("cb1"));

    let (lines, end) = follow(&s, "cb1").await;
    assert_eq!(
        lines,
        [
            "2026/12/02 Downloading source code...",
            "Step ID: hello marked as successful (elapsed time in seconds: 1.2)",
            "The following dependencies were found:",
            "no CRLF at the end",
        ]
    );
    assert_eq!(end, LogEnd::Complete("Succeeded".into()));
    let done = s
        .wait("cb1", &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.status(), RunStatus::Succeeded);
    assert_eq!(done.status().exit_code(), 0);
    assert_eq!(
        done.properties.output_images[0].to_string(),
        "my-reg.azurecr.io/app:cb1@sha256:abc"
    );

    let body = &server.scheduled()[0];
    assert_eq!(body["type"], "FileTaskRunRequest");
    assert_eq!(body["taskFilePath"], "acb.yaml");
    assert_eq!(body["sourceLocation"], source.as_str());
    assert_eq!(
        body["platform"],
        json!({"os": "Linux", "architecture": "amd64"})
    );
    assert_eq!(
        body["values"],
        json!([
            {"name": "tag", "value": "v1", "isSecret": false},
            {"name": "pw", "value": "hunter2", "isSecret": true}
        ])
    );

    for seen in server.seen() {
        let arm = !seen.path.starts_with("/blob/") && !seen.path.starts_with("/logs/");
        if arm {
            // Every ARM call: the token and the API version; POSTs say their length.
            assert_eq!(
                seen.header("authorization"),
                Some(format!("Bearer {TOKEN}").as_str()),
                "{}",
                seen.path
            );
            assert!(seen.query.contains("api-version="), "{}", seen.path);
            if seen.method == "POST" {
                assert!(seen.header("content-length").is_some(), "{}", seen.path);
            }
        } else {
            // SAS URLs get no token.
            assert_eq!(seen.header("authorization"), None, "{}", seen.path);
        }
    }
    // The log was read in ranged GETs, each at most 7 bytes.
    let gets: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|r| r.path.starts_with("/logs/") && r.method == "GET")
        .collect();
    assert!(gets.len() > 10);
    assert!(
        gets.iter()
            .all(|g| g.header("x-ms-range").is_some() && g.header("range").is_some())
    );
}

#[tokio::test]
async fn an_encoded_cmd_run_answered_the_old_202_way() {
    let server = StandIn::start(Script {
        lro: true,
        ..Script::default()
    })
    .await;
    let s = session(&server, TOKEN)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let task = request::cmd_task("busybox echo hello", None);
    let req = RunRequest::EncodedTaskRunRequest(request::encoded_task_run(
        &task,
        Some("x: 1\n"),
        common(vec![]),
    ));
    let run = s.schedule(&req).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.run_id(), Some("cb1"));
    let body = &server.scheduled()[0];
    assert_eq!(body["type"], "EncodedTaskRunRequest");
    assert!(body.get("sourceLocation").is_none());
    let decode = |v: &serde_json::Value| {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
        String::from_utf8(bytes).unwrap_or_else(|e| panic!("{e}"))
    };
    assert_eq!(
        decode(&body["encodedTaskContent"]),
        "version: v1.1.0\nsteps: \n  - cmd: \"busybox echo hello\"\n    disableWorkingDirectoryOverride: true\n"
    );
    assert_eq!(decode(&body["encodedValuesContent"]), "x: 1\n");
    // The operation was polled at its Location until it gave the run.
    let polls = server
        .seen()
        .iter()
        .filter(|r| r.path.ends_with("/operationResults/op-1"))
        .count();
    assert_eq!(polls, 2);
}

#[tokio::test]
async fn a_failed_run_ends_with_its_status_and_exit_code_1() {
    let server = StandIn::start(Script {
        log: vec![b"run.sh: exit status 3\r\n".to_vec()],
        status: "Failed".into(),
        ..Script::default()
    })
    .await;
    let s = session(&server, TOKEN)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let req = RunRequest::EncodedTaskRunRequest(request::encoded_task_run(
        "steps:\n  - cmd: x\n",
        None,
        common(vec![]),
    ));
    s.schedule(&req).await.unwrap_or_else(|e| panic!("{e}"));
    let (lines, end) = follow(&s, "cb1").await;
    assert_eq!(lines, ["run.sh: exit status 3"]);
    assert_eq!(end, LogEnd::Complete("Failed".into()));
    let done = s
        .wait("cb1", &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.status(), RunStatus::Failed);
    assert_eq!(done.status().exit_code(), 1);
    for status in ["Error", "Timeout", "Canceled"] {
        assert_eq!(RunStatus::parse(status).exit_code(), 1, "{status}");
        assert!(RunStatus::parse(status).is_terminal());
    }
    assert!(!RunStatus::parse("Provisioning").is_terminal());
}

#[tokio::test]
async fn a_cancelled_run_stops_the_log_and_ends_canceled() {
    let server = StandIn::start(Script {
        log: vec![b"step 1\r\n".to_vec(), b"step 2\r\n".to_vec()],
        hang: true,
        ..Script::default()
    })
    .await;
    let s = Arc::new(
        session(&server, TOKEN)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let req = RunRequest::EncodedTaskRunRequest(request::encoded_task_run(
        "steps:\n  - cmd: x\n",
        None,
        common(vec![]),
    ));
    s.schedule(&req).await.unwrap_or_else(|e| panic!("{e}"));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let follower = {
        let s = Arc::clone(&s);
        tokio::spawn(async move {
            s.follow("cb1", &mut move |l: &str| {
                let _ = tx.send(l.to_owned());
            })
            .await
        })
    };
    assert_eq!(rx.recv().await.as_deref(), Some("step 1"));
    assert_eq!(rx.recv().await.as_deref(), Some("step 2"));
    s.cancel("cb1").await.unwrap_or_else(|e| panic!("{e}"));
    let end = follower
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(end, LogEnd::Complete("Canceled".into()));
    assert!(server.cancelled());
    let done = s
        .wait("cb1", &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.status(), RunStatus::Canceled);
}

#[tokio::test]
async fn large_contexts_go_up_in_blocks() {
    let server = StandIn::start(Script::default()).await;
    let mut s = session(&server, TOKEN)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    s.upload = UploadOptions {
        single_put_max: 100,
        block_size: 64,
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let noise: String = (0..4000)
        .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
        .collect();
    std::fs::write(dir.path().join("big"), noise).unwrap_or_else(|e| panic!("{e}"));
    let packed =
        pack_context(dir.path(), &PackOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(packed.archive.len() > 100);
    let source = s.upload(&packed).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(server.uploads().get(&source), Some(&packed.archive));
    let blocks = server
        .seen()
        .iter()
        .filter(|r| r.query.contains("comp=block&"))
        .count();
    assert_eq!(blocks, packed.archive.len().div_ceil(64));
}

#[tokio::test]
async fn lookups_and_refusals_are_clear_errors() {
    let server = StandIn::start(Script::default()).await;
    // A wrong token: ARM's error code and message, no token in the text.
    let err = session(&server, "wrong-token").await.expect_err("401");
    let text = err.to_string();
    assert!(
        text.contains("401") && text.contains("AuthenticationFailed"),
        "{text}"
    );
    assert!(!text.contains("wrong-token"));

    let endpoint = ArmEndpoint::new(Some(&server.base)).unwrap_or_else(|e| panic!("{e}"));
    let arm = ArmClient::new(endpoint, Arc::new(StaticToken(TOKEN.into())))
        .unwrap_or_else(|e| panic!("{e}"));
    let err = arm
        .find_registry(SUBSCRIPTION, None, "nope.azurecr.io")
        .await
        .expect_err("missing");
    assert!(matches!(err, Error::RegistryNotFound { .. }), "{err}");
    assert!(err.to_string().contains("nope.azurecr.io"));
    // --resource-group lists only that group.
    let found = arm
        .find_registry(SUBSCRIPTION, Some("rg-1"), "MY-REG.azurecr.io")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found.id, REGISTRY_ID);
    let lists: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|r| {
            r.path
                .contains("/resourceGroups/rg-1/providers/Microsoft.ContainerRegistry/registries")
                && !r.path.contains("myreg")
        })
        .collect();
    assert_eq!(lists.len(), 1);
    let err = arm
        .find_registry("../x", None, LOGIN_SERVER)
        .await
        .expect_err("bad sub");
    assert!(matches!(err, Error::Usage(_)));
}

#[tokio::test]
async fn a_quick_build_sends_a_docker_build_request_with_its_dockerfile() {
    let server = StandIn::start(Script {
        log: vec![b"Step 1/2 : FROM scratch\r\nSuccessfully tagged my-reg.azurecr.io/app:v1\r\n".to_vec()],
        output_images: json!([{"registry": LOGIN_SERVER, "repository": "app", "tag": "v1", "digest": "sha256:feed"}]),
        ..Script::default()
    })
    .await;
    let s = session(&server, TOKEN)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir(dir.path().join("docker")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("docker/Dockerfile.prod"),
        "FROM scratch\nCOPY app.txt /\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("app.txt"), "app").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join(".dockerignore"), "docker\n").unwrap_or_else(|e| panic!("{e}"));
    let (options, dockerfile) =
        wharf_acr::pack::quick_build_source(dir.path(), Some("docker/Dockerfile.prod"))
            .unwrap_or_else(|e| panic!("{e}"));
    let packed = pack_context(dir.path(), &options).unwrap_or_else(|e| panic!("{e}"));
    // The dockerignored Dockerfile still reaches ACR, under its <uuid>_ name.
    assert!(
        !packed.entries.iter().any(|e| e.starts_with("docker")),
        "{:?}",
        packed.entries
    );
    assert_eq!(packed.entries.last(), Some(&dockerfile));
    assert!(dockerfile.ends_with("_Dockerfile.prod") && dockerfile.len() == 32 + 1 + 15);
    let source = s.upload(&packed).await.unwrap_or_else(|e| panic!("{e}"));
    let build = request::BuildOptions {
        images: vec!["app:v1".into()],
        dockerfile: Some(dockerfile.clone()),
        secret_build_args: vec!["TOKEN=s3cr3t".into()],
        ..request::BuildOptions::default()
    };
    let req = RunRequest::DockerBuildRequest(
        request::docker_build(&build, &source).unwrap_or_else(|e| panic!("{e}")),
    );
    assert_eq!(req.secret_values(), ["s3cr3t"]);
    s.schedule(&req).await.unwrap_or_else(|e| panic!("{e}"));
    let (lines, _) = follow(&s, "cb1").await;
    assert_eq!(lines[1], "Successfully tagged my-reg.azurecr.io/app:v1");
    let done = s
        .wait("cb1", &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        done.properties.output_images[0].to_string(),
        "my-reg.azurecr.io/app:v1@sha256:feed"
    );
    let body = &server.scheduled()[0];
    assert_eq!(body["type"], "DockerBuildRequest");
    assert_eq!(body["dockerFilePath"], dockerfile.as_str());
    assert_eq!(body["imageNames"], json!(["app:v1"]));
    assert_eq!(body["isPushEnabled"], true);
    assert_eq!(body["sourceLocation"], source.as_str());
    assert_eq!(
        body["arguments"],
        json!([{"name": "TOKEN", "value": "s3cr3t", "isSecret": true}])
    );
}

/// The REST spec's own examples (RegistriesScheduleRun_EncodedTaskRun.json,
/// RunsGet.json) read into the models and written back as ARM expects.
#[test]
fn the_rest_spec_examples_round_trip() {
    let request = json!({"type":"EncodedTaskRunRequest",
        "values":[{"name":"mytestargument","value":"mytestvalue","isSecret":false},
                  {"name":"mysecrettestargument","value":"mysecrettestvalue","isSecret":true}],
        "platform":{"os":"Linux"}, "agentConfiguration":{"cpu":2},
        "encodedTaskContent":"c3RlcHM6Cm", "encodedValuesContent":"ZW52aXJvbm1lbnQ6IHByb2QKdmVyc2lvbjogMQ=="});
    let parsed: RunRequest =
        serde_json::from_value(request.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed.type_name(), "EncodedTaskRunRequest");
    assert_eq!(parsed.secret_values(), ["mysecrettestvalue"]);
    let mut back = serde_json::to_value(&parsed).unwrap_or_else(|e| panic!("{e}"));
    // isArchiveEnabled is written with its default.
    assert_eq!(back["isArchiveEnabled"], false);
    back.as_object_mut().map(|o| o.remove("isArchiveEnabled"));
    assert_eq!(back, request);
    assert!(!format!("{parsed:?}").contains("mysecrettestvalue"));

    let file = json!({"type":"FileTaskRunRequest","sourceLocation":"https://myaccount.blob.core.windows.net/aci-pstcn2/source.zip?sv=x",
        "taskFilePath":"acb.yaml","valuesFilePath":"prod-values.yaml",
        "values":[{"name":"mytestargument","value":"mytestvalue","isSecret":false}],
        "platform":{"os":"Linux"},"agentConfiguration":{"cpu":2}});
    let parsed: RunRequest = serde_json::from_value(file).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(parsed, RunRequest::FileTaskRunRequest(ref f) if f.values_file_path.as_deref() == Some("prod-values.yaml"))
    );

    let run: wharf_acr::Run = serde_json::from_value(json!({
        "properties": {"runId": "0accec26-d6de-4757-8e74-d080f38eaaab", "status": "Succeeded",
            "lastUpdatedTime": "2018-01-25T05:13:51.617Z", "runType": "AutoBuild",
            "createTime": "2018-01-25T05:13:51.617Z", "startTime": "2018-01-25T05:13:51.617Z",
            "finishTime": "2018-01-25T05:13:51.617Z",
            "outputImages": [{"registry": "myregistry.azurecr.io", "repository": "myimage", "tag": "latest",
                              "digest": "sha256:86f1e7ab6d8e33e7d9e1a8e1d9eb4f2c9d8f5e5e4e5f5e1e2c3d4e5f6a7b8c9d"}],
            "task": "myTask", "provisioningState": "Succeeded", "isArchiveEnabled": true,
            "logArtifact": {"registry": "myregistry.azurecr.io", "repository": "acr/tasks", "tag": "mytask-run-log"}},
        "id": "/subscriptions/4385cf00-2d3a-425a-832f-f4285b1c9dce/resourceGroups/myResourceGroup/providers/Microsoft.ContainerRegistry/registries/myRegistry/runs/0accec26",
        "name": "0accec26-d6de-4757-8e74-d080f38eaaab", "type": "Microsoft.ContainerRegistry/registries/runs"
    })).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.run_id(), Some("0accec26-d6de-4757-8e74-d080f38eaaab"));
    assert_eq!(run.status(), RunStatus::Succeeded);
    assert_eq!(
        run.properties.output_images[0].tag.as_deref(),
        Some("latest")
    );
    // An unknown status is kept, not an error.
    let odd: wharf_acr::Run =
        serde_json::from_value(json!({"properties": {"status": "Provisioning"}}))
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(odd.status(), RunStatus::Other("Provisioning".into()));
}

#[tokio::test]
async fn tokens_never_leave_the_arm_endpoint() {
    // A nextLink pointing at another origin is refused, and nothing is sent there.
    let elsewhere = StandIn::start(Script::default()).await;
    let server = StandIn::start(Script {
        next_link_base: Some(elsewhere.base.clone()),
        ..Script::default()
    })
    .await;
    let err = session(&server, TOKEN).await.expect_err("foreign nextLink");
    assert!(err.to_string().contains("no token is sent there"), "{err}");
    assert!(
        elsewhere.seen().is_empty(),
        "a request reached the other origin"
    );
}

#[tokio::test]
async fn a_log_kept_as_an_artifact_is_read_with_one_get() {
    let server = StandIn::start(Script {
        log: vec![b"line one\r\nline ".to_vec(), b"two\nlast\n".to_vec()],
        artifact_log: true,
        ..Script::default()
    })
    .await;
    let s = session(&server, TOKEN)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (lines, end) = follow(&s, "cb1").await;
    assert_eq!(lines, ["line one", "line two", "last"]);
    assert_eq!(end, LogEnd::Ended);
    assert!(!server.seen().iter().any(|r| r.path.starts_with("/logs/")));
}

#[tokio::test]
async fn following_gives_up_after_the_idle_timeout() {
    let server = StandIn::start(Script {
        log: vec![b"started\r\n".to_vec()],
        hang: true,
        ..Script::default()
    })
    .await;
    let mut s = session(&server, TOKEN)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    s.logs.idle_timeout = Duration::from_millis(30);
    let (lines, end) = follow(&s, "cb1").await;
    assert_eq!(lines, ["started"]);
    assert_eq!(end, LogEnd::GaveUp);
    assert!(
        !server.cancelled(),
        "giving up on the log does not cancel the run"
    );
}

#[tokio::test]
async fn the_stand_in_answers_411_to_a_post_without_length() {
    // What ARM does, so the Content-Length: 0 the client sends is checked for real.
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let server = StandIn::start(Script::default()).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let request = format!(
        "POST {REGISTRY_ID}/listBuildSourceUploadUrl?api-version=2025-03-01-preview HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    );
    tcp.write_all(request.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut answer = String::new();
    tcp.read_to_string(&mut answer)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(answer.starts_with("HTTP/1.1 411"), "{answer}");
}

#[tokio::test]
async fn throttling_and_busy_storage_are_ridden_out() {
    let server = StandIn::start(Script {
        log: vec![b"one\r\n".to_vec(), b"two\r\n".to_vec()],
        flaky: 3,
        ..Script::default()
    })
    .await;
    let s = session(&server, TOKEN)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (lines, end) = follow(&s, "cb1").await;
    assert_eq!(lines, ["one", "two"]);
    assert_eq!(end, LogEnd::Complete("Succeeded".into()));
    let done = s
        .wait("cb1", &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.status(), RunStatus::Succeeded);
    // More failures in a row than MAX_FAILURES is an error, not a hang.
    let server = StandIn::start(Script {
        flaky: 50,
        ..Script::default()
    })
    .await;
    let s = session(&server, TOKEN)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let err = s.wait("cb1", &mut |_| {}).await.expect_err("keeps failing");
    assert!(err.to_string().contains("429"), "{err}");
}
