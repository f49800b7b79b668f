//! Tar archives: a local directory streamed to the engine (honouring `.dockerignore`),
//! an archive downloaded from the engine re-packed on the fly as a build context, and
//! small in-memory archives.
//!
//! File names are bytes: a name that is not UTF-8 is archived as it is (Unix); only
//! `.dockerignore` matching sees it with invalid bytes replaced.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
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

/// A `Read` (for a blocking thread) over chunks sent from async code. The sender marks
/// the end with an empty chunk; a sender dropped without it is an error, so that a
/// download cut short never passes for a complete archive.
pub(crate) struct ChannelReader {
    rx: mpsc::Receiver<Result<Bytes, io::Error>>,
    current: Bytes,
    finished: bool,
}

impl ChannelReader {
    pub(crate) fn new(rx: mpsc::Receiver<Result<Bytes, io::Error>>) -> ChannelReader {
        ChannelReader {
            rx,
            current: Bytes::new(),
            finished: false,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            if self.finished {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) if chunk.is_empty() => self.finished = true,
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the download stopped before its end",
                    ));
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
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
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let rel = rel.to_path_buf();
        let meta = fs::symlink_metadata(&path)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        let matched = match_name(&rel);
        if !ignore.is_empty() && ignore.excludes(&matched) {
            if meta.is_dir() && ignore.must_descend(&matched) {
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

/// A relative path as `.dockerignore` patterns see it: `/`-separated, bytes that are
/// not UTF-8 replaced (as Go's matcher reads them: each is a U+FFFD).
fn match_name(rel: &Path) -> String {
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

/// `name/`: how a directory is named in an archive.
fn dir_name(name: &Path) -> PathBuf {
    let mut with_slash = OsString::from(name.as_os_str());
    with_slash.push("/");
    PathBuf::from(with_slash)
}

/// Appends one file, directory or symlink under `name`; other file types are skipped.
pub(crate) fn append<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &Path,
    name: &Path,
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
            .append_data(&mut header, dir_name(name), io::empty())
            .map_err(failed)
    } else if file_type.is_file() {
        let file = fs::File::open(path).map_err(failed)?;
        header.set_size(meta.len());
        builder.append_data(&mut header, name, file).map_err(failed)
    } else {
        Ok(())
    }
}

/// Reads the archive holding one file of the context, by its path in the context.
pub(crate) type Fetch<'a> = dyn FnMut(&Path) -> Result<Box<dyn Read>, Error> + 'a;

/// Re-packs the archive `source` (as the engine's `GET /archive` sends it: every entry
/// under the copied directory's own name) into `builder` as the Docker CLI packs a
/// context: that first component dropped, what `ignore` excludes left out, entries
/// owned by root. Regular files, directories and links are kept; other types skipped.
///
/// A hard link whose target was left out cannot point at it: it is sent as a regular
/// file, with the contents of `fetch(target)` (an archive holding the target, as
/// `GET /archive` of that one file sends it).
pub(crate) fn repack_stripped<R: Read, W: Write>(
    source: R,
    builder: &mut tar::Builder<W>,
    ignore: &Matcher,
    fetch: &mut Fetch<'_>,
) -> Result<(), Error> {
    let bad = |e: io::Error| Error::io("cannot read the workspace", e);
    let mut tar = tar::Archive::new(source);
    // Directories left out with everything in them (moby's `filepath.SkipDir`).
    let mut skipped_dirs: Vec<PathBuf> = Vec::new();
    let mut sent: HashSet<PathBuf> = HashSet::new();
    for entry in tar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = entry.path().map_err(bad)?.into_owned();
        let Some(rel) = strip_first(&path)? else {
            continue;
        };
        if skipped_dirs.iter().any(|d| rel.starts_with(d)) {
            continue;
        }
        let kind = entry.header().entry_type();
        let matched = match_name(&rel);
        if !ignore.is_empty() && ignore.excludes(&matched) {
            if kind.is_dir() && !ignore.must_descend(&matched) {
                skipped_dirs.push(rel);
            }
            continue;
        }
        let mut header = Header::new_gnu();
        // Fields a hard link's header may leave empty get the defaults of a new file.
        let default_mode = if kind.is_dir() { 0o755 } else { 0o644 };
        header.set_mode(entry.header().mode().unwrap_or(default_mode));
        header.set_mtime(entry.header().mtime().unwrap_or(0));
        root_owned(&mut header);
        let failed =
            |e: io::Error| Error::io(format!("cannot add {} to the archive", rel.display()), e);
        match kind {
            EntryType::Directory => {
                header.set_entry_type(EntryType::Directory);
                header.set_size(0);
                builder
                    .append_data(&mut header, dir_name(&rel), io::empty())
                    .map_err(failed)?;
            }
            EntryType::Regular | EntryType::Continuous => {
                header.set_entry_type(EntryType::Regular);
                header.set_size(entry.size());
                builder
                    .append_data(&mut header, &rel, &mut entry)
                    .map_err(failed)?;
                sent.insert(rel);
            }
            EntryType::Symlink => {
                let Some(target) = entry.link_name().map_err(bad)? else {
                    continue;
                };
                header.set_entry_type(EntryType::Symlink);
                header.set_size(0);
                builder
                    .append_link(&mut header, &rel, target)
                    .map_err(failed)?;
            }
            EntryType::Link => {
                let Some(link) = entry.link_name().map_err(bad)? else {
                    continue;
                };
                let Some(target) = strip_first(&link)? else {
                    continue;
                };
                if sent.contains(&target) {
                    header.set_entry_type(EntryType::Link);
                    header.set_size(0);
                    builder
                        .append_link(&mut header, &rel, &target)
                        .map_err(failed)?;
                } else {
                    let mut single = tar::Archive::new(fetch(&target)?);
                    let mut copied = false;
                    for inner in single.entries().map_err(bad)? {
                        let mut inner = inner.map_err(bad)?;
                        if inner.header().entry_type().is_file() {
                            header.set_entry_type(EntryType::Regular);
                            header.set_size(inner.size());
                            builder
                                .append_data(&mut header, &rel, &mut inner)
                                .map_err(failed)?;
                            copied = true;
                            break;
                        }
                    }
                    if !copied {
                        return Err(Error::msg(format!(
                            "cannot add {} to the archive: its hard link target {} is not a regular file",
                            rel.display(),
                            target.display()
                        )));
                    }
                    sent.insert(rel);
                }
            }
            _ => {}
        }
    }
    Ok(())
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

    /// `(name, contents)` of every entry; a hard link's contents are `-> target`.
    fn contents(archive: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut tar = tar::Archive::new(archive);
        let mut out = Vec::new();
        for e in tar.entries().unwrap_or_else(|e| panic!("{e}")) {
            let mut e = e.unwrap_or_else(|e| panic!("{e}"));
            let name = e.path_bytes().into_owned();
            let mut data = Vec::new();
            if e.header().entry_type() == EntryType::Link {
                data.extend_from_slice(b"-> ");
                data.extend_from_slice(&e.link_name_bytes().unwrap_or_default());
            } else {
                e.read_to_end(&mut data).unwrap_or_else(|e| panic!("{e}"));
            }
            assert_eq!(e.header().uid().ok(), Some(0));
            out.push((name, data));
        }
        out
    }

    /// An archive as the engine sends it, with hard links.
    fn engine_archive() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut dir = Header::new_gnu();
        dir.set_entry_type(EntryType::Directory);
        dir.set_mode(0o755);
        dir.set_size(0);
        b.append_data(&mut dir.clone(), "workspace/", io::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        for (name, data) in [
            ("workspace/x.txt", &b"x"[..]),
            ("workspace/skip.log", b"skipped"),
            ("workspace/vendor/drop", b"d"),
        ] {
            append_bytes(&mut b, name, data, 0o644).unwrap_or_else(|e| panic!("{e}"));
        }
        b.append_data(&mut dir, "workspace/sub/", io::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut latin1 = Header::new_gnu();
        latin1.set_entry_type(EntryType::Regular);
        latin1.set_mode(0o644);
        latin1.set_size(2);
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt as _;
            let name = std::ffi::OsStr::from_bytes(b"workspace/sub/caf\xe9.txt");
            b.append_data(&mut latin1, name, &b"l1"[..])
                .unwrap_or_else(|e| panic!("{e}"));
        }
        for (name, target) in [
            ("workspace/sub/x-link", "workspace/x.txt"),
            ("workspace/log-link", "workspace/skip.log"),
        ] {
            let mut link = Header::new_gnu();
            link.set_entry_type(EntryType::Link);
            link.set_size(0);
            b.append_link(&mut link, name, target)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        b.into_inner().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn repacking_drops_the_top_directory_and_what_is_ignored() {
        let ignore =
            Matcher::new(&["*.log".into(), "vendor".into()]).unwrap_or_else(|e| panic!("{e}"));
        let mut fetched = Vec::new();
        let mut fetch = |target: &Path| -> Result<Box<dyn Read>, Error> {
            fetched.push(target.to_path_buf());
            let single = in_memory(&[("skip.log", b"skipped", 0o644)])?;
            Ok(Box::new(io::Cursor::new(single)))
        };
        let mut builder = tar::Builder::new(Vec::new());
        repack_stripped(
            engine_archive().as_slice(),
            &mut builder,
            &ignore,
            &mut fetch,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let archive = builder.into_inner().unwrap_or_else(|e| panic!("{e}"));
        let got = contents(&archive);
        let mut expected: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (b"x.txt".to_vec(), b"x".to_vec()),
            (b"sub/".to_vec(), Vec::new()),
        ];
        if cfg!(unix) {
            expected.push((b"sub/caf\xe9.txt".to_vec(), b"l1".to_vec()));
        }
        expected.extend([
            // A link to a file that was sent stays a link.
            (b"sub/x-link".to_vec(), b"-> x.txt".to_vec()),
            // A link to a file that was left out gets the contents.
            (b"log-link".to_vec(), b"skipped".to_vec()),
        ]);
        assert_eq!(got, expected);
        assert_eq!(fetched, [PathBuf::from("skip.log")]);
    }

    #[test]
    fn a_download_cut_short_is_an_error() {
        let (tx, rx) = mpsc::channel(4);
        let sender = std::thread::spawn(move || {
            let _ = tx.blocking_send(Ok(Bytes::from_static(b"abc")));
        });
        let mut reader = ChannelReader::new(rx);
        let mut out = Vec::new();
        let result = reader.read_to_end(&mut out);
        let _ = sender.join();
        assert_eq!(out, b"abc");
        assert_eq!(
            result.map_err(|e| e.kind()),
            Err(io::ErrorKind::UnexpectedEof)
        );

        let (tx, rx) = mpsc::channel(4);
        let sender = std::thread::spawn(move || {
            let _ = tx.blocking_send(Ok(Bytes::from_static(b"abc")));
            let _ = tx.blocking_send(Ok(Bytes::new()));
        });
        let mut out = Vec::new();
        let result = ChannelReader::new(rx).read_to_end(&mut out);
        let _ = sender.join();
        assert_eq!(result.ok(), Some(3));
    }

    #[cfg(unix)]
    #[test]
    fn names_that_are_not_utf8_are_archived_as_they_are() {
        use std::os::unix::ffi::OsStrExt as _;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
        fs::write(dir.path().join(name), "x").unwrap_or_else(|e| panic!("{e}"));
        let skipped = std::ffi::OsStr::from_bytes(b"skip\xe9");
        fs::create_dir(dir.path().join(skipped)).unwrap_or_else(|e| panic!("{e}"));
        let ignore = Matcher::new(&["skip?".into()]).unwrap_or_else(|e| panic!("{e}"));
        let mut builder = tar::Builder::new(Vec::new());
        add_dir(&mut builder, dir.path(), &ignore).unwrap_or_else(|e| panic!("{e}"));
        let archive = builder.into_inner().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            contents(&archive),
            [(b"caf\xe9.txt".to_vec(), b"x".to_vec())]
        );
    }
}
