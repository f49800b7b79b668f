//! Encodings and digests: base64/base32, sha1/sha256/adler32 sums, `uuidv4`.
//!
//! `b64enc` follows ACR's override: nil encodes to the empty string instead of
//! the encoding of `<nil>`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::Rng;
use sha1::Digest;

use super::convert::strval;
use super::{Ctx, FuncDef, Since, Ty, a, def, ok_s, s};
use crate::data::{Data, RVal};

const V2: Since = Since::V2;

pub(crate) const FUNCS: &[FuncDef] = &[
    def("b64enc", &[Ty::Any], None, V2, b64enc),
    def("b64dec", &[Ty::Str], None, V2, |_, x| {
        ok_s(match STANDARD.decode(s(&x, 0)) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => go_base64_error(&e),
        })
    }),
    def("b32enc", &[Ty::Str], None, V2, |_, x| {
        ok_s(base32_encode(s(&x, 0).as_bytes()))
    }),
    def("b32dec", &[Ty::Str], None, V2, |_, x| {
        ok_s(match base32_decode(&s(&x, 0)) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => e,
        })
    }),
    def("sha1sum", &[Ty::Str], None, V2, |_, x| {
        ok_s(hex(&sha1::Sha1::digest(s(&x, 0).as_bytes())))
    }),
    def("sha256sum", &[Ty::Str], None, V2, |_, x| {
        ok_s(hex(&sha2::Sha256::digest(s(&x, 0).as_bytes())))
    }),
    def("adler32sum", &[Ty::Str], None, V2, |_, x| {
        ok_s(adler32(s(&x, 0).as_bytes()).to_string())
    }),
    def("uuidv4", &[], None, V2, |_, _| ok_s(uuidv4())),
];

fn b64enc(ctx: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    match a(&x, 0) {
        Data::Nil => ok_s(""),
        d => {
            if !matches!(d, Data::Str(_)) {
                // ACR's override encodes reflect.Value.String() of its argument, which
                // for anything but a string is `<T Value>`.
                let shown = format!("<{} Value>", d.type_name());
                ctx.acr_differences.push(format!(
                    "b64enc of a value of type {}: ACR encodes the text `{shown}` ({}), not the value",
                    d.type_name(),
                    STANDARD.encode(shown.as_bytes())
                ));
            }
            ok_s(STANDARD.encode(strval(&d).as_bytes()))
        }
    }
}

fn go_base64_error(e: &base64::DecodeError) -> String {
    let off = match e {
        base64::DecodeError::InvalidByte(o, _) => *o,
        base64::DecodeError::InvalidLastSymbol(o, _) => *o,
        base64::DecodeError::InvalidLength(o) => *o,
        base64::DecodeError::InvalidPadding => 0,
    };
    format!("illegal base64 data at input byte {off}")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

fn adler32(b: &[u8]) -> u32 {
    let (mut x, mut y) = (1u32, 0u32);
    for c in b {
        x = (x + *c as u32) % 65521;
        y = (y + x) % 65521;
    }
    (y << 16) | x
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 with padding (Go's `base32.StdEncoding`).
fn base32_encode(b: &[u8]) -> String {
    let mut out = String::new();
    for chunk in b.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let v = buf.iter().fold(0u64, |acc, c| (acc << 8) | *c as u64);
        let nchars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < nchars {
                out.push(B32[((v >> (35 - i * 5)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base32_decode(s: &str) -> Result<Vec<u8>, String> {
    let s: Vec<u8> = s.bytes().filter(|c| *c != b'\n' && *c != b'\r').collect();
    let err = |i: usize| format!("illegal base32 data at input byte {i}");
    if !s.len().is_multiple_of(8) {
        return Err(err(s.len() / 8 * 8));
    }
    let mut out = Vec::new();
    for (ci, chunk) in s.chunks(8).enumerate() {
        let mut v = 0u64;
        let mut n = 0;
        for (i, c) in chunk.iter().enumerate() {
            if *c == b'=' {
                if chunk[i..].iter().any(|c| *c != b'=') || ci * 8 + 8 != s.len() {
                    return Err(err(ci * 8 + i));
                }
                break;
            }
            let d = B32
                .iter()
                .position(|x| x == c)
                .ok_or_else(|| err(ci * 8 + i))?;
            v |= (d as u64) << (35 - i * 5);
            n += 1;
        }
        let bytes = match n {
            8 => 5,
            7 => 4,
            5 => 3,
            4 => 2,
            2 => 1,
            _ => return Err(err(ci * 8 + n)),
        };
        for i in 0..bytes {
            out.push(((v >> (32 - i * 8)) & 0xff) as u8);
        }
    }
    Ok(out)
}

fn uuidv4() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(base32_encode(b"hello"), "NBSWY3DP");
        assert_eq!(base32_encode(b"hi"), "NBUQ====");
        assert_eq!(base32_decode("NBUQ====").expect("ok"), b"hi");
        assert_eq!(base32_decode("NBSWY3DP").expect("ok"), b"hello");
        assert_eq!(adler32(b"Wikipedia"), 300_286_872);
        assert_eq!(uuidv4().len(), 36);
    }
}
