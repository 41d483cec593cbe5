//! Where an OAuth client may be sent back with its authorization code (ADR 0072).

use std::fmt;

use serde::{Deserialize, Serialize};
use url::{Host, Url};

use crate::DomainError;

/// Long enough for any IdP's callback; a bound on what a connection's settings carry.
const MAX_LENGTH: usize = 2048;

/// A registered redirect URI: absolute, without a fragment, `https`, or `http` on the loopback
/// host (`127.0.0.1`, `[::1]`, `localhost`) for local tests. Kept as it was typed: the
/// authorize endpoint compares the one a client sends with it character for character.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedirectUri(String);

impl RedirectUri {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let refuse = |why: &str| DomainError::invalid(format!("redirect URI '{text}': {why}"));
        if text.len() > MAX_LENGTH {
            return Err(refuse("longer than 2048 characters"));
        }
        let url = Url::parse(text).map_err(|e| refuse(&e.to_string()))?;
        if url.fragment().is_some() {
            return Err(refuse("a redirect URI has no fragment (RFC 6749 §3.1.2)"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("a redirect URI carries no user name or password"));
        }
        let loopback = match url.host() {
            Some(Host::Domain(name)) => name == "localhost",
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        match url.scheme() {
            "https" => Ok(Self(text.to_owned())),
            "http" if loopback => Ok(Self(text.to_owned())),
            _ => Err(refuse("use https (http only on 127.0.0.1, [::1] or localhost)")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `scheme://host[:port]`: what a page's CSP must let a form be redirected to.
    pub fn origin(&self) -> String {
        Url::parse(&self.0).expect("parsed when made").origin().ascii_serialization()
    }
}

impl TryFrom<String> for RedirectUri {
    type Error = DomainError;

    fn try_from(text: String) -> Result<Self, DomainError> {
        Self::parse(&text)
    }
}

impl From<RedirectUri> for String {
    fn from(uri: RedirectUri) -> String {
        uri.0
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_or_loopback_http_without_fragment_or_credentials() {
        for good in [
            "https://acme.okta.com/admin/app/cpc/acmescim_1/oauth/callback",
            "http://127.0.0.1:9000/cb",
            "http://localhost/cb?x=1",
            "http://[::1]:8080/cb",
        ] {
            assert_eq!(RedirectUri::parse(good).unwrap().as_str(), good);
        }
        for bad in ["http://acme.example/cb", "https://a.example/cb#x", "https://u:p@a.example/cb", "/relative", "ftp://a.example/", ""] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(RedirectUri::parse("https://acme.okta.com:8443/x").unwrap().origin(), "https://acme.okta.com:8443");
    }
}
