//! `wharf verify-attestation REF --key PUB [--type slsaprovenance1] [--builder ID]
//! [--source URI]`: exit 0 only when an attestation signed by the key covers exactly
//! the digest REF resolves to now (DSSE signature over the PAE, payload type
//! `application/vnd.in-toto+json`, an in-toto Statement v1 of the asked predicate
//! type, and the policy fields); exit 1 with the reason otherwise; 2 for bad input.

use std::process::ExitCode;

use serde_json::json;
use wharf_trust::attest;
use wharf_trust::provenance::{self, Policy};

use crate::cli::OutputFormat;
use crate::cli_trust::VerifyAttestationArgs;
use crate::commands::print;
use crate::commands::registry::{block_on, client, print_json};
use crate::commands::sign::{explicit_ref, read_file, trust_fail};

/// `wharf verify-attestation`.
pub fn run(args: &VerifyAttestationArgs) -> ExitCode {
    let image = match explicit_ref(&args.reference) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let text = match read_file(&args.key, "public key") {
        Ok(t) => t,
        Err(code) => return code,
    };
    let key = match wharf_trust::keys::public_key_from_pem(
        &String::from_utf8_lossy(&text),
        &args.key.display().to_string(),
    ) {
        Ok(k) => k,
        Err(e) => return trust_fail(&e),
    };
    let predicate_type = match provenance::predicate_type(&args.predicate_type) {
        Ok(t) => t.to_string(),
        Err(e) => return trust_fail(&e),
    };
    let policy = Policy {
        predicate_type,
        builder: args.builder.clone(),
        source: args.source.clone(),
    };
    let options = args.connection.options(args.output);
    block_on(async {
        let client = match client(&options, Vec::new()) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let verified = match attest::verify(&client, &image, &key, &policy).await {
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
        let name = format!("{}@{}", image.name(), verified.subject.digest);
        let details = verified.statement.provenance().ok();
        let builder = details
            .as_ref()
            .map(|p| p.run_details.builder.id.clone())
            .unwrap_or_default();
        match args.output {
            OutputFormat::Json => print_json(&json!({
                "reference": name,
                "verified": true,
                "digest": verified.subject.digest.as_str(),
                "attestation": verified.attestation.as_str(),
                "predicateType": verified.statement.predicate_type,
                "builder": builder,
                "statement": verified.statement,
            })),
            OutputFormat::Text => {
                let mut out = format!(
                    "Successfully verified the {} attestation of {name}\n",
                    verified.statement.predicate_type
                );
                if let Some(p) = &details {
                    out.push_str(&format!("  builder:   {builder}\n"));
                    out.push_str(&format!("  buildType: {}\n", p.build_definition.build_type));
                    if let Some(source) = p.build_definition.external_parameters["source"].as_str()
                    {
                        out.push_str(&format!("  source:    {source}\n"));
                    }
                }
                print(&out)
            }
        }
    })
}
