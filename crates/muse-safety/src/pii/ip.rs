//! IP addresses.
//!
//! * **IPv4**: four dotted decimal octets, each at most 255 (`999.1.1.1` is not an address).
//!   A dotted quad is ambiguous with a four-part version number; we treat a bare `1.2.3.4` as
//!   an address (it is one, and over-redacting a version is the cheaper error) but not when
//!   it is glued to a letter (`v1.2.3.4`), preceded by the word "version", or part of a
//!   longer dotted number (`1.2.3.4.5`).
//! * **IPv6**: candidates of hex groups and colons validated by the standard library's
//!   parser (so `::`, embedded IPv4 and all compressions follow RFC 4291), and required to
//!   contain a digit and stand alone — which keeps Rust paths (`std::fmt`), clock times
//!   (`10:30:45`) and MAC addresses out.

use std::net::Ipv6Addr;

use regex::Regex;

use super::bounds::isolated;
use crate::SafetyError;

const V4: &str = r"\b(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b";
const V6: &str =
    r"(?i)(?:[0-9a-f]{1,4}:|:)(?:[0-9a-f]{0,4}:){1,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9a-f]{1,4})?";

pub(crate) struct IpDetector {
    v4: Regex,
    v6: Regex,
}

impl IpDetector {
    pub(crate) fn new() -> Result<Self, SafetyError> {
        let re = |p| Regex::new(p).map_err(|e| SafetyError::pattern("pii.ip", e));
        Ok(Self {
            v4: re(V4)?,
            v6: re(V6)?,
        })
    }

    pub(crate) fn find(&self, text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for caps in self.v4.captures_iter(text) {
            let Some(m) = caps.get(0) else { continue };
            let octets_ok = (1..=4).all(|i| {
                caps.get(i)
                    .and_then(|o| o.as_str().parse::<u16>().ok())
                    .is_some_and(|v| v <= 255)
            });
            let before = text[..m.start()].trim_end().to_ascii_lowercase();
            let versionish = before.ends_with("version") || before.ends_with("ver.");
            if octets_ok && !versionish && isolated(text, m.start(), m.end()) {
                out.push((m.start(), m.end()));
            }
        }
        for m in self.v6.find_iter(text) {
            let s = m.as_str();
            let valid = s.parse::<Ipv6Addr>().is_ok()
                && s.bytes().any(|b| b.is_ascii_digit())
                && s.matches(':').count() >= 2;
            let glued = text[..m.start()]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == ':' || c == '.' || c == '_')
                || text[m.end()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric() || c == ':' || c == '_');
            if valid && !glued {
                out.push((m.start(), m.end()));
            }
        }
        out
    }
}
