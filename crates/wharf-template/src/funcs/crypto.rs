//! Sprig v2.22's key and secret functions: `derivePassword` (the Master
//! Password algorithm), `genPrivateKey` (RSA 4096, DSA L2048N256, ECDSA P-256 in
//! the PEM blocks Go writes) and `encryptAES`/`decryptAES` (AES-256-CBC with a
//! random IV in front, base64).
//!
//! Where Sprig's code panics on bad input (`decryptAES` of a short or
//! misaligned ciphertext), Go's template engine turns the panic into an error;
//! these functions return the same message.

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use base64::Engine;
use hmac::Mac;
use rand_core_06::{OsRng, RngCore};

use super::{Ctx, FuncDef, Since, Ty, def, n, ok_s, s};
use crate::data::RVal;
use crate::pem;

const V2: Since = Since::V2;

pub(crate) const FUNCS: &[FuncDef] = &[
    def(
        "derivePassword",
        &[Ty::Uint32, Ty::Str, Ty::Str, Ty::Str, Ty::Str],
        None,
        V2,
        |_, x| {
            ok_s(derive_password(
                n(&x, 0) as u32,
                &s(&x, 1),
                &s(&x, 2),
                &s(&x, 3),
                &s(&x, 4),
            ))
        },
    ),
    def("genPrivateKey", &[Ty::Str], None, V2, |_, x| {
        ok_s(generate_private_key(&s(&x, 0)))
    }),
    def("encryptAES", &[Ty::Str, Ty::Str], None, V2, encrypt_aes),
    def("decryptAES", &[Ty::Str, Ty::Str], None, V2, decrypt_aes),
];

const MASTER_PASSWORD_SEED: &[u8] = b"com.lyndir.masterpassword";

/// Sprig's `password_type_templates`.
fn password_templates(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return None,
    })
}

/// Sprig's `template_characters`.
fn template_characters(class: u8) -> &'static [u8] {
    match class {
        b'V' => b"AEIOU",
        b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
        b'v' => b"aeiou",
        b'c' => b"bcdfghjklmnpqrstvwxyz",
        b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        b'n' => b"0123456789",
        b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
        _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
    }
}

/// The Master Password algorithm as Sprig implements it: scrypt(N=32768, r=8,
/// p=2) of the password salted with the user name, then HMAC-SHA256 of the
/// site and counter picks a template and its characters.
fn derive_password(counter: u32, kind: &str, password: &str, user: &str, site: &str) -> String {
    let Some(templates) = password_templates(kind) else {
        return format!("cannot find password template {kind}");
    };
    let mut salt = MASTER_PASSWORD_SEED.to_vec();
    salt.extend((user.len() as u32).to_be_bytes());
    salt.extend(user.as_bytes());
    let mut key = [0u8; 64];
    let derived = scrypt::Params::new(15, 8, 2, 64)
        .map_err(|e| e.to_string())
        .and_then(|p| {
            scrypt::scrypt(password.as_bytes(), &salt, &p, &mut key).map_err(|e| e.to_string())
        });
    if let Err(e) = derived {
        return format!("failed to derive password: {e}");
    }
    let mut message = MASTER_PASSWORD_SEED.to_vec();
    message.extend((site.len() as u32).to_be_bytes());
    message.extend(site.as_bytes());
    message.extend(counter.to_be_bytes());
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key) else {
        return "failed to derive password: invalid key".into();
    };
    mac.update(&message);
    let seed = mac.finalize().into_bytes();
    let template = templates[seed[0] as usize % templates.len()];
    template
        .bytes()
        .enumerate()
        .map(|(i, class)| {
            let chars = template_characters(class);
            chars[seed[i + 1] as usize % chars.len()] as char
        })
        .collect()
}

/// `genPrivateKey`: a PEM block, or (as Sprig returns it) a message string.
fn generate_private_key(kind: &str) -> String {
    match kind {
        "" | "rsa" => match rsa::RsaPrivateKey::new(&mut OsRng, 4096) {
            Ok(key) => rsa_private_key_pem(&key),
            Err(e) => format!("failed to generate private key: {e}"),
        },
        "dsa" => {
            let components = dsa::Components::generate(&mut OsRng, dsa::KeySize::DSA_2048_256);
            let key = dsa::SigningKey::generate(&mut OsRng, components);
            match dsa_private_key_der(&key) {
                Ok(der) => pem::encode("DSA PRIVATE KEY", &der),
                Err(e) => format!("failed to generate private key: {e}"),
            }
        }
        "ecdsa" => match ec_private_key_der(&p256::SecretKey::random(&mut OsRng)) {
            Ok(der) => pem::encode("EC PRIVATE KEY", &der),
            Err(e) => format!("failed to generate private key: {e}"),
        },
        other => format!("Unknown type {other}"),
    }
}

/// An RSA key as Go's `x509.MarshalPKCS1PrivateKey` in an `RSA PRIVATE KEY` block.
pub(crate) fn rsa_private_key_pem(key: &rsa::RsaPrivateKey) -> String {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    match key.to_pkcs1_der() {
        Ok(der) => pem::encode("RSA PRIVATE KEY", der.as_bytes()),
        // Encoding a generated key does not fail; say so if it ever does.
        Err(e) => format!("error pem-encoding key: {e}"),
    }
}

/// Go's `x509.MarshalECPrivateKey`: SEC 1 with the named curve and the
/// uncompressed public point.
fn ec_private_key_der(key: &p256::SecretKey) -> der::Result<Vec<u8>> {
    use der::Encode;
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    const P256: der::oid::ObjectIdentifier =
        der::oid::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
    let private = key.to_bytes();
    let public = key.public_key().to_encoded_point(false);
    sec1::EcPrivateKey {
        private_key: &private,
        parameters: Some(sec1::EcParameters::NamedCurve(P256)),
        public_key: Some(public.as_bytes()),
    }
    .to_der()
}

/// Sprig's `DSAKeyFormat`: `SEQUENCE { version 0, P, Q, G, Y, X }`, the
/// OpenSSL "traditional" DSA private key.
#[derive(der::Sequence)]
struct DsaKeyFormat<'a> {
    version: u8,
    p: der::asn1::UintRef<'a>,
    q: der::asn1::UintRef<'a>,
    g: der::asn1::UintRef<'a>,
    y: der::asn1::UintRef<'a>,
    x: der::asn1::UintRef<'a>,
}

fn dsa_private_key_der(key: &dsa::SigningKey) -> der::Result<Vec<u8>> {
    use der::Encode;
    let public = key.verifying_key();
    let c = public.components();
    let bytes = [c.p(), c.q(), c.g(), public.y(), key.x()].map(|n| n.to_bytes_be());
    DsaKeyFormat {
        version: 0,
        p: der::asn1::UintRef::new(&bytes[0])?,
        q: der::asn1::UintRef::new(&bytes[1])?,
        g: der::asn1::UintRef::new(&bytes[2])?,
        y: der::asn1::UintRef::new(&bytes[3])?,
        x: der::asn1::UintRef::new(&bytes[4])?,
    }
    .to_der()
}

/// Sprig's key: the password's bytes in 32 zero bytes, cut at 32.
fn aes_key(password: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    let p = password.as_bytes();
    let n = p.len().min(32);
    key[..n].copy_from_slice(&p[..n]);
    key
}

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

fn encrypt_aes(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let (password, plaintext) = (s(&x, 0), s(&x, 1));
    if plaintext.is_empty() {
        return ok_s("");
    }
    let mut iv = [0u8; 16];
    OsRng.fill_bytes(&mut iv);
    ok_s(encrypt_with_iv(&password, plaintext.as_bytes(), &iv))
}

/// PKCS #7 padding (a whole block when aligned), AES-256-CBC, IV in front, base64.
fn encrypt_with_iv(password: &str, plaintext: &[u8], iv: &[u8; 16]) -> String {
    let pad = 16 - plaintext.len() % 16;
    let mut buf = plaintext.to_vec();
    buf.extend(std::iter::repeat_n(pad as u8, pad));
    let len = buf.len();
    let enc = Aes256CbcEnc::new(&aes_key(password).into(), iv.into());
    // The buffer is block-aligned, so NoPadding cannot fail.
    let ct = enc
        .encrypt_padded_mut::<NoPadding>(&mut buf, len)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    let mut out = iv.to_vec();
    out.extend(ct);
    base64::engine::general_purpose::STANDARD.encode(out)
}

fn decrypt_aes(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let (password, crypt64) = (s(&x, 0), s(&x, 1));
    if crypt64.is_empty() {
        return ok_s("");
    }
    let crypt = pem::go_base64_decode(&crypt64)?;
    if crypt.len() < 16 {
        // `crypt[:16]` panics unless the decode buffer's capacity reaches 16.
        let capacity = crypt64.len() / 4 * 3;
        if capacity < 16 {
            return Err(format!(
                "runtime error: slice bounds out of range [:16] with capacity {capacity}"
            ));
        }
        return Err("runtime error: index out of range [-1]".into());
    }
    let (iv, body) = crypt.split_at(16);
    if !body.len().is_multiple_of(16) {
        return Err("crypto/cipher: input not full blocks".into());
    }
    let Some(&pad) = body.last() else {
        return Err("runtime error: index out of range [-1]".into());
    };
    let mut buf = body.to_vec();
    let dec = Aes256CbcDec::new(&aes_key(&password).into(), iv.into());
    let plain = dec
        .decrypt_padded_mut::<NoPadding>(&mut buf)
        .map_err(|_| "crypto/cipher: input not full blocks".to_string())?;
    let pad = plain.last().copied().unwrap_or(pad) as usize;
    // Sprig strips as many bytes as the last one says, unchecked.
    let Some(end) = plain.len().checked_sub(pad) else {
        return Err(format!(
            "runtime error: slice bounds out of range [:{}]",
            plain.len() as i64 - pad as i64
        ));
    };
    ok_s(String::from_utf8_lossy(&plain[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decrypt(password: &str, crypt: &str) -> Result<String, String> {
        let opts = crate::Options::default();
        let mut ctx = Ctx::new(&opts);
        let args = vec![
            RVal::Plain(crate::data::Data::str(password)),
            RVal::Plain(crate::data::Data::str(crypt)),
        ];
        decrypt_aes(&mut ctx, args).map(|v| match v.data() {
            crate::data::Data::Str(s) => s.to_string(),
            _ => String::new(),
        })
    }

    #[test]
    fn aes_round_trip_and_padding() {
        let iv = [7u8; 16];
        for text in [
            "",
            "a",
            "exactly sixteen!",
            "héllo wörld, longer than one block",
        ] {
            if text.is_empty() {
                continue;
            }
            let c = encrypt_with_iv("k", text.as_bytes(), &iv);
            assert_eq!(decrypt("k", &c).as_deref(), Ok(text));
        }
        // A 16-byte plaintext gets a whole block of padding: IV + 2 blocks.
        let c = encrypt_with_iv("k", b"exactly sixteen!", &iv);
        assert_eq!(pem::go_base64_decode(&c).map(|b| b.len()), Ok(48));
        // Passwords longer than 32 bytes are cut.
        let long = "x".repeat(40);
        let c = encrypt_with_iv(&long, b"t", &iv);
        assert_eq!(decrypt(&"x".repeat(32), &c).as_deref(), Ok("t"));
    }

    #[test]
    fn aes_bad_ciphertexts_fail_as_go_panics() {
        assert_eq!(
            decrypt("k", "AAAA"),
            Err("runtime error: slice bounds out of range [:16] with capacity 3".into())
        );
        // 16 bytes: IV only.
        assert_eq!(
            decrypt("k", "AAAAAAAAAAAAAAAAAAAAAA=="),
            Err("runtime error: index out of range [-1]".into())
        );
        // IV + 4 bytes.
        assert_eq!(
            decrypt("k", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            Err("crypto/cipher: input not full blocks".into())
        );
        assert_eq!(
            decrypt("k", "not base64!"),
            Err("illegal base64 data at input byte 3".into())
        );
    }

    #[test]
    fn unknown_types_are_messages() {
        assert_eq!(generate_private_key("ed25519"), "Unknown type ed25519");
        assert_eq!(
            derive_password(1, "nope", "p", "u", "s"),
            "cannot find password template nope"
        );
    }
}
