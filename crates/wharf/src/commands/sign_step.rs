//! The executor of `sign:` steps: signs each image with the step's key (a secret of
//! the task or a file in the context), through `wharf_trust::ops`. Key material is
//! only read here, and is added to the run's masker before anything is written.

use std::collections::HashMap;
use std::path::PathBuf;

use wharf_engine::{BoxFuture, ErrorKind, ExecError, Executor, Exit, Outcome, StepContext};
use wharf_registry::{Client, ImageRef};
use wharf_spec::{Action, KeySource, OutputValue, Outputs, SignCall, Step};
use wharf_trust::keys::SigningKey;
use wharf_trust::ops::{self, Format, SignRequest};

/// Runs `sign:` steps.
pub struct SignExecutor {
    client: Client,
    /// The task's secrets, by id.
    secrets: HashMap<String, String>,
    /// The context directory (files named by `key:`/`cert:` are inside it).
    context: PathBuf,
}

impl SignExecutor {
    /// An executor signing through `client`.
    pub fn new(client: Client, secrets: HashMap<String, String>, context: PathBuf) -> SignExecutor {
        SignExecutor {
            client,
            secrets,
            context,
        }
    }

    /// The text of `source`, and how to name it (never its content).
    fn material(&self, source: &KeySource, what: &str) -> Result<(String, String), ExecError> {
        match source {
            KeySource::Secret(id) => self
                .secrets
                .get(id)
                .map(|v| (v.clone(), format!("the {what} (secret {id})")))
                .ok_or_else(|| {
                    ExecError::of(
                        ErrorKind::Input,
                        format!("the {what}: secret {id} has no value"),
                    )
                }),
            KeySource::File(path) => {
                let full = self.context.join(path);
                std::fs::read_to_string(&full)
                    .map(|t| (t, format!("the {what} ({path})")))
                    .map_err(|e| {
                        ExecError::of(
                            ErrorKind::Input,
                            format!("cannot read the {what} {path}: {e}"),
                        )
                    })
            }
        }
    }

    async fn sign(&self, call: &SignCall, cx: &StepContext) -> Result<Outcome, ExecError> {
        let (key_text, key_name) = self.material(&call.key, "key")?;
        cx.masker.add([key_text.as_str()]);
        let input = |e: wharf_trust::Error| {
            ExecError::of(
                if e.is_bad_input() {
                    ErrorKind::Input
                } else {
                    ErrorKind::Registry
                },
                e.to_string(),
            )
        };
        let key = SigningKey::from_pem(&key_text, &key_name).map_err(input)?;
        let chain = match &call.cert {
            Some(source) => {
                let (text, name) = self.material(source, "certificate")?;
                wharf_trust::certs::parse_certificates(text.as_bytes(), &name).map_err(input)?
            }
            None => Vec::new(),
        };
        let format = if call.format == "cosign" {
            Format::Cosign
        } else {
            Format::Notation
        };
        let request = SignRequest {
            format,
            key,
            chain,
            mode: wharf_registry::referrers::ReferrersMode::Auto,
            expiry: None,
            annotations: Default::default(),
            agent: crate::commands::sign::agent(),
        };
        let mut locations = Vec::new();
        for text in &call.sign {
            let image = ImageRef::parse(text)
                .map_err(|e| ExecError::of(ErrorKind::Input, e.to_string()))?;
            let signed = ops::sign(&self.client, &image, &request)
                .await
                .map_err(input)?;
            cx.output.line(
                wharf_engine::Stream::Stdout,
                &format!(
                    "Signed {}@{} ({}): {}",
                    image.name(),
                    signed.subject.digest,
                    call.format,
                    signed.location
                ),
            );
            locations.push(signed.location);
        }
        let outputs = Outputs::from([("signatures".to_string(), OutputValue::List(locations))]);
        Ok(Outcome::new(Exit::Done).with_outputs(outputs))
    }
}

impl Executor for SignExecutor {
    fn prepare(&self) -> BoxFuture<'_, Result<(), ExecError>> {
        Box::pin(async { Ok(()) })
    }

    fn run_step<'a>(
        &'a self,
        step: &'a Step,
        cx: StepContext,
    ) -> BoxFuture<'a, Result<Outcome, ExecError>> {
        Box::pin(async move {
            let Action::Sign(call) = &step.action else {
                return Err(ExecError::of(
                    ErrorKind::Input,
                    format!("step {}: only sign steps run on the signer", step.id),
                ));
            };
            tokio::select! {
                result = self.sign(call, &cx) => result,
                () = cx.cancel.cancelled() => Err(ExecError::new(format!("step {} was cancelled", step.id))),
            }
        })
    }

    fn cleanup(&self) -> BoxFuture<'_, Vec<String>> {
        Box::pin(async { Vec::new() })
    }
}
