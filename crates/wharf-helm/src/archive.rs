//! Writing a chart archive byte for byte as helm's `chartutil.Save` lays it out
//! and as Go's `archive/tar` and `compress/gzip` encode it.
//!
//! The tar: one top directory named after the chart, no directory entries,
//! Chart.yaml first (written from the metadata), then Chart.lock (v2 charts),
//! values.yaml, values.schema.json, the templates, the other files, and each
//! subchart the same way under `charts/<name>/`. Every entry is a regular file,
//! mode 0644, uid/gid 0, no user or group names, in USTAR format (Go's
//! checksum field `NNNNNN\0 `, device numbers written as zeros), a PAX `path`
//! record only for a name USTAR cannot hold; the archive ends with two zero
//! blocks and is not padded to a record size.
//!
//! The gzip: helm's header (comment `Helm`, helm v4's RFC 1952 extra field, no
//! file name, mtime 0, OS 255) around a deflate stream from flate2.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::error::{ChartError, Place};
use crate::load::Chart;
use crate::metadata::API_VERSION_V2;

/// The gzip extra field helm v4 writes: an RFC 1952 subfield `rr` of 40 bytes.
/// (helm v3 writes the same 40 bytes behind a `+`, which is not a valid subfield.)
pub const GZIP_EXTRA: &[u8] = b"rr\x28\x00aHR0cHM6Ly95b3V0dS5iZS96OVV6MWljandyTQo=";
/// The gzip comment helm writes.
pub const GZIP_COMMENT: &str = "Helm";

/// The largest modification time a USTAR header holds (8^11 − 1, in 2242).
pub const MAX_MTIME: u64 = 0o77777777777;

const BLOCK: usize = 512;

/// The `.tgz` bytes of `chart`, every entry stamped with `mtime` (seconds since
/// the Unix epoch, at most [`MAX_MTIME`]).
pub fn write_archive(chart: &Chart, mtime: u64) -> Result<Vec<u8>, ChartError> {
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    tar_contents(&mut entries, chart, "")?;
    let mut tar = Vec::new();
    {
        let mut builder = tar::Builder::new(&mut tar);
        for (name, data) in &entries {
            for header in go_headers(name, data.len() as u64, mtime.min(MAX_MTIME)) {
                let body: &[u8] = match &header {
                    Block::Pax(_, records) => records,
                    Block::Main(_) => data,
                };
                builder
                    .append(header.tar_header(), body)
                    .map_err(|e| ChartError::io(name, e))?;
            }
        }
        builder.finish().map_err(|e| ChartError::io("archive", e))?;
    }
    let mut gz = flate2::GzBuilder::new()
        .extra(GZIP_EXTRA.to_vec())
        .comment(GZIP_COMMENT)
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::default());
    gz.write_all(&tar)
        .map_err(|e| ChartError::io("archive", e))?;
    finish(gz)
}

fn finish(gz: GzEncoder<Vec<u8>>) -> Result<Vec<u8>, ChartError> {
    gz.finish().map_err(|e| ChartError::io("archive", e))
}

/// The entries of one chart under `prefix`, in helm's order.
fn tar_contents(
    out: &mut Vec<(String, Vec<u8>)>,
    chart: &Chart,
    prefix: &str,
) -> Result<(), ChartError> {
    let base = join(prefix, chart.name());
    out.push((
        join(&base, "Chart.yaml"),
        chart.metadata.to_chart_yaml()?.into_bytes(),
    ));
    if chart.metadata.api_version == API_VERSION_V2
        && let Some(lock) = &chart.lock
    {
        out.push((join(&base, "Chart.lock"), lock.to_yaml().into_bytes()));
    }
    if let Some(values) = &chart.values {
        out.push((join(&base, "values.yaml"), values.clone()));
    }
    if let Some(schema) = &chart.schema {
        check_schema(chart, schema)?;
        out.push((join(&base, "values.schema.json"), schema.clone()));
    }
    for f in chart.templates.iter().chain(&chart.files) {
        out.push((join(&base, &f.name), f.data.clone()));
    }
    for dep in &chart.dependencies {
        tar_contents(out, dep, &join(&base, "charts"))?;
    }
    Ok(())
}

/// helm refuses a values.schema.json that is not JSON.
fn check_schema(chart: &Chart, schema: &[u8]) -> Result<(), ChartError> {
    let file = format!("{}/values.schema.json", chart.origin());
    match serde_json::from_slice::<serde_json::Value>(schema) {
        Ok(_) => Ok(()),
        Err(e) => {
            let text = String::from_utf8_lossy(schema);
            let line_start: usize = text
                .split_inclusive('\n')
                .take(e.line().saturating_sub(1))
                .map(str::len)
                .sum();
            let offset = text[line_start..]
                .char_indices()
                .nth(e.column().saturating_sub(1))
                .map_or(text.len(), |(i, _)| line_start + i);
            Err(ChartError::Syntax {
                place: Place::at(&file, &text, offset, offset),
                message: format!("invalid JSON in values.schema.json: {e}"),
            })
        }
    }
}

/// Go's `filepath.Join` of two parts (cleaned, `/` separators).
fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        return wharf_template::go::clean_path(b);
    }
    wharf_template::go::clean_path(&format!("{a}/{b}"))
}

/// A header block and what follows it.
enum Block {
    /// A PAX extended header and its records.
    Pax([u8; BLOCK], Vec<u8>),
    /// The file's own header.
    Main([u8; BLOCK]),
}

impl Block {
    fn tar_header(&self) -> &tar::Header {
        let bytes = match self {
            Block::Pax(b, _) | Block::Main(b) => b,
        };
        tar::Header::from_byte_slice(bytes)
    }
}

/// Go's `formatOctal`: zero-padded octal leaving room for a NUL.
fn octal(field: &mut [u8], value: u64) {
    let digits = format!("{value:o}");
    let width = field.len() - 1;
    let text = format!("{digits:0>width$}");
    string(field, &text);
}

/// Go's `formatString`: as much as fits, NUL-terminated when there is room.
fn string(field: &mut [u8], text: &str) {
    let n = text.len().min(field.len());
    field[..n].copy_from_slice(&text.as_bytes()[..n]);
    if text.len() < field.len() {
        field[text.len()] = 0;
    }
}

/// Sets the USTAR magic and Go's checksum (six octal digits, NUL, space).
fn seal(block: &mut [u8; BLOCK]) {
    block[257..263].copy_from_slice(b"ustar\0");
    block[263..265].copy_from_slice(b"00");
    let sum: u64 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(b)
            }
        })
        .sum();
    octal(&mut block[148..155], sum);
    block[155] = b' ';
}

/// The fields every regular-file header of helm's has.
fn file_header(name_field: &str, prefix: &str, typeflag: u8, size: u64, mtime: u64) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    string(&mut b[0..100], name_field);
    octal(&mut b[100..108], if typeflag == b'0' { 0o644 } else { 0 });
    octal(&mut b[108..116], 0);
    octal(&mut b[116..124], 0);
    octal(&mut b[124..136], size);
    octal(&mut b[136..148], mtime);
    b[156] = typeflag;
    if typeflag == b'0' {
        octal(&mut b[329..337], 0);
        octal(&mut b[337..345], 0);
    }
    if !prefix.is_empty() {
        string(&mut b[345..500], prefix);
    }
    b
}

/// Go's `splitUSTARPath`: a prefix of at most 155 bytes and a name of at most 100.
fn split_ustar(name: &str) -> Option<(&str, &str)> {
    let len = name.len();
    if len <= 100 || !name.is_ascii() {
        return None;
    }
    let mut limit = len.min(156);
    if limit == len && name.ends_with('/') {
        limit -= 1;
    }
    let i = name[..limit].rfind('/')?;
    let (prefix, rest) = (&name[..i], &name[i + 1..]);
    if i == 0 || rest.len() > 100 || rest.is_empty() || prefix.len() > 155 {
        return None;
    }
    Some((prefix, rest))
}

/// A PAX record, `"%d %s=%s\n"` with the length counting itself.
fn pax_record(key: &str, value: &str) -> String {
    let base = key.len() + value.len() + 3;
    let size = base + base.to_string().len();
    let record = format!("{size} {key}={value}\n");
    if record.len() == size {
        return record;
    }
    format!("{} {key}={value}\n", record.len())
}

fn to_ascii(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii() && *c != '\0').collect()
}

/// The header blocks Go's `tar.Writer` writes for a regular file `name`.
fn go_headers(name: &str, size: u64, mtime: u64) -> Vec<Block> {
    if name.is_ascii() && name.len() <= 100 {
        let mut b = file_header(name, "", b'0', size, mtime);
        seal(&mut b);
        return vec![Block::Main(b)];
    }
    if let Some((prefix, rest)) = split_ustar(name) {
        let mut b = file_header(rest, prefix, b'0', size, mtime);
        seal(&mut b);
        return vec![Block::Main(b)];
    }
    let records = pax_record("path", name).into_bytes();
    let (dir, file) = match name.rfind('/') {
        Some(i) => (&name[..=i], &name[i + 1..]),
        None => ("", name),
    };
    let pax_name = wharf_template::go::clean_path(&format!("{dir}PaxHeaders.0/{file}"));
    let mut pax_name = to_ascii(&pax_name);
    pax_name.truncate(100);
    let pax_name = pax_name.trim_end_matches('/');
    let mut pax = file_header(pax_name, "", b'x', records.len() as u64, 0);
    seal(&mut pax);
    let mut main = file_header(&to_ascii(name), "", b'0', size, mtime);
    seal(&mut main);
    vec![Block::Pax(pax, records), Block::Main(main)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_byte_for_byte_what_go_writes() {
        let blocks = go_headers(
            "chart-with-compressed-dependencies/Chart.yaml",
            469,
            0o13641665572,
        );
        let [Block::Main(b)] = blocks.as_slice() else {
            panic!("expected one USTAR header")
        };
        // Taken from a chart archive helm itself wrote (helm's own test data,
        // pkg/action/testdata/charts/chart-with-compressed-dependencies-2.1.8.tgz):
        // the same fields, with its name, size and time.
        assert_eq!(&b[100..108], b"0000644\0");
        assert_eq!(&b[108..124], b"0000000\x000000000\x00");
        assert_eq!(&b[124..136], b"00000000725\0");
        assert_eq!(&b[136..148], b"13641665572\0");
        assert_eq!(b[156], b'0');
        assert_eq!(&b[257..265], b"ustar\x0000");
        assert_eq!(&b[329..345], b"0000000\x000000000\x00");
        assert_eq!(&b[155..156], b" ");
        assert_eq!(b[154], 0);
        let stored: u64 =
            u64::from_str_radix(std::str::from_utf8(&b[148..154]).unwrap_or("x"), 8).unwrap_or(0);
        let sum: u64 = b
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(x)
                }
            })
            .sum();
        assert_eq!(stored, sum);
    }

    #[test]
    fn long_names_use_the_ustar_prefix_then_pax() {
        let dir = "d".repeat(60);
        let name = format!("{dir}/{}", "f".repeat(60));
        let blocks = go_headers(&name, 1, 0);
        let [Block::Main(b)] = blocks.as_slice() else {
            panic!("one block")
        };
        assert_eq!(&b[0..60], "f".repeat(60).as_bytes());
        assert_eq!(&b[345..405], dir.as_bytes());
        let long = format!("{}/{}", "d".repeat(200), "f".repeat(120));
        let blocks = go_headers(&long, 1, 0);
        let [Block::Pax(pax, records), Block::Main(_)] = blocks.as_slice() else {
            panic!("expected a PAX header")
        };
        assert_eq!(pax[156], b'x');
        let text = String::from_utf8_lossy(records);
        let (len, rest) = text.split_once(' ').unwrap_or(("", ""));
        assert_eq!(len.parse::<usize>().ok(), Some(records.len()));
        assert_eq!(rest, format!("path={long}\n"));
        assert_eq!(pax_record("path", "a"), "9 path=a\n");
    }
}
