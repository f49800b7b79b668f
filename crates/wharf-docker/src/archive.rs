//! Tar archives: a local directory streamed to the engine (honouring `.dockerignore`),
//! small in-memory archives, and archives downloaded from the engine unpacked safely.

use std::fs;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use futures_util::Stream;
use tar::{EntryType, Header, HeaderMode};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::dockerignore::Matcher;
use crate::error::Error;

/// Size of the chunks sent to the engine.
const CHUNK: usize = 64 * 1024;

/// A `Write` that sends what it is given, in chunks, to an async receiver.
pub(crate) struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the engine stopped reading"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send_buffer()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffer()
    }
}

/// A tar archive produced on a blocking thread by `produce`, as a byte stream for the
/// engine, and the producer's result (await it after the request for a precise error).
pub(crate) fn stream_tar<F>(
    produce: F,
) -> (
    impl Stream<Item = Result<Bytes, io::Error>> + Send + 'static,
    JoinHandle<Result<(), Error>>,
)
where
    F: FnOnce(&mut tar::Builder<ChannelWriter>) -> Result<(), Error> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(8);
    let handle = tokio::task::spawn_blocking(move || {
        let writer = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let mut builder = tar::Builder::new(writer);
        builder.follow_symlinks(false);
        let result = produce(&mut builder).and_then(|()| {
            builder
                .into_inner()
                .and_then(|mut w| w.flush())
                .map_err(|e| Error::io("cannot write the archive", e))
        });
        if let Err(e) = &result {
            let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
        }
        result
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (stream, handle)
}

/// Adds the contents of directory `root` (not `root` itself) to `builder`, leaving out
/// what `ignore` excludes, the way the Docker CLI builds a context archive. Entries are
/// owned by root, as files checked out by ACR are.
pub(crate) fn add_dir<W: Write>(
    builder: &mut tar::Builder<W>,
    root: &Path,
    ignore: &Matcher,
) -> Result<(), Error> {
    walk(builder, root, root, ignore)
}

fn walk<W: Write>(
    builder: &mut tar::Builder<W>,
    root: &Path,
    dir: &Path,
    ignore: &Matcher,
) -> Result<(), Error> {
    let mut entries: Vec<fs::DirEntry> = fs::read_dir(dir)
        .map_err(|e| Error::io(format!("cannot read directory {}", dir.display()), e))?
        .collect::<Result<_, _>>()
        .map_err(|e| Error::io(format!("cannot read directory {}", dir.display()), e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let Some(rel) = relative_name(root, &path) else {
            continue;
        };
        let meta = fs::symlink_metadata(&path)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        if !ignore.is_empty() && ignore.excludes(&rel) {
            if meta.is_dir() && ignore.must_descend(&rel) {
                walk(builder, root, &path, ignore)?;
            }
            continue;
        }
        append(builder, &path, &rel, &meta)?;
        if meta.is_dir() {
            walk(builder, root, &path, ignore)?;
        }
    }
    Ok(())
}

/// `path` relative to `root`, `/`-separated; `None` for names that are not UTF-8.
fn relative_name(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

/// Appends one file, directory or symlink under `name`; other file types are skipped.
pub(crate) fn append<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &Path,
    name: &str,
    meta: &fs::Metadata,
) -> Result<(), Error> {
    let mut header = Header::new_gnu();
    header.set_metadata_in_mode(meta, HeaderMode::Complete);
    root_owned(&mut header);
    let failed =
        |e: io::Error| Error::io(format!("cannot add {} to the archive", path.display()), e);
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        let target = fs::read_link(path).map_err(failed)?;
        header.set_size(0);
        builder
            .append_link(&mut header, name, target)
            .map_err(failed)
    } else if file_type.is_dir() {
        header.set_size(0);
        builder
            .append_data(&mut header, format!("{name}/"), io::empty())
            .map_err(failed)
    } else if file_type.is_file() {
        let file = fs::File::open(path).map_err(failed)?;
        header.set_size(meta.len());
        builder.append_data(&mut header, name, file).map_err(failed)
    } else {
        Ok(())
    }
}

/// Appends an in-memory file.
pub(crate) fn append_bytes<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &str,
    data: &[u8],
    mode: u32,
) -> Result<(), Error> {
    let mut header = Header::new_gnu();
    header.set_entry_type(EntryType::Regular);
    header.set_mode(mode);
    header.set_size(data.len() as u64);
    header.set_mtime(now_secs());
    root_owned(&mut header);
    builder
        .append_data(&mut header, name, data)
        .map_err(|e| Error::io(format!("cannot add {name} to the archive"), e))
}

/// An archive of in-memory files (`name`, contents, mode).
pub(crate) fn in_memory(files: &[(&str, &[u8], u32)]) -> Result<Vec<u8>, Error> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data, mode) in files {
        append_bytes(&mut builder, name, data, *mode)?;
    }
    builder
        .into_inner()
        .map_err(|e| Error::io("cannot write the archive", e))
}

fn root_owned(header: &mut Header) {
    header.set_uid(0);
    header.set_gid(0);
    let _ = header.set_username("root");
    let _ = header.set_groupname("root");
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Unpacks the archive at `archive` (as the engine's `GET /archive` sends it: every
/// entry under the copied directory's own name) into `dest`, dropping that first
/// component. Refuses entries that would land outside `dest`.
pub(crate) fn unpack_stripped(archive: &Path, dest: &Path) -> Result<(), Error> {
    let file =
        fs::File::open(archive).map_err(|e| Error::io("cannot open the downloaded archive", e))?;
    let mut tar = tar::Archive::new(file);
    let bad = |e: io::Error| Error::io("cannot read the archive sent by the engine", e);
    let mut dir_modes: Vec<(PathBuf, u32)> = Vec::new();
    for entry in tar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = entry.path().map_err(bad)?.into_owned();
        let Some(rel) = strip_first(&path)? else {
            continue;
        };
        let target = dest.join(&rel);
        check_no_symlink_parent(dest, &rel)?;
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| Error::io(format!("cannot create {}", parent.display()), e))?;
        }
        let unpack_failed = |e: io::Error| Error::io(format!("cannot unpack {}", rel.display()), e);
        match entry.header().entry_type() {
            EntryType::Directory => {
                fs::create_dir_all(&target).map_err(unpack_failed)?;
                if let Ok(mode) = entry.header().mode() {
                    dir_modes.push((target, mode));
                }
            }
            EntryType::Link => {
                let Some(link) = entry.link_name().map_err(bad)? else {
                    continue;
                };
                let Some(link_rel) = strip_first(&link)? else {
                    continue;
                };
                let source = dest.join(link_rel);
                if fs::hard_link(&source, &target).is_err() {
                    fs::copy(&source, &target).map_err(unpack_failed)?;
                }
            }
            EntryType::Regular | EntryType::Symlink | EntryType::Continuous => {
                entry.unpack(&target).map_err(unpack_failed)?;
            }
            _ => {}
        }
    }
    // Directory modes last, so read-only directories can still be filled.
    for (dir, mode) in dir_modes.into_iter().rev() {
        set_mode(&dir, mode | 0o700);
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    let _ = fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o7777));
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) {}

/// The path without its first component; `None` for the top entry itself.
fn strip_first(path: &Path) -> Result<Option<PathBuf>, Error> {
    let mut rest = PathBuf::new();
    let mut first = true;
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::Normal(_) if first => first = false,
            Component::Normal(part) => rest.push(part),
            _ => {
                return Err(Error::msg(format!(
                    "the engine sent an archive entry outside its directory: {}",
                    path.display()
                )));
            }
        }
    }
    Ok((!rest.as_os_str().is_empty()).then_some(rest))
}

/// Refuses to write through a symlink that an earlier entry created.
fn check_no_symlink_parent(dest: &Path, rel: &Path) -> Result<(), Error> {
    let mut current = dest.to_path_buf();
    let parents: Vec<Component<'_>> = rel.components().collect();
    for c in parents.iter().take(parents.len().saturating_sub(1)) {
        current.push(c);
        if fs::symlink_metadata(&current).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::msg(format!(
                "the archive writes through the symbolic link {}",
                rel.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(archive: &[u8]) -> Vec<String> {
        let mut tar = tar::Archive::new(archive);
        let mut out = Vec::new();
        for e in tar.entries().unwrap_or_else(|e| panic!("{e}")) {
            let e = e.unwrap_or_else(|e| panic!("{e}"));
            out.push(
                e.path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
        }
        out
    }

    #[test]
    fn directories_honour_dockerignore() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = dir.path();
        for (p, c) in [
            ("a.txt", "a"),
            ("skip.log", "x"),
            ("vendor/keep", "k"),
            ("vendor/drop", "d"),
            ("sub/b.txt", "b"),
        ] {
            let path = root.join(p);
            fs::create_dir_all(path.parent().unwrap_or(root)).unwrap_or_else(|e| panic!("{e}"));
            fs::write(path, c).unwrap_or_else(|e| panic!("{e}"));
        }
        let ignore = Matcher::new(&["*.log".into(), "vendor".into(), "!vendor/keep".into()])
            .unwrap_or_else(|e| panic!("{e}"));
        let mut builder = tar::Builder::new(Vec::new());
        add_dir(&mut builder, root, &ignore).unwrap_or_else(|e| panic!("{e}"));
        let archive = builder.into_inner().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            names(&archive),
            ["a.txt", "sub/", "sub/b.txt", "vendor/keep"]
        );
    }

    #[test]
    fn unpacking_drops_the_top_directory() {
        let archive = in_memory(&[
            ("workspace/x.txt", b"x", 0o644),
            ("workspace/d/y.txt", b"y", 0o755),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("a.tar");
        fs::write(&file, archive).unwrap_or_else(|e| panic!("{e}"));
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap_or_else(|e| panic!("{e}"));
        unpack_stripped(&file, &out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            fs::read_to_string(out.join("x.txt")).ok().as_deref(),
            Some("x")
        );
        assert_eq!(
            fs::read_to_string(out.join("d/y.txt")).ok().as_deref(),
            Some("y")
        );
    }
}
