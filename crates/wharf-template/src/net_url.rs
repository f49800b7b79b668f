//! The parts of Go's `net/url` that Sprig's `urlParse` and `urlJoin` use, as Go
//! 1.26 (the toolchain acr-builder is built with) has them: `url.Parse` (RFC 3986
//! references, relative ones allowed, no normalisation), `URL.String`,
//! `URL.Hostname` and `Userinfo.String`.
//!
//! Go strings are bytes, so everything here works on bytes; callers turn the
//! results into text (an escape such as `%ff` that decodes to invalid UTF-8
//! becomes U+FFFD there).

use crate::format::quote_bytes;

/// Which part of a URL is being escaped or unescaped (Go's `encoding`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Path,
    Host,
    Zone,
    UserPassword,
    QueryComponent,
    Fragment,
}

/// Go's `shouldEscape`.
fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if matches!(mode, Mode::Host | Mode::Zone)
        && matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
        )
    {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => return false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
            Mode::Path => return c == b'?',
            Mode::UserPassword => return matches!(c, b'@' | b'/' | b'?' | b':'),
            Mode::QueryComponent => return true,
            Mode::Fragment => return false,
            Mode::Host | Mode::Zone => {}
        },
        _ => {}
    }
    if mode == Mode::Fragment && matches!(c, b'!' | b'(' | b')' | b'*') {
        return false;
    }
    true
}

fn unhex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

fn escape_error(s: &[u8]) -> String {
    format!("invalid URL escape {}", quote_bytes(s))
}

/// Go's `unescape`.
fn unescape(s: &[u8], mode: Mode) -> Result<Vec<u8>, String> {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                if i + 2 >= s.len()
                    || !s[i + 1].is_ascii_hexdigit()
                    || !s[i + 2].is_ascii_hexdigit()
                {
                    let rest = &s[i..];
                    return Err(escape_error(&rest[..rest.len().min(3)]));
                }
                let esc = &s[i..i + 3];
                if mode == Mode::Host && unhex(s[i + 1]) < 8 && esc != b"%25" {
                    return Err(escape_error(esc));
                }
                if mode == Mode::Zone {
                    let v = (unhex(s[i + 1]) << 4) | unhex(s[i + 2]);
                    if esc != b"%25" && v != b' ' && should_escape(v, Mode::Host) {
                        return Err(escape_error(esc));
                    }
                }
                i += 3;
            }
            c => {
                if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape(c, mode) {
                    return Err(format!(
                        "invalid character {} in host name",
                        quote_bytes(&s[i..i + 1])
                    ));
                }
                i += 1;
            }
        }
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                out.push((unhex(s[i + 1]) << 4) | unhex(s[i + 2]));
                i += 3;
            }
            b'+' if mode == Mode::QueryComponent => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Go's `escape`.
fn escape(s: &[u8], mode: Mode) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        if c == b' ' && mode == Mode::QueryComponent {
            out.push(b'+');
        } else if should_escape(c, mode) {
            out.extend_from_slice(&[b'%', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
        } else {
            out.push(c);
        }
    }
    out
}

/// Go's `url.Userinfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Userinfo {
    pub username: Vec<u8>,
    pub password: Option<Vec<u8>>,
}

impl Userinfo {
    /// Go's `Userinfo.String`: `username[:password]`, escaped.
    pub(crate) fn string(&self) -> Vec<u8> {
        let mut s = escape(&self.username, Mode::UserPassword);
        if let Some(p) = &self.password {
            s.push(b':');
            s.extend(escape(p, Mode::UserPassword));
        }
        s
    }
}

/// Go's `url.URL`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Url {
    pub scheme: Vec<u8>,
    pub opaque: Vec<u8>,
    pub user: Option<Userinfo>,
    pub host: Vec<u8>,
    pub path: Vec<u8>,
    pub raw_path: Vec<u8>,
    pub omit_host: bool,
    pub force_query: bool,
    pub raw_query: Vec<u8>,
    pub fragment: Vec<u8>,
    pub raw_fragment: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn cut(s: &[u8], sep: u8) -> (&[u8], &[u8], bool) {
    match s.iter().position(|&c| c == sep) {
        Some(i) => (&s[..i], &s[i + 1..], true),
        None => (s, &[], false),
    }
}

/// Go's `url.Parse`; the error reads like Go's `*url.Error`
/// (`parse "URL": reason`).
pub(crate) fn parse(raw: &str) -> Result<Url, String> {
    let raw = raw.as_bytes();
    let (u, frag, _) = cut(raw, b'#');
    let mut url = parse_reference(u).map_err(|e| format!("parse {}: {e}", quote_bytes(u)))?;
    if frag.is_empty() {
        return Ok(url);
    }
    set_fragment(&mut url, frag).map_err(|e| format!("parse {}: {e}", quote_bytes(raw)))?;
    Ok(url)
}

/// Go's `getScheme`.
fn get_scheme(raw: &[u8]) -> Result<(&[u8], &[u8]), String> {
    for (i, &c) in raw.iter().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' => {
                if i == 0 {
                    return Ok((&[], raw));
                }
            }
            b':' => {
                if i == 0 {
                    return Err("missing protocol scheme".into());
                }
                return Ok((&raw[..i], &raw[i + 1..]));
            }
            _ => return Ok((&[], raw)),
        }
    }
    Ok((&[], raw))
}

/// Go's `parse(rawURL, viaRequest=false)`.
fn parse_reference(raw: &[u8]) -> Result<Url, String> {
    if raw.iter().any(|&b| b < b' ' || b == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    let mut url = Url::default();
    if raw == b"*" {
        url.path = b"*".to_vec();
        return Ok(url);
    }
    let (scheme, mut rest) = get_scheme(raw)?;
    url.scheme = scheme.to_ascii_lowercase();
    if rest.ends_with(b"?") && rest.iter().filter(|&&c| c == b'?').count() == 1 {
        url.force_query = true;
        rest = &rest[..rest.len() - 1];
    } else {
        let (r, q, _) = cut(rest, b'?');
        rest = r;
        url.raw_query = q.to_vec();
    }
    if !rest.starts_with(b"/") {
        if !url.scheme.is_empty() {
            url.opaque = rest.to_vec();
            return Ok(url);
        }
        let (segment, _, _) = cut(rest, b'/');
        if segment.contains(&b':') {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    if (!url.scheme.is_empty() || !rest.starts_with(b"///")) && rest.starts_with(b"//") {
        let mut authority = &rest[2..];
        rest = &[];
        if let Some(i) = authority.iter().position(|&c| c == b'/') {
            rest = &authority[i..];
            authority = &authority[..i];
        }
        let (user, host) = parse_authority(&url.scheme, authority)?;
        url.user = user;
        url.host = host;
    } else if !url.scheme.is_empty() && rest.starts_with(b"/") {
        url.omit_host = true;
    }
    set_path(&mut url, rest)?;
    Ok(url)
}

type Authority = (Option<Userinfo>, Vec<u8>);

/// Go's `parseAuthority`.
fn parse_authority(scheme: &[u8], authority: &[u8]) -> Result<Authority, String> {
    let at = authority.iter().rposition(|&c| c == b'@');
    let host = parse_host(scheme, at.map_or(authority, |i| &authority[i + 1..]))?;
    let Some(i) = at else {
        return Ok((None, host));
    };
    let userinfo = &authority[..i];
    if !valid_userinfo(userinfo) {
        return Err("net/url: invalid userinfo".into());
    }
    let user = if !userinfo.contains(&b':') {
        Userinfo {
            username: unescape(userinfo, Mode::UserPassword)?,
            password: None,
        }
    } else {
        let (name, pass, _) = cut(userinfo, b':');
        Userinfo {
            username: unescape(name, Mode::UserPassword)?,
            password: Some(unescape(pass, Mode::UserPassword)?),
        }
    };
    Ok((Some(user), host))
}

/// Go's `validOptionalPort`: empty or `:` followed by digits.
fn valid_optional_port(port: &[u8]) -> bool {
    match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    }
}

/// Go's `parseHost` (with Go 1.26's strict colons for http and https).
fn parse_host(scheme: &[u8], host: &[u8]) -> Result<Vec<u8>, String> {
    let invalid_port = |p: &[u8]| format!("invalid port {} after host", quote_bytes(p));
    match host.iter().rposition(|&c| c == b'[') {
        Some(i) if i > 0 => return Err("invalid IP-literal".into()),
        Some(_) => {
            let Some(close) = host.iter().rposition(|&c| c == b']') else {
                return Err("missing ']' in host".into());
            };
            let colon_port = &host[close + 1..];
            if !valid_optional_port(colon_port) {
                return Err(invalid_port(colon_port));
            }
            let colon_port = unescape(colon_port, Mode::Host)?;
            let name = &host[1..close];
            let name = match find(name, b"%25") {
                Some(z) => {
                    let mut h = unescape(&name[..z], Mode::Host)?;
                    h.extend(unescape(&name[z..], Mode::Zone)?);
                    h
                }
                None => unescape(name, Mode::Host)?,
            };
            check_ipv6_literal(&name)?;
            let mut out = Vec::with_capacity(name.len() + colon_port.len() + 2);
            out.push(b'[');
            out.extend(name);
            out.push(b']');
            out.extend(colon_port);
            return Ok(out);
        }
        None => {
            if let Some(first) = host.iter().position(|&c| c == b':') {
                let last = host.iter().rposition(|&c| c == b':').unwrap_or(first);
                let i = if last != first && scheme != b"http" && scheme != b"https" {
                    last
                } else {
                    first
                };
                if !valid_optional_port(&host[i..]) {
                    return Err(invalid_port(&host[i..]));
                }
            }
        }
    }
    unescape(host, Mode::Host)
}

/// What Go 1.26 checks of a bracketed host: `netip.ParseAddr` accepts it and it
/// is not an IPv4 address. The reasons are shorter than netip's own.
fn check_ipv6_literal(name: &[u8]) -> Result<(), String> {
    let fail = |msg: &str| {
        Err(format!(
            "invalid host: ParseAddr({}): {msg}",
            quote_bytes(name)
        ))
    };
    let text = String::from_utf8_lossy(name);
    match name.iter().find(|c| matches!(c, b'.' | b':' | b'%')) {
        Some(b'.') => match text.parse::<std::net::Ipv4Addr>() {
            Ok(_) => Err("invalid IP-literal".into()),
            Err(_) => fail("invalid IPv4 address"),
        },
        Some(b':') => {
            let (addr, zone) = match text.split_once('%') {
                Some((a, z)) => (a, Some(z)),
                None => (&*text, None),
            };
            if zone == Some("") {
                return fail("zone must be a non-empty string");
            }
            match addr.parse::<std::net::Ipv6Addr>() {
                Ok(_) => Ok(()),
                Err(_) => fail("invalid IPv6 address"),
            }
        }
        Some(_) => fail("missing IPv6 address"),
        None => fail("unable to parse IP"),
    }
}

/// Go's `validUserinfo`.
fn valid_userinfo(s: &[u8]) -> bool {
    String::from_utf8_lossy(s).chars().all(|r| {
        r.is_ascii_alphanumeric()
            || matches!(
                r,
                '-' | '.'
                    | '_'
                    | ':'
                    | '~'
                    | '!'
                    | '$'
                    | '&'
                    | '\''
                    | '('
                    | ')'
                    | '*'
                    | '+'
                    | ','
                    | ';'
                    | '='
                    | '%'
                    | '@'
            )
    })
}

/// Go's `setPath`.
fn set_path(url: &mut Url, p: &[u8]) -> Result<(), String> {
    url.path = unescape(p, Mode::Path)?;
    url.raw_path = if escape(&url.path, Mode::Path) == p {
        Vec::new()
    } else {
        p.to_vec()
    };
    Ok(())
}

/// Go's `setFragment`.
fn set_fragment(url: &mut Url, f: &[u8]) -> Result<(), String> {
    url.fragment = unescape(f, Mode::Fragment)?;
    url.raw_fragment = if escape(&url.fragment, Mode::Fragment) == f {
        Vec::new()
    } else {
        f.to_vec()
    };
    Ok(())
}

/// Go's `validEncoded`.
fn valid_encoded(s: &[u8], mode: Mode) -> bool {
    s.iter().all(|&c| {
        matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'['
                | b']'
                | b'%'
        ) || !should_escape(c, mode)
    })
}

impl Url {
    /// Go's `URL.EscapedPath`.
    pub(crate) fn escaped_path(&self) -> Vec<u8> {
        if !self.raw_path.is_empty()
            && valid_encoded(&self.raw_path, Mode::Path)
            && unescape(&self.raw_path, Mode::Path).is_ok_and(|p| p == self.path)
        {
            return self.raw_path.clone();
        }
        if self.path == b"*" {
            return b"*".to_vec();
        }
        escape(&self.path, Mode::Path)
    }

    /// Go's `URL.EscapedFragment`.
    pub(crate) fn escaped_fragment(&self) -> Vec<u8> {
        if !self.raw_fragment.is_empty()
            && valid_encoded(&self.raw_fragment, Mode::Fragment)
            && unescape(&self.raw_fragment, Mode::Fragment).is_ok_and(|f| f == self.fragment)
        {
            return self.raw_fragment.clone();
        }
        escape(&self.fragment, Mode::Fragment)
    }

    /// Go's `URL.String`.
    pub(crate) fn string(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        if !self.scheme.is_empty() {
            buf.extend_from_slice(&self.scheme);
            buf.push(b':');
        }
        if !self.opaque.is_empty() {
            buf.extend_from_slice(&self.opaque);
        } else {
            let no_authority = self.host.is_empty() && self.user.is_none();
            // Go: some authority part, unless OmitHost and it is empty.
            if !(no_authority && (self.scheme.is_empty() || self.omit_host)) {
                if !self.host.is_empty() || !self.path.is_empty() || self.user.is_some() {
                    buf.extend_from_slice(b"//");
                }
                if let Some(u) = &self.user {
                    buf.extend(u.string());
                    buf.push(b'@');
                }
                buf.extend(escape(&self.host, Mode::Host));
            }
            let path = self.escaped_path();
            if !path.is_empty() && path[0] != b'/' && !self.host.is_empty() {
                buf.push(b'/');
            }
            if buf.is_empty() {
                let (segment, _, _) = cut(&path, b'/');
                if segment.contains(&b':') {
                    buf.extend_from_slice(b"./");
                }
            }
            buf.extend(path);
        }
        if self.force_query || !self.raw_query.is_empty() {
            buf.push(b'?');
            buf.extend_from_slice(&self.raw_query);
        }
        if !self.fragment.is_empty() {
            buf.push(b'#');
            buf.extend(self.escaped_fragment());
        }
        buf
    }

    /// Go's `URL.Hostname`: the host without a valid port and brackets.
    pub(crate) fn hostname(&self) -> Vec<u8> {
        let mut host: &[u8] = &self.host;
        if let Some(colon) = host.iter().rposition(|&c| c == b':')
            && valid_optional_port(&host[colon..])
        {
            host = &host[..colon];
        }
        if host.len() >= 2 && host.starts_with(b"[") && host.ends_with(b"]") {
            host = &host[1..host.len() - 1];
        }
        host.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(b: &[u8]) -> &str {
        std::str::from_utf8(b).unwrap_or("<bad utf-8>")
    }

    #[test]
    fn parses_like_go() {
        let u = parse("HTTPS://user:p%40ss@[fe80::1%25en0]:8080/a%2Fb/c d?x=1#f%20g").expect("ok");
        assert_eq!(s(&u.scheme), "https");
        assert_eq!(s(&u.host), "[fe80::1%en0]:8080");
        assert_eq!(s(&u.hostname()), "fe80::1%en0");
        assert_eq!(s(&u.path), "/a/b/c d");
        assert_eq!(s(&u.raw_path), "/a%2Fb/c d");
        assert_eq!(s(&u.raw_query), "x=1");
        assert_eq!(s(&u.fragment), "f g");
        assert_eq!(
            u.user.as_ref().map(|u| u.string()),
            Some(b"user:p%40ss".to_vec())
        );
        // RawPath is not a valid encoding (space), so the path is re-escaped.
        assert_eq!(
            s(&u.string()),
            "https://user:p%40ss@[fe80::1%25en0]:8080/a/b/c%20d?x=1#f%20g"
        );
    }

    #[test]
    fn relative_and_opaque() {
        let u = parse("mailto:joe@example.com").expect("ok");
        assert_eq!(s(&u.opaque), "joe@example.com");
        let u = parse("../a/./b").expect("ok");
        assert_eq!(s(&u.path), "../a/./b");
        assert_eq!(s(&u.string()), "../a/./b");
        let u = parse("file:///etc/hosts").expect("ok");
        assert!(!u.omit_host && u.host.is_empty());
        assert_eq!(s(&u.string()), "file:///etc/hosts");
        let u = parse("file:/etc/hosts").expect("ok");
        assert!(u.omit_host);
        assert_eq!(s(&u.string()), "file:/etc/hosts");
        assert_eq!(s(&parse("//h/p").expect("ok").host), "h");
        assert_eq!(s(&parse("*").expect("ok").string()), "*");
        assert_eq!(s(&parse("a?").expect("ok").string()), "a?");
    }

    #[test]
    fn errors_like_go() {
        let e = |u: &str| parse(u).err().unwrap_or_default();
        assert_eq!(
            e("http://[::1"),
            r#"parse "http://[::1": missing ']' in host"#
        );
        assert_eq!(e("://x"), r#"parse "://x": missing protocol scheme"#);
        assert_eq!(
            e("1a:b/x"),
            r#"parse "1a:b/x": first path segment in URL cannot contain colon"#
        );
        assert_eq!(
            e("http://h/%zz"),
            r#"parse "http://h/%zz": invalid URL escape "%zz""#
        );
        assert_eq!(
            e("http://h:x/"),
            r#"parse "http://h:x/": invalid port ":x" after host"#
        );
        assert_eq!(
            e("http://a:1:2/"),
            r#"parse "http://a:1:2/": invalid port ":1:2" after host"#
        );
        assert!(parse("mongodb://a:1,b:2/").is_ok());
        assert_eq!(
            e("http://[1.2.3.4]/"),
            r#"parse "http://[1.2.3.4]/": invalid IP-literal"#
        );
        assert_eq!(
            e("http://a{b}/"),
            r#"parse "http://a{b}/": invalid character "{" in host name"#
        );
        assert_eq!(
            e("http://ü@h/"),
            r#"parse "http://ü@h/": net/url: invalid userinfo"#
        );
        assert_eq!(
            e("a\nb"),
            r#"parse "a\nb": net/url: invalid control character in URL"#
        );
        assert_eq!(e("x#%"), r#"parse "x#%": invalid URL escape "%""#);
    }

    #[test]
    fn escapes_like_go() {
        assert_eq!(s(&escape(b"a b?#/", Mode::Path)), "a%20b%3F%23/");
        assert_eq!(s(&escape(b"a b!(*)'", Mode::Fragment)), "a%20b!(*)%27");
        assert_eq!(s(&escape(b"u@:/x", Mode::UserPassword)), "u%40%3A%2Fx");
        assert_eq!(s(&escape("hé:1".as_bytes(), Mode::Host)), "h%C3%A9:1");
    }
}
