//! Go's `encoding/pem` (`EncodeToMemory` and the lenient `Decode`) and the
//! `base64.StdEncoding` decoding Sprig's crypto functions use.

use base64::Engine;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};

/// Go's `base64.StdEncoding`: padded, and the unused bits of the last symbol
/// may be set.
const GO_STD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// `base64.StdEncoding.DecodeString`: `\r` and `\n` are skipped; errors read
/// `illegal base64 data at input byte N`.
pub(crate) fn go_base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let clean: Vec<u8> = s.bytes().filter(|c| !matches!(c, b'\r' | b'\n')).collect();
    GO_STD.decode(&clean).map_err(|e| {
        let off = match e {
            base64::DecodeError::InvalidByte(o, _)
            | base64::DecodeError::InvalidLastSymbol(o, _)
            | base64::DecodeError::InvalidLength(o) => o,
            base64::DecodeError::InvalidPadding => clean.len(),
        };
        format!("illegal base64 data at input byte {off}")
    })
}

/// Go's `pem.EncodeToMemory` of a block without headers: 64-column base64.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Go's `getLine`: a line without its `\r\n` and trailing spaces and tabs.
fn get_line(data: &[u8]) -> (&[u8], &[u8]) {
    let (mut i, j) = match data.iter().position(|&c| c == b'\n') {
        Some(i) => (i, i + 1),
        None => (data.len(), data.len()),
    };
    if j > i && i > 0 && data[i - 1] == b'\r' {
        i -= 1;
    }
    let mut line = &data[..i];
    while let Some((last, rest)) = line.split_last() {
        if *last == b' ' || *last == b'\t' {
            line = rest;
        } else {
            break;
        }
    }
    (line, &data[j..])
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Go's `pem.Decode`: the bytes of the first well-formed block anywhere in
/// `data` (text around it and headers are skipped; the type is not checked).
pub(crate) fn decode(data: &[u8]) -> Option<Vec<u8>> {
    const START: &[u8] = b"\n-----BEGIN ";
    const END: &[u8] = b"\n-----END ";
    const EOL: &[u8] = b"-----";
    let mut rest = data;
    loop {
        if rest.starts_with(&START[1..]) {
            rest = &rest[START.len() - 1..];
        } else if let Some(i) = find(rest, START) {
            rest = &rest[i + START.len()..];
        } else {
            return None;
        }
        let (type_line, after) = get_line(rest);
        rest = after;
        let Some(type_line) = type_line.strip_suffix(EOL) else {
            continue;
        };
        let mut headers = 0;
        loop {
            if rest.is_empty() {
                return None;
            }
            let (line, next) = get_line(rest);
            if !line.contains(&b':') {
                break;
            }
            headers += 1;
            rest = next;
        }
        let (end_index, trailer_index) = if headers == 0 && rest.starts_with(&END[1..]) {
            (0, END.len() - 1)
        } else {
            match find(rest, END) {
                Some(i) => (i, i + END.len()),
                None => continue,
            }
        };
        let trailer = &rest[trailer_index..];
        let trailer_len = type_line.len() + EOL.len();
        if trailer.len() < trailer_len {
            continue;
        }
        let (trailer, rest_of_end_line) = trailer.split_at(trailer_len);
        if !trailer.starts_with(type_line) || !trailer.ends_with(EOL) {
            continue;
        }
        if !get_line(rest_of_end_line).0.is_empty() {
            continue;
        }
        let body: String = String::from_utf8_lossy(&rest[..end_index])
            .chars()
            .filter(|c| !matches!(c, ' ' | '\t'))
            .collect();
        match go_base64_decode(&body) {
            Ok(bytes) => return Some(bytes),
            Err(_) => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_leniency() {
        let der: Vec<u8> = (0..=255u8).collect();
        let pem = encode("TEST", &der);
        assert!(pem.starts_with("-----BEGIN TEST-----\n"));
        assert!(pem.ends_with("\n-----END TEST-----\n"));
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert_eq!(decode(pem.as_bytes()), Some(der.clone()));
        let noisy = format!("Bag Attributes\n  x: y\n{}", pem.replace('\n', "\r\n"));
        assert_eq!(decode(noisy.as_bytes()), Some(der.clone()));
        let headers = pem.replace("-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n");
        assert!(decode(headers.as_bytes()).is_some());
        assert_eq!(
            decode(b"-----BEGIN A-----\n-----END A-----\n"),
            Some(vec![])
        );
        assert_eq!(decode(b"-----BEGIN A-----\nAAAA\n-----END B-----\n"), None);
        assert_eq!(decode(b"no pem here"), None);
    }
}
