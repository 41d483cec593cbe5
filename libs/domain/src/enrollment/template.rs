//! A tenant's enrollment email: the link's URL template and the message's subject and bodies,
//! with placeholders the mailer fills in. Valid by construction: a URL template must be an
//! http(s) URL that carries the token, and every part is bounded.

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// Where the link's token goes in the URL template.
pub const TOKEN: &str = "{token}";
/// The longest URL template, and the longest subject.
const MAX_URL: usize = 2048;
const MAX_SUBJECT: usize = 998;
/// The longest body (text or HTML).
const MAX_BODY: usize = 64 * 1024;

/// The template every tenant has until an operator sets one.
pub const DEFAULT_SUBJECT: &str = "Enroll your account";
pub const DEFAULT_TEXT: &str = "Hello {name},\n\nan account ({user_name}) was created for you. Enroll it here:\n\n{link}\n\nThe link works once and expires in 7 days.\n";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentTemplate {
    /// `https://mfa.example.com/enroll?t={token}`.
    pub url: String,
    pub subject: String,
    pub text: String,
    /// An HTML alternative to the text, if any.
    pub html: Option<String>,
}

impl EnrollmentTemplate {
    /// Checks what an operator gave; the subject and text default to the built-in ones.
    pub fn new(url: String, subject: Option<String>, text: Option<String>, html: Option<String>) -> Result<Self, DomainError> {
        let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
        if !scheme_ok || url.len() > MAX_URL || !url.contains(TOKEN) || url.chars().any(char::is_whitespace) {
            return Err(DomainError::invalid(format!(
                "the enrollment URL must be an http(s) URL of at most {MAX_URL} characters, without spaces, holding {TOKEN}"
            )));
        }
        let subject = subject.unwrap_or_else(|| DEFAULT_SUBJECT.to_owned());
        if subject.is_empty() || subject.len() > MAX_SUBJECT || subject.contains(['\r', '\n']) {
            return Err(DomainError::invalid(format!("the enrollment subject must be one line of 1 to {MAX_SUBJECT} bytes")));
        }
        let text = text.unwrap_or_else(|| DEFAULT_TEXT.to_owned());
        for (what, body) in [("text", Some(&text)), ("HTML", html.as_ref())] {
            if body.is_some_and(|b| b.is_empty() || b.len() > MAX_BODY || !b.contains("{link}")) {
                return Err(DomainError::invalid(format!("the enrollment {what} body must hold {{link}} and be at most {MAX_BODY} bytes")));
            }
        }
        Ok(Self { url, subject, text, html })
    }

    /// The link for `token` (URL-safe already).
    pub fn link(&self, token: &str) -> String {
        self.url.replace(TOKEN, token)
    }
}

/// Fills `{name}`, `{user_name}` and `{link}` into a template part, in one pass, so that a value
/// holding a placeholder is not filled again.
pub fn fill(part: &str, name: &str, user_name: &str, link: &str) -> String {
    let mut out = String::with_capacity(part.len() + link.len());
    let mut rest = part;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let (value, len) = [("{name}", name), ("{user_name}", user_name), ("{link}", link)]
            .into_iter()
            .find(|(key, _)| tail.starts_with(key))
            .map_or(("{", 1), |(key, value)| (value, key.len()));
        out.push_str(value);
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// `value` as HTML text or attribute content: what an IdP put in a name cannot become markup.
pub fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_template_is_an_http_url_holding_the_token() {
        for bad in ["ftp://x/{token}", "https://x/enroll", "https://x/ {token}", "{token}"] {
            assert!(EnrollmentTemplate::new(bad.into(), None, None, None).is_err(), "{bad}");
        }
        let t = EnrollmentTemplate::new("https://mfa.example.com/enroll?t={token}".into(), None, None, None).unwrap();
        assert_eq!(t.link("abc"), "https://mfa.example.com/enroll?t=abc");
        assert_eq!(t.subject, DEFAULT_SUBJECT);
    }

    #[test]
    fn bodies_need_the_link_and_subjects_one_line() {
        let url = || "https://x/{token}".to_owned();
        assert!(EnrollmentTemplate::new(url(), Some("a\nb".into()), None, None).is_err());
        assert!(EnrollmentTemplate::new(url(), None, Some("no link".into()), None).is_err());
        assert!(EnrollmentTemplate::new(url(), None, None, Some("<p>no link</p>".into())).is_err());
    }

    #[test]
    fn html_values_are_escaped() {
        assert_eq!(escape_html("<b>Ada & \"Bo\"'s</b>"), "&lt;b&gt;Ada &amp; &quot;Bo&quot;&#39;s&lt;/b&gt;");
    }

    #[test]
    fn fill_replaces_each_placeholder_once_and_leaves_other_braces() {
        assert_eq!(fill("Hi {name} ({user_name}): {link} {x}", "{link}", "ada", "L"), "Hi {link} (ada): L {x}");
    }
}
