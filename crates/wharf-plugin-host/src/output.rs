//! A call's output: log-import messages and the guest's stdout/stderr, split into
//! lines, masked, counted against the output limit, and sent to the step's log
//! sink and to `tracing`.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use crate::services::{LogLevel, LogSink, LogSource};

/// Why a host function stopped the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Abort {
    /// The output limit was reached through this channel.
    Output(&'static str),
}

impl std::fmt::Display for Abort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Abort::Output(what) => write!(f, "output limit reached ({what})"),
        }
    }
}

struct LogInner {
    written: u64,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    last_stderr: VecDeque<String>,
    abort: Option<Abort>,
}

/// The line assembler of one call.
pub(crate) struct LineLog {
    plugin: String,
    step: String,
    limit: u64,
    secrets: Vec<String>,
    sink: Arc<dyn LogSink>,
    inner: Mutex<LogInner>,
}

impl LineLog {
    pub(crate) fn new(
        plugin: &str,
        step: &str,
        limit: u64,
        secrets: Vec<String>,
        sink: Arc<dyn LogSink>,
    ) -> LineLog {
        LineLog {
            plugin: plugin.to_string(),
            step: step.to_string(),
            limit,
            secrets: secrets.into_iter().filter(|s| !s.is_empty()).collect(),
            sink,
            inner: Mutex::new(LogInner {
                written: 0,
                stdout: Vec::new(),
                stderr: Vec::new(),
                last_stderr: VecDeque::new(),
                abort: None,
            }),
        }
    }

    /// Replaces every secret value in `text` with `***`.
    pub(crate) fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }

    fn emit(&self, source: LogSource, line: &str) {
        let line = self.mask(line.trim_end_matches('\r'));
        let (plugin, step) = (self.plugin.as_str(), self.step.as_str());
        match source {
            LogSource::Log(LogLevel::Trace) => tracing::trace!(plugin, step, "{line}"),
            LogSource::Log(LogLevel::Debug) => tracing::debug!(plugin, step, "{line}"),
            LogSource::Log(LogLevel::Info) | LogSource::Stdout => {
                tracing::info!(plugin, step, "{line}")
            }
            LogSource::Log(LogLevel::Warn) | LogSource::Stderr => {
                tracing::warn!(plugin, step, "{line}")
            }
            LogSource::Log(LogLevel::Error) => tracing::error!(plugin, step, "{line}"),
        }
        self.sink.line(source, &line);
    }

    fn count(&self, inner: &mut LogInner, bytes: usize, what: &'static str) -> Result<(), Abort> {
        inner.written = inner.written.saturating_add(bytes as u64);
        if inner.written > self.limit {
            let abort = Abort::Output(what);
            inner.abort = Some(abort.clone());
            return Err(abort);
        }
        Ok(())
    }

    /// A whole message from the log import (split at newlines).
    pub(crate) fn message(&self, source: LogSource, text: &str) -> Result<(), Abort> {
        {
            let mut inner = self.inner.lock().map_err(|_| Abort::Output("log lines"))?;
            self.count(&mut inner, text.len() + 1, "log lines")?;
        }
        for line in text.split('\n') {
            self.emit(source, line);
        }
        Ok(())
    }

    /// Bytes written to stdout or stderr: complete lines are emitted at once.
    pub(crate) fn write(&self, source: LogSource, bytes: &[u8]) -> Result<(), Abort> {
        let what = if source == LogSource::Stderr {
            "stderr"
        } else {
            "stdout"
        };
        let lines = {
            let mut inner = self.inner.lock().map_err(|_| Abort::Output(what))?;
            self.count(&mut inner, bytes.len(), what)?;
            let buffer = if source == LogSource::Stderr {
                &mut inner.stderr
            } else {
                &mut inner.stdout
            };
            buffer.extend_from_slice(bytes);
            let mut lines = Vec::new();
            while let Some(i) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=i).collect();
                lines.push(String::from_utf8_lossy(&line[..line.len() - 1]).into_owned());
            }
            if source == LogSource::Stderr {
                for l in &lines {
                    inner.last_stderr.push_back(self.mask(l));
                    if inner.last_stderr.len() > 3 {
                        inner.last_stderr.pop_front();
                    }
                }
            }
            lines
        };
        for line in lines {
            self.emit(source, &line);
        }
        Ok(())
    }

    /// Emits what is left of unterminated stdout/stderr lines.
    pub(crate) fn flush(&self) {
        let (out, err) = match self.inner.lock() {
            Ok(mut inner) => (
                std::mem::take(&mut inner.stdout),
                std::mem::take(&mut inner.stderr),
            ),
            Err(_) => return,
        };
        if !out.is_empty() {
            self.emit(LogSource::Stdout, &String::from_utf8_lossy(&out));
        }
        if !err.is_empty() {
            let line = String::from_utf8_lossy(&err).into_owned();
            if let Ok(mut inner) = self.inner.lock() {
                inner.last_stderr.push_back(self.mask(&line));
            }
            self.emit(LogSource::Stderr, &line);
        }
    }

    pub(crate) fn set_abort(&self, abort: Abort) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.abort.get_or_insert(abort);
        }
    }

    pub(crate) fn take_abort(&self) -> Option<Abort> {
        self.inner.lock().ok().and_then(|mut i| i.abort.take())
    }

    /// The last lines the guest wrote to stderr (a panic message, usually).
    pub(crate) fn last_stderr(&self) -> Vec<String> {
        self.inner
            .lock()
            .map(|i| i.last_stderr.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn written(&self) -> u64 {
        self.inner.lock().map(|i| i.written).unwrap_or(0)
    }
}

/// The guest's stdout or stderr, as WASI sees it.
#[derive(Clone)]
pub(crate) struct LogStream {
    pub(crate) log: Arc<LineLog>,
    pub(crate) source: LogSource,
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl OutputStream for LogStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.log
            .write(self.source, &bytes)
            .map_err(|why| StreamError::Trap(wasmtime::format_err!("{why}")))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for LogStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(
            self.log
                .write(self.source, buf)
                .map(|()| buf.len())
                .map_err(|why| std::io::Error::other(why.to_string())),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
