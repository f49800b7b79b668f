//! Content digests (`sha256:<hex>`, `sha512:<hex>`), as the OCI image spec defines
//! them, and a hasher that checks content against one while it streams.
//!
//! Only the two registered algorithms are accepted: they are the ones wharf can
//! verify, and a digest that cannot be verified is worth nothing to a client that
//! promises to check everything it downloads.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256, Sha512};

/// A digest algorithm wharf can compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// `sha256`, 64 hex digits: what every registry uses.
    Sha256,
    /// `sha512`, 128 hex digits.
    Sha512,
}

impl Algorithm {
    /// The name in a digest: `sha256`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A validated digest: `algorithm:lower-case-hex` of the right length.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    /// The whole text, `sha256:<hex>`.
    text: Box<str>,
}

/// Why a text is not a digest. The message quotes the text (digests are not secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// Not of the form `algorithm:encoded`.
    #[error("{0:?} is not a digest of the form sha256:<64 hex digits>")]
    Malformed(String),
    /// A well-formed digest with an algorithm other than sha256 and sha512.
    #[error(
        "digest {text:?} uses the algorithm {algorithm:?}; wharf verifies sha256 and sha512 only"
    )]
    UnsupportedAlgorithm {
        /// The digest as written.
        text: String,
        /// Its algorithm.
        algorithm: String,
    },
}

impl Digest {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Digest, DigestError> {
        let malformed = || DigestError::Malformed(text.to_string());
        let (algorithm, encoded) = text.split_once(':').ok_or_else(malformed)?;
        let algorithm = match algorithm {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            other => {
                return Err(if crate::reference::check_digest(text).is_ok() {
                    DigestError::UnsupportedAlgorithm {
                        text: text.to_string(),
                        algorithm: other.to_string(),
                    }
                } else {
                    malformed()
                });
            }
        };
        let hex_ok = encoded.len() == algorithm.hex_len()
            && encoded
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !hex_ok {
            return Err(malformed());
        }
        Ok(Digest {
            algorithm,
            text: text.into(),
        })
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Digest {
        let mut hasher = Hasher::new(Algorithm::Sha256);
        hasher.update(bytes);
        hasher.finish()
    }

    /// The digest of `bytes` with `algorithm`.
    pub fn of(algorithm: Algorithm, bytes: &[u8]) -> Digest {
        let mut hasher = Hasher::new(algorithm);
        hasher.update(bytes);
        hasher.finish()
    }

    /// Its algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex part, after the `:`.
    pub fn hex(&self) -> &str {
        &self.text[self.algorithm.name().len() + 1..]
    }

    /// The whole digest, `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// A hasher with this digest's algorithm, for checking content against it.
    pub fn hasher(&self) -> Hasher {
        Hasher::new(self.algorithm)
    }

    /// Whether `bytes` have this digest.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        Digest::of(self.algorithm, bytes) == *self
    }

    /// The tag the OCI referrers fallback uses for this digest: `sha256-<hex>`.
    pub fn referrers_tag(&self) -> String {
        let hex = self.hex();
        format!("{}-{}", self.algorithm.name(), &hex[..hex.len().min(64)])
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.text)
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An incremental hash that ends in a [`Digest`].
#[derive(Clone)]
pub struct Hasher {
    state: State,
    len: u64,
}

#[derive(Clone)]
enum State {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let algorithm = match self.state {
            State::Sha256(_) => Algorithm::Sha256,
            State::Sha512(_) => Algorithm::Sha512,
        };
        f.debug_struct("Hasher")
            .field("algorithm", &algorithm)
            .field("len", &self.len)
            .finish()
    }
}

impl Hasher {
    /// A hasher for `algorithm`.
    pub fn new(algorithm: Algorithm) -> Hasher {
        let state = match algorithm {
            Algorithm::Sha256 => State::Sha256(Sha256::new()),
            Algorithm::Sha512 => State::Sha512(Sha512::new()),
        };
        Hasher { state, len: 0 }
    }

    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        self.len += bytes.len() as u64;
        match &mut self.state {
            State::Sha256(h) => h.update(bytes),
            State::Sha512(h) => h.update(bytes),
        }
    }

    /// How many bytes were added.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest of everything added.
    pub fn finish(self) -> Digest {
        let (algorithm, hex) = match self.state {
            State::Sha256(h) => (Algorithm::Sha256, hex::encode(h.finalize())),
            State::Sha512(h) => (Algorithm::Sha512, hex::encode(h.finalize())),
        };
        Digest {
            algorithm,
            text: format!("{}:{hex}", algorithm.name()).into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_parse_and_print() {
        let hex = "a".repeat(64);
        let d = Digest::parse(&format!("sha256:{hex}")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.hex(), hex);
        assert_eq!(d.to_string(), format!("sha256:{hex}"));
        assert_eq!(d.referrers_tag(), format!("sha256-{hex}"));
        let long = Digest::parse(&format!("sha512:{}", "0".repeat(128)));
        assert_eq!(long.map(|d| d.algorithm()), Ok(Algorithm::Sha512));
    }

    #[test]
    fn bad_digests_are_refused_with_their_text() {
        for bad in [
            "sha256:abc".to_string(),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha512:{}", "a".repeat(64)),
            "nonsense".to_string(),
            ":".to_string(),
            String::new(),
        ] {
            let err = Digest::parse(&bad).err().unwrap_or_else(|| panic!("{bad}"));
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        let other = format!("blake3:{}", "a".repeat(64));
        assert!(matches!(
            Digest::parse(&other),
            Err(DigestError::UnsupportedAlgorithm { .. })
        ));
    }

    #[test]
    fn hashing_matches_known_values() {
        assert_eq!(
            Digest::sha256(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // The OCI empty descriptor's blob, `{}`.
        assert_eq!(
            Digest::sha256(b"{}").as_str(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        let mut hasher = Hasher::new(Algorithm::Sha256);
        hasher.update(b"{");
        hasher.update(b"}");
        assert_eq!(hasher.len(), 2);
        assert_eq!(hasher.finish(), Digest::sha256(b"{}"));
        assert!(Digest::sha256(b"x").matches(b"x"));
        assert!(!Digest::sha256(b"x").matches(b"y"));
    }

    #[test]
    fn digests_round_trip_through_json() {
        let d = Digest::sha256(b"x");
        let json = serde_json::to_string(&d).unwrap_or_default();
        assert_eq!(json, format!("\"{d}\""));
        let back: Result<Digest, _> = serde_json::from_str(&json);
        assert_eq!(back.ok(), Some(d));
        assert!(serde_json::from_str::<Digest>("\"sha256:zz\"").is_err());
    }
}
