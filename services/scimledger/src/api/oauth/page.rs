//! The authorize endpoint's pages: server-rendered HTML with no script and no style, under a
//! CSP that allows nothing but posting the form here (and, for consent, the redirect a form
//! post ends in, which browsers hold to `form-action` too).

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, SET_COOKIE, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// What `&`, `<`, `>`, `"` and `'` would break in text or a quoted attribute, escaped: the
/// rule the enrollment emails' HTML follows too.
pub use domain::enrollment::template::escape_html as escape;

/// A hidden form field.
pub fn hidden(name: &str, value: &str) -> String {
    format!(r#"<input type="hidden" name="{}" value="{}">"#, escape(name), escape(value))
}

/// A page: `title` and `body` (already HTML), with the headers every one of them carries.
pub struct Page {
    pub status: StatusCode,
    pub title: String,
    pub body: String,
    /// Origins a form on the page may end up at besides this one (a consent's redirect URI).
    pub form_targets: Vec<String>,
    pub cookie: Option<String>,
}

impl Page {
    pub fn new(status: StatusCode, title: &str, body: String) -> Self {
        Self { status, title: title.to_owned(), body, form_targets: Vec::new(), cookie: None }
    }

    /// A page that says what is wrong and offers no way on: the client is not to be trusted.
    pub fn error(status: StatusCode, detail: &str) -> Self {
        Self::new(status, "Authorization failed", format!("<p>{}</p>", escape(detail)))
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let html = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · scimledger</title></head>\n<body><h1>{title}</h1>\n{}\n</body></html>\n",
            self.body,
            title = escape(&self.title),
        );
        let targets: String = self.form_targets.iter().map(|t| format!(" {t}")).collect();
        let csp = format!("default-src 'none'; form-action 'self'{targets}; frame-ancestors 'none'; base-uri 'none'");
        let mut response = (self.status, html).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_str(&csp).expect("origins are ASCII"));
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        if let Some(cookie) = self.cookie {
            headers.insert(SET_COOKIE, HeaderValue::from_str(&cookie).expect("cookies are hex and ASCII attributes"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_is_escaped() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(hidden("state", "\"><script>"), r#"<input type="hidden" name="state" value="&quot;&gt;&lt;script&gt;">"#);
    }
}
