//! `wharf cert generate-test NAME [--days N] [--dir DIR]`: NAME.key (PKCS#8 EC P-256,
//! mode 0600) and NAME.crt (self-signed, code signing, as notation's test
//! certificates).

use std::process::ExitCode;

use crate::cli_trust::CertGenerateTestArgs;
use crate::commands::print;
use crate::commands::registry::usage;
use crate::commands::sign::trust_fail;

/// `wharf cert generate-test`.
pub fn run(args: &CertGenerateTestArgs) -> ExitCode {
    let cert =
        match wharf_trust::certs::generate_test(&args.name, args.days, jiff::Timestamp::now()) {
            Ok(c) => c,
            Err(e) => return trust_fail(&e),
        };
    if let Err(e) = std::fs::create_dir_all(&args.dir) {
        return usage(format!("cannot create {}: {e}", args.dir.display()));
    }
    let key_path = args.dir.join(format!("{}.key", args.name));
    let cert_path = args.dir.join(format!("{}.crt", args.name));
    if let Err(e) = write_private(&key_path, cert.key_pem.as_bytes()) {
        return usage(format!("cannot write {}: {e}", key_path.display()));
    }
    if let Err(e) = std::fs::write(&cert_path, cert.cert_pem.as_bytes()) {
        return usage(format!("cannot write {}: {e}", cert_path.display()));
    }
    print(&format!(
        "Generated {} (EC P-256) and {} ({}, valid {} day{})\n",
        key_path.display(),
        cert_path.display(),
        wharf_trust::certs::test_subject(&args.name),
        args.days,
        if args.days == 1 { "" } else { "s" }
    ))
}

/// Writes a file only its owner can read.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}
