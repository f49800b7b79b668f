//! BuildKit's solve status (the `moby.buildkit.trace` messages of a `/build` stream)
//! as readable log lines, in the form of `docker build --progress=plain`:
//!
//! ```text
//! #5 [stage-1 2/3] RUN make
//! #5 0.516 compiling...
//! #5 DONE 2.1s
//! ```
//!
//! Every line starts with its step's number, so the lines of stages that BuildKit runs
//! in parallel stay readable when they interleave. Unlike the CLI's printer, lines are
//! written as soon as they are known (a step log is live), and progress counters are
//! shown only when they finish or every few seconds.

use std::collections::HashMap;

use bollard_buildkit_proto::google::protobuf::Timestamp;
use bollard_buildkit_proto::moby::buildkit::v1::StatusResponse;

/// A running counter (bytes transferred, ...) is shown at most this often.
const STATUS_EVERY_SECS: f64 = 5.0;

/// The longest part of a log line held back waiting for its end. BuildKit clips a
/// step's log long before this; the bound only guards against a misbehaving engine.
const MAX_PARTIAL_LINE: usize = 4 << 20;

/// One BuildKit vertex (a step of the build graph).
#[derive(Debug, Default)]
struct Vertex {
    /// `#N`, in the order the vertices appeared.
    index: usize,
    name: String,
    started: Option<f64>,
    header_shown: bool,
    done_shown: bool,
    /// The end of its output that has no newline yet.
    partial: Vec<u8>,
    /// When each counter was last shown.
    status_shown: HashMap<String, f64>,
}

/// Turns solve status messages into lines.
#[derive(Debug, Default)]
pub(crate) struct SolveProgress {
    vertices: HashMap<String, Vertex>,
    /// The name and error of the last vertex that failed.
    failed: Option<(String, String)>,
}

impl SolveProgress {
    /// The lines one status message adds.
    pub(crate) fn lines(&mut self, status: &StatusResponse) -> Vec<String> {
        let mut out = Vec::new();
        // Starts first, then counters and output, then ends: a vertex that starts,
        // prints and finishes within one message reads in that order.
        for v in &status.vertexes {
            let vertex = self.vertex(&v.digest);
            if !v.name.is_empty() {
                vertex.name.clone_from(&v.name);
            }
            if let Some(t) = v.started.as_ref().map(seconds) {
                vertex.started.get_or_insert(t);
            }
            if (v.started.is_some() || v.completed.is_some() || v.cached) && !vertex.header_shown {
                vertex.header_shown = true;
                out.push(format!("#{} {}", vertex.index, vertex.name));
            }
        }
        for s in &status.statuses {
            let vertex = self.vertex(&s.vertex);
            let now = s.timestamp.as_ref().map_or(0.0, seconds);
            let label = if s.id.is_empty() { &s.name } else { &s.id };
            let shown = vertex.status_shown.get(label).copied();
            let show = match (s.completed.is_some(), shown) {
                (true, Some(at)) => at.is_finite(),
                (true, None) => true,
                (false, None) => false,
                (false, Some(at)) => now - at >= STATUS_EVERY_SECS,
            };
            if !show {
                if shown.is_none() {
                    vertex.status_shown.insert(label.clone(), now);
                }
                continue;
            }
            let mut line = format!("#{} {label}", vertex.index);
            if s.total != 0 {
                line.push_str(&format!(" {} / {}", size(s.current), size(s.total)));
            } else if s.current != 0 {
                line.push_str(&format!(" {}", size(s.current)));
            }
            let end = s.completed.as_ref().map_or(now, seconds);
            if let Some(start) = s.started.as_ref().map(seconds)
                && end - start > 0.01
            {
                line.push_str(&format!(" {:.1}s", end - start));
            }
            if s.completed.is_some() {
                line.push_str(" done");
                // Shown finished: never again.
                vertex.status_shown.insert(label.clone(), f64::INFINITY);
            } else {
                vertex.status_shown.insert(label.clone(), now);
            }
            out.push(line);
        }
        for log in &status.logs {
            let vertex = self.vertex(&log.vertex);
            let at = log.timestamp.as_ref().map(seconds);
            let elapsed = match (at, vertex.started) {
                (Some(at), Some(start)) => (at - start).max(0.0),
                _ => 0.0,
            };
            vertex.partial.extend_from_slice(&log.msg);
            let index = vertex.index;
            while let Some(newline) = vertex.partial.iter().position(|&b| b == b'\n') {
                let rest = vertex.partial.split_off(newline + 1);
                let line = std::mem::replace(&mut vertex.partial, rest);
                out.push(log_line(index, elapsed, &line[..newline]));
            }
            if vertex.partial.len() > MAX_PARTIAL_LINE {
                let line = std::mem::take(&mut vertex.partial);
                out.push(log_line(index, elapsed, &line));
            }
        }
        for w in &status.warnings {
            let vertex = self.vertex(&w.vertex);
            out.push(format!(
                "#{} WARN: {}",
                vertex.index,
                String::from_utf8_lossy(&w.short)
            ));
        }
        for v in status.vertexes.iter().filter(|v| v.completed.is_some()) {
            let failure = {
                let vertex = self.vertex(&v.digest);
                if vertex.done_shown {
                    continue;
                }
                vertex.done_shown = true;
                if !vertex.partial.is_empty() {
                    let line = std::mem::take(&mut vertex.partial);
                    out.push(log_line(vertex.index, 0.0, &line));
                }
                let index = vertex.index;
                if !v.error.is_empty() {
                    if v.error.ends_with("context canceled") {
                        out.push(format!("#{index} CANCELED"));
                        None
                    } else {
                        out.push(format!("#{index} ERROR: {}", v.error));
                        Some((vertex.name.clone(), v.error.clone()))
                    }
                } else if v.cached {
                    out.push(format!("#{index} CACHED"));
                    None
                } else {
                    let took = match (vertex.started, v.completed.as_ref().map(seconds)) {
                        (Some(start), Some(end)) => format!(" {:.1}s", (end - start).max(0.0)),
                        _ => String::new(),
                    };
                    out.push(format!("#{index} DONE{took}"));
                    None
                }
            };
            if failure.is_some() {
                self.failed = failure;
            }
        }
        out
    }

    /// Output lines still waiting for their newline (at the end of the build).
    pub(crate) fn finish(&mut self) -> Vec<String> {
        let mut rest: Vec<(usize, Vec<u8>)> = self
            .vertices
            .values_mut()
            .filter(|v| !v.partial.is_empty())
            .map(|v| (v.index, std::mem::take(&mut v.partial)))
            .collect();
        rest.sort_by_key(|(index, _)| *index);
        rest.into_iter()
            .map(|(index, line)| log_line(index, 0.0, &line))
            .collect()
    }

    /// The name of the step that failed last, and its error (`[stage 2/3] RUN make`).
    pub(crate) fn failed_step(&self) -> Option<&(String, String)> {
        self.failed.as_ref()
    }

    fn vertex(&mut self, digest: &str) -> &mut Vertex {
        let next = self.vertices.len() + 1;
        self.vertices
            .entry(digest.to_string())
            .or_insert_with(|| Vertex {
                index: next,
                ..Vertex::default()
            })
    }
}

/// A line of a step's output: `#N <seconds since the step started> <text>`. A line
/// that a program redrew with carriage returns shows what a terminal would.
fn log_line(index: usize, elapsed: f64, line: &[u8]) -> String {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let shown = match line.iter().rposition(|&b| b == b'\r') {
        Some(cr) => &line[cr + 1..],
        None => line,
    };
    format!("#{index} {elapsed:.3} {}", String::from_utf8_lossy(shown))
}

fn seconds(t: &Timestamp) -> f64 {
    t.seconds as f64 + f64::from(t.nanos) / 1e9
}

/// A byte count as BuildKit prints it (decimal units: `315B`, `2.02kB`, `1.50MB`).
fn size(bytes: i64) -> String {
    let mut value = bytes as f64;
    if value.abs() < 1000.0 {
        return format!("{bytes}B");
    }
    for unit in ["kB", "MB", "GB", "TB"] {
        value /= 1000.0;
        if value.abs() < 1000.0 {
            return format!("{value:.2}{unit}");
        }
    }
    format!("{value:.2}PB")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_buildkit_proto::moby::buildkit::v1::{Vertex as V, VertexLog, VertexStatus};

    fn at(seconds: i64, millis: i32) -> Option<Timestamp> {
        Some(Timestamp {
            seconds,
            nanos: millis * 1_000_000,
        })
    }

    fn vertex(digest: &str, name: &str) -> V {
        V {
            digest: digest.into(),
            name: name.into(),
            ..V::default()
        }
    }

    #[test]
    fn a_step_reads_like_plain_progress() {
        let mut p = SolveProgress::default();
        let started = V {
            started: at(100, 0),
            ..vertex("sha256:a", "[stage-1 2/3] RUN make")
        };
        let lines = p.lines(&StatusResponse {
            vertexes: vec![started.clone()],
            logs: vec![VertexLog {
                vertex: "sha256:a".into(),
                timestamp: at(100, 516),
                stream: 1,
                msg: b"compiling\npart".to_vec(),
            }],
            ..StatusResponse::default()
        });
        assert_eq!(lines, ["#1 [stage-1 2/3] RUN make", "#1 0.516 compiling"]);
        let lines = p.lines(&StatusResponse {
            vertexes: vec![V {
                completed: at(102, 100),
                ..started
            }],
            logs: vec![VertexLog {
                vertex: "sha256:a".into(),
                timestamp: at(101, 0),
                stream: 1,
                msg: b"ial line\n".to_vec(),
            }],
            ..StatusResponse::default()
        });
        assert_eq!(lines, ["#1 1.000 partial line", "#1 DONE 2.1s"]);
    }

    #[test]
    fn cached_failed_and_interleaved_steps() {
        let mut p = SolveProgress::default();
        let lines = p.lines(&StatusResponse {
            vertexes: vec![
                V {
                    cached: true,
                    started: at(1, 0),
                    completed: at(1, 0),
                    ..vertex("a", "[a 1/2] RUN one")
                },
                V {
                    started: at(1, 0),
                    ..vertex("b", "[b 1/2] RUN two")
                },
            ],
            ..StatusResponse::default()
        });
        assert_eq!(
            lines,
            ["#1 [a 1/2] RUN one", "#2 [b 1/2] RUN two", "#1 CACHED"]
        );
        let lines = p.lines(&StatusResponse {
            vertexes: vec![V {
                started: at(1, 0),
                completed: at(2, 0),
                error: "process \"/bin/sh -c two\" did not complete successfully: exit code: 3"
                    .into(),
                ..vertex("b", "[b 1/2] RUN two")
            }],
            ..StatusResponse::default()
        });
        assert_eq!(
            lines,
            ["#2 ERROR: process \"/bin/sh -c two\" did not complete successfully: exit code: 3"]
        );
        assert_eq!(
            p.failed_step().map(|(name, _)| name.as_str()),
            Some("[b 1/2] RUN two")
        );
    }

    #[test]
    fn counters_show_when_done_or_every_few_seconds() {
        let mut p = SolveProgress::default();
        let status = |now: i64, current: i64, done: bool| VertexStatus {
            id: "transferring context:".into(),
            vertex: "c".into(),
            current,
            timestamp: at(now, 0),
            started: at(10, 0),
            completed: if done { at(now, 0) } else { None },
            ..VertexStatus::default()
        };
        let mut shown = Vec::new();
        for (now, current, done) in [(10, 10, false), (11, 2_000, false), (16, 50_000, false)] {
            shown.extend(p.lines(&StatusResponse {
                statuses: vec![status(now, current, done)],
                ..StatusResponse::default()
            }));
        }
        shown.extend(p.lines(&StatusResponse {
            statuses: vec![status(17, 2_500_000, true)],
            ..StatusResponse::default()
        }));
        assert_eq!(
            shown,
            [
                "#1 transferring context: 50.00kB 6.0s",
                "#1 transferring context: 2.50MB 7.0s done"
            ]
        );
    }

    #[test]
    fn redrawn_lines_and_sizes() {
        assert_eq!(log_line(3, 1.5, b"10%\r55%\r100%\r"), "#3 1.500 100%");
        assert_eq!(size(315), "315B");
        assert_eq!(size(2_020), "2.02kB");
        assert_eq!(size(1_500_000), "1.50MB");
    }

    #[test]
    fn unfinished_output_is_flushed_at_the_end() {
        let mut p = SolveProgress::default();
        p.lines(&StatusResponse {
            logs: vec![VertexLog {
                vertex: "x".into(),
                msg: b"no newline".to_vec(),
                ..VertexLog::default()
            }],
            ..StatusResponse::default()
        });
        assert_eq!(p.finish(), ["#1 0.000 no newline"]);
        assert!(p.finish().is_empty());
    }
}
