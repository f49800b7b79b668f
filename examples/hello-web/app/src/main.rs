//! hello-web: a tiny HTTP service, built as a static binary into a `FROM scratch`
//! image by the hello-web example pipeline. No dependencies beyond std.
//!
//! - `hello-web` serves on 0.0.0.0:8080 (`PORT` overrides): `/health` answers `ok`,
//!   every other path a greeting.
//! - `hello-web probe URL` fetches `http://host:port/path` and exits 0 on a 200
//!   answer, 1 otherwise — the smoke test, without needing curl in the image.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("probe") => match args.get(1) {
            Some(url) => probe(url),
            None => {
                eprintln!("usage: hello-web probe http://HOST:PORT/PATH");
                ExitCode::from(2)
            }
        },
        Some(other) => {
            eprintln!("unknown command {other}; usage: hello-web [probe URL]");
            ExitCode::from(2)
        }
        None => serve(),
    }
}

fn serve() -> ExitCode {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    let listener = match TcpListener::bind(format!("0.0.0.0:{port}")) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hello-web: cannot listen on port {port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("hello-web: listening on :{port}");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || handle(stream));
    }
    ExitCode::SUCCESS
}

fn handle(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    // The whole request head is read before answering: closing the connection
    // with request bytes unread would reset it under a client still writing.
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 0) && header.trim_end() != "" {
        header.clear();
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let body = if path == "/health" {
        "ok\n".to_string()
    } else {
        format!("hello from wharf! you asked for {path}\n")
    };
    println!("hello-web: GET {path}");
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn probe(url: &str) -> ExitCode {
    let Some(rest) = url.strip_prefix("http://") else {
        eprintln!("probe: only http:// URLs are supported, not {url}");
        return ExitCode::from(2);
    };
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    let mut stream = match TcpStream::connect(&host) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("probe: cannot connect to {host}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if let Err(e) = stream.write_all(request.as_bytes()) {
        eprintln!("probe: cannot send the request: {e}");
        return ExitCode::FAILURE;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response.lines().next().unwrap_or_default().to_string();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default().trim();
    println!("probe: {url} -> {status} {body}");
    if status.split_whitespace().nth(1) == Some("200") {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_health_and_probe_accepts_it() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                handle(stream);
            }
        });
        assert_eq!(probe(&format!("http://{addr}/health")), ExitCode::SUCCESS);
        assert_eq!(probe("http://127.0.0.1:1/health"), ExitCode::FAILURE);
    }
}
