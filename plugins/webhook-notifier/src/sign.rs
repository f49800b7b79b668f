//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): the headers
//! `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64>`, where the
//! signature is HMAC-SHA256 over `{id}.{timestamp}.{body}`. A secret written
//! `whsec_<base64>` is that key, base64-decoded, as the spec's libraries take it;
//! any other secret's bytes are the key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What is signed.
pub fn signed_content(id: &str, timestamp: u64, body: &[u8]) -> Vec<u8> {
    let mut content = format!("{id}.{timestamp}.").into_bytes();
    content.extend_from_slice(body);
    content
}

/// The `webhook-signature` header for a MAC.
pub fn header(mac: &[u8]) -> String {
    format!("v1,{}", STANDARD.encode(mac))
}

/// The key of a `whsec_` secret, or `None` for a secret used as it is.
pub fn whsec_key(secret: &str) -> Option<Result<Vec<u8>, String>> {
    secret.strip_prefix("whsec_").map(|b64| {
        STANDARD
            .decode(b64)
            .map_err(|e| format!("the secret starts with whsec_ but is not base64 after it: {e}"))
    })
}

/// HMAC-SHA256 of `content` with `key`.
pub fn mac(key: &[u8], content: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(content);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks specification.
    #[test]
    fn the_specifications_example_signature() {
        let key = whsec_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .expect("whsec")
            .expect("base64");
        let body = br#"{"test": 2432232314}"#;
        let content = signed_content("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(
            header(&mac(&key, &content)),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_plain_secret_is_used_as_it_is() {
        assert!(whsec_key("hunter2").is_none());
        assert!(whsec_key("whsec_!!").expect("whsec").is_err());
    }
}
