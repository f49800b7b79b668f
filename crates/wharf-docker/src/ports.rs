//! `docker run -p` and `--expose` syntax (moby `nat.ParsePortSpec`).

use std::collections::HashMap;

use bollard::models::PortBinding;

/// Published ports and exposed ports of a container.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Ports {
    /// `port/proto` → host bindings.
    pub bindings: HashMap<String, Vec<PortBinding>>,
    /// Every `port/proto` the container exposes.
    pub exposed: Vec<String>,
}

impl Ports {
    /// Parses the step's `ports` (`-p`) and `expose` entries.
    pub(crate) fn parse(publish: &[String], expose: &[String]) -> Result<Ports, String> {
        let mut ports = Ports::default();
        for spec in publish {
            for (key, binding) in parse_publish(spec)? {
                ports.expose(&key);
                ports.bindings.entry(key).or_default().push(binding);
            }
        }
        for spec in expose {
            let (range, proto) = split_proto(spec)?;
            let (start, end) =
                parse_range(range).ok_or_else(|| format!("invalid port {spec:?} in expose"))?;
            for port in start..=end {
                ports.expose(&format!("{port}/{proto}"));
            }
        }
        Ok(ports)
    }

    fn expose(&mut self, key: &str) {
        if !self.exposed.iter().any(|k| k == key) {
            self.exposed.push(key.to_string());
        }
    }
}

/// `80/udp` → (`80`, `udp`); the protocol defaults to tcp.
fn split_proto(spec: &str) -> Result<(&str, &str), String> {
    match spec.rsplit_once('/') {
        Some((port, proto)) => match proto.to_ascii_lowercase().as_str() {
            "tcp" | "udp" | "sctp" => Ok((port, proto)),
            _ => Err(format!("invalid protocol {proto:?} in port {spec:?}")),
        },
        None => Ok((spec, "tcp")),
    }
}

/// `80` or `8000-8010`.
fn parse_range(text: &str) -> Option<(u16, u16)> {
    let (a, b) = match text.split_once('-') {
        Some((a, b)) => (a, b),
        None => (text, text),
    };
    let start: u16 = a.trim().parse().ok()?;
    let end: u16 = b.trim().parse().ok()?;
    (start <= end && start > 0).then_some((start, end))
}

/// `[ip:][hostPort:]containerPort[/proto]`, with ranges and bracketed IPv6 addresses.
fn parse_publish(spec: &str) -> Result<Vec<(String, PortBinding)>, String> {
    let invalid = || {
        format!("invalid port mapping {spec:?} (expected [ip:][hostPort:]containerPort[/protocol])")
    };
    let (rest, proto) = split_proto(spec)?;
    let (ip, host, container) = if let Some(after) = rest.strip_prefix('[') {
        let (ip, tail) = after.split_once(']').ok_or_else(invalid)?;
        let tail = tail.strip_prefix(':').ok_or_else(invalid)?;
        let (host, container) = tail.split_once(':').ok_or_else(invalid)?;
        (ip, host, container)
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.as_slice() {
            [c] => ("", "", *c),
            [h, c] => ("", *h, *c),
            [ip, h, c] => (*ip, *h, *c),
            _ => return Err(invalid()),
        }
    };
    let (c_start, c_end) = parse_range(container).ok_or_else(invalid)?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(parse_range(host).ok_or_else(invalid)?)
    };
    let binding = |host_port: String| PortBinding {
        host_ip: (!ip.is_empty()).then(|| ip.to_string()),
        host_port: (!host_port.is_empty()).then_some(host_port),
    };
    let mut out = Vec::new();
    match host_range {
        None => {
            for port in c_start..=c_end {
                out.push((format!("{port}/{proto}"), binding(String::new())));
            }
        }
        Some((h_start, h_end)) if h_end - h_start == c_end - c_start => {
            for offset in 0..=(c_end - c_start) {
                out.push((
                    format!("{}/{proto}", c_start + offset),
                    binding((h_start + offset).to_string()),
                ));
            }
        }
        // A host range for a single container port: the engine picks one of them.
        Some((h_start, h_end)) if c_start == c_end => {
            out.push((
                format!("{c_start}/{proto}"),
                binding(format!("{h_start}-{h_end}")),
            ));
        }
        Some(_) => {
            return Err(format!(
                "invalid port mapping {spec:?}: the host and container port ranges differ in size"
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> (String, Option<String>, Option<String>) {
        let p = Ports::parse(&[spec.to_string()], &[]).unwrap_or_else(|e| panic!("{e}"));
        let (k, v) = p
            .bindings
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no binding"));
        let b = v.into_iter().next().unwrap_or_else(|| panic!("no binding"));
        (k, b.host_ip, b.host_port)
    }

    #[test]
    fn publish_forms() {
        assert_eq!(one("8080"), ("8080/tcp".into(), None, None));
        assert_eq!(one("8080:80"), ("80/tcp".into(), None, Some("8080".into())));
        assert_eq!(
            one("127.0.0.1:8080:80/tcp"),
            (
                "80/tcp".into(),
                Some("127.0.0.1".into()),
                Some("8080".into())
            )
        );
        assert_eq!(
            one("127.0.0.1::80/udp"),
            ("80/udp".into(), Some("127.0.0.1".into()), None)
        );
        assert_eq!(
            one("[::1]:8080:80"),
            ("80/tcp".into(), Some("::1".into()), Some("8080".into()))
        );
        assert_eq!(
            one("9000-9001:80"),
            ("80/tcp".into(), None, Some("9000-9001".into()))
        );
    }

    #[test]
    fn ranges_and_expose() {
        let p = Ports::parse(
            &["8000-8001:80-81".into()],
            &["90".into(), "100-101/udp".into()],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.bindings.len(), 2);
        assert_eq!(
            p.exposed,
            ["80/tcp", "81/tcp", "90/tcp", "100/udp", "101/udp"]
        );
    }

    #[test]
    fn bad_specs() {
        for bad in ["", "x", "1:2:3:4", "80/xyz", "8000-8002:80-81", "0"] {
            assert!(Ports::parse(&[bad.to_string()], &[]).is_err(), "{bad}");
        }
        assert!(Ports::parse(&[], &["abc".to_string()]).is_err());
    }
}
