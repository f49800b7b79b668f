//! `wharf verify REF (--cert CERT | --trust-policy FILE --trust-store DIR | --key PUB
//! --format cosign)`: exit 0 only when a signature from a trusted identity covers
//! exactly the digest, size and media type REF resolves to now; exit 1 with the reason
//! otherwise (no signature, wrong signer, altered, the tag moved, expired); 2 for bad
//! input.

use std::process::ExitCode;

use serde_json::json;
use wharf_trust::ops::{self, Trust};
use wharf_trust::policy::TrustPolicyDocument;

use crate::cli::OutputFormat;
use crate::cli_trust::{SignatureFormat, VerifyArgs};
use crate::commands::print;
use crate::commands::registry::{block_on, client, print_json, usage};
use crate::commands::sign::{explicit_ref, read_file, trust_fail};

/// `wharf verify`.
pub fn run(args: &VerifyArgs) -> ExitCode {
    let image = match explicit_ref(&args.reference) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let trust = match trust(args) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let options = args.connection.options(args.output);
    block_on(async {
        let client = match client(&options, Vec::new()) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let verified = match ops::verify(&client, &image, &trust).await {
            Ok(v) => v,
            Err(e) => {
                if args.output == OutputFormat::Json {
                    let _ = print_json(&json!({
                        "reference": args.reference,
                        "verified": false,
                        "reason": e.to_string(),
                    }));
                }
                return trust_fail(&e);
            }
        };
        for warning in &verified.warnings {
            eprintln!("warning: {warning}");
        }
        let name = format!("{}@{}", image.name(), verified.subject.digest);
        match args.output {
            OutputFormat::Json => print_json(&json!({
                "reference": name,
                "verified": true,
                "digest": verified.subject.digest.as_str(),
                "signature": verified.signature.as_ref().map(|d| d.as_str()),
                "signer": verified.signer,
                "warnings": verified.warnings,
            })),
            OutputFormat::Text => print(&match &verified.signature {
                Some(_) if verified.signer == "key" => {
                    format!("Successfully verified the cosign signature of {name}\n")
                }
                Some(_) => format!(
                    "Successfully verified the signature of {name} by {}\n",
                    verified.signer
                ),
                None => format!("Verification of {name} skipped by the trust policy\n"),
            }),
        }
    })
}

fn trust(args: &VerifyArgs) -> Result<Trust, ExitCode> {
    match (args.format, &args.cert, &args.trust_policy, &args.key) {
        (SignatureFormat::Cosign, _, _, Some(key)) => {
            let text = read_file(key, "public key")?;
            wharf_trust::keys::public_key_from_pem(
                &String::from_utf8_lossy(&text),
                &key.display().to_string(),
            )
            .map(Trust::CosignKey)
            .map_err(|e| trust_fail(&e))
        }
        (SignatureFormat::Cosign, _, _, None) => {
            Err(usage("--format cosign needs --key (the cosign public key)"))
        }
        (SignatureFormat::Notation, _, _, Some(_)) => Err(usage(
            "--key verifies cosign signatures: add --format cosign, or give --cert or --trust-policy for notation",
        )),
        (SignatureFormat::Notation, Some(cert), _, None) => {
            let text = read_file(cert, "certificate")?;
            wharf_trust::certs::parse_certificates(&text, &cert.display().to_string())
                .map(Trust::Certificates)
                .map_err(|e| trust_fail(&e))
        }
        (SignatureFormat::Notation, None, Some(policy), None) => {
            let document = TrustPolicyDocument::load(policy).map_err(|e| trust_fail(&e))?;
            let store = args.trust_store.clone().unwrap_or_default();
            if !store.is_dir() {
                return Err(usage(format!(
                    "--trust-store {} is not a directory",
                    store.display()
                )));
            }
            Ok(Trust::Policy { document, store })
        }
        (SignatureFormat::Notation, None, None, None) => Err(usage(
            "say whom to trust: --cert CERT, --trust-policy FILE --trust-store DIR, or --key PUB --format cosign",
        )),
    }
}
