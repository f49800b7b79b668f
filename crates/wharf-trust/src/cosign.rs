//! cosign's keyed signature format (`cosign sign --key`, the legacy `.sig` scheme,
//! `sigstore/cosign: specs/SIGNATURE_SPEC.md`): a manifest at tag `sha256-<hex>.sig`
//! with one `application/vnd.dev.cosign.simplesigning.v1+json` layer per signature,
//! the layer being the simple-signing payload and its annotation
//! `dev.cosignproject.cosign/signature` the base64 ASN.1 ECDSA P-256 signature over it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde_json::{Value, json};
use wharf_registry::Digest;
use wharf_registry::client::BlobPush;
use wharf_registry::manifest::{Descriptor, ImageManifest, media_type};

use crate::Error;
use crate::keys::{self, SigningKey};

/// The layer media type of a simple-signing payload.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// `critical.type` of an image signature.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";

/// The tag cosign keeps `subject`'s signatures under: `sha256-<hex>.sig`.
pub fn signature_tag(subject: &Digest) -> String {
    format!("{}.sig", subject.as_str().replacen(':', "-", 1))
}

/// The exact payload cosign signs for `digest` of repository `docker_reference`
/// (the repository without tag, `index.docker.io/...` for Docker Hub).
pub fn payload(docker_reference: &str, digest: &Digest) -> Vec<u8> {
    // Key order as cosign's Go structs marshal: critical{identity,image,type}, optional.
    format!(
        "{{\"critical\":{{\"identity\":{{\"docker-reference\":{}}},\"image\":{{\"docker-manifest-digest\":{}}},\"type\":{}}},\"optional\":null}}",
        json!(docker_reference),
        json!(digest.as_str()),
        json!(SIGNATURE_TYPE)
    )
    .into_bytes()
}

/// The base64 DER signature of `payload` by `key`.
pub fn sign(key: &SigningKey, payload: &[u8]) -> String {
    STANDARD.encode(key.sign_der(payload))
}

/// Checks a signature layer: the base64 DER `signature` over `payload` verifies with
/// `public_key` (SPKI DER), and the payload is an image signature of `digest`.
pub fn verify(
    public_key: &[u8],
    payload: &[u8],
    signature: &str,
    digest: &Digest,
) -> Result<(), Error> {
    let raw = STANDARD
        .decode(signature.trim())
        .map_err(|_| Error::Invalid("the cosign signature is not base64".into()))?;
    if !keys::verify_der_p256(public_key, payload, &raw) {
        return Err(Error::Untrusted(
            "the cosign signature does not verify with the given key (another signer, or an altered payload)".into(),
        ));
    }
    let value: Value = serde_json::from_slice(payload)
        .map_err(|_| Error::Invalid("the cosign payload is not JSON".into()))?;
    let critical = &value["critical"];
    if critical["type"].as_str() != Some(SIGNATURE_TYPE) {
        return Err(Error::Invalid(format!(
            "the cosign payload's critical.type is not {SIGNATURE_TYPE:?}"
        )));
    }
    let signed = critical["image"]["docker-manifest-digest"]
        .as_str()
        .unwrap_or("");
    if signed != digest.as_str() {
        return Err(Error::Mismatch(format!(
            "the cosign signature covers {signed}, not {digest}"
        )));
    }
    Ok(())
}

/// The `.sig` manifest with one more signature layer (`existing` is the manifest there
/// now, if any: cosign appends, one layer per signature). Returns the manifest and
/// the blobs to push; `None` when this exact signature is there already.
pub fn append(
    existing: Option<&ImageManifest>,
    payload: &[u8],
    signature: &str,
) -> Result<Option<(Bytes, Vec<BlobPush>)>, Error> {
    let layer = BlobPush::bytes(SIMPLE_SIGNING, Bytes::copy_from_slice(payload));
    let mut layers: Vec<Descriptor> = existing.map(|m| m.layers.clone()).unwrap_or_default();
    if layers.iter().any(|l| {
        l.digest == layer.descriptor.digest
            && l.annotations.get(SIGNATURE_ANNOTATION).map(String::as_str) == Some(signature)
    }) {
        return Ok(None);
    }
    let mut descriptor = layer.descriptor.clone();
    descriptor
        .annotations
        .insert(SIGNATURE_ANNOTATION.into(), signature.into());
    layers.push(descriptor);
    // The config as go-containerregistry's empty image, mutated: one diff id and one
    // empty history entry per layer.
    let config = json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": layers.iter().map(|_| json!({"created": "0001-01-01T00:00:00Z"})).collect::<Vec<_>>(),
        "os": "",
        "rootfs": {
            "type": "layers",
            "diff_ids": layers.iter().map(|l| l.digest.as_str().to_string()).collect::<Vec<_>>(),
        },
        "config": {},
    });
    let config = BlobPush::bytes(media_type::OCI_CONFIG, Bytes::from(config.to_string()));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "config": {
            "mediaType": media_type::OCI_CONFIG,
            "size": config.descriptor.size,
            "digest": config.descriptor.digest.as_str(),
        },
        "layers": layers.iter().map(|l| json!({
            "mediaType": l.media_type,
            "size": l.size,
            "digest": l.digest.as_str(),
            "annotations": l.annotations,
        })).collect::<Vec<_>>(),
    });
    Ok(Some((
        Bytes::from(manifest.to_string()),
        vec![config, layer],
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_bytes_are_cosigns() {
        let digest = Digest::parse(
            "sha256:4aa3054270f7a70b4528f2064ee90961788e1e1518703592ae4463de3b889dec",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            String::from_utf8_lossy(&payload("index.docker.io/namespace/image", &digest)),
            "{\"critical\":{\"identity\":{\"docker-reference\":\"index.docker.io/namespace/image\"},\"image\":{\"docker-manifest-digest\":\"sha256:4aa3054270f7a70b4528f2064ee90961788e1e1518703592ae4463de3b889dec\"},\"type\":\"cosign container image signature\"},\"optional\":null}"
        );
        assert_eq!(
            signature_tag(&digest),
            "sha256-4aa3054270f7a70b4528f2064ee90961788e1e1518703592ae4463de3b889dec.sig"
        );
    }
}
