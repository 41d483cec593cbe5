//! A SCIM client for tests: every call returns the status and the JSON body (Null if none).

use reqwest::{Method, StatusCode};
use serde_json::Value;

#[derive(Clone)]
pub struct Scim {
    http: reqwest::Client,
    /// `http://127.0.0.1:port/scim/v2/<tenant>`
    pub base: String,
    pub token: Option<String>,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        self.body
    }

    /// Asserts an RFC 7644 Error response with this status and scimType.
    #[track_caller]
    pub fn expect_error(self, status: u16, scim_type: Option<&str>) -> Value {
        let content_type = self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let body = self.expect(status);
        assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error", "{body}");
        assert_eq!(body["status"], status.to_string(), "{body}");
        assert_eq!(body.get("scimType").and_then(Value::as_str), scim_type, "{body}");
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "an error says why: {body}");
        assert_eq!(content_type, "application/scim+json");
        body
    }
}

impl Scim {
    pub fn new(base: &str, token: &str) -> Self {
        Self { http: reqwest::Client::new(), base: base.to_owned(), token: Some(token.to_owned()) }
    }

    pub fn with_token(&self, token: Option<&str>) -> Self {
        Self { token: token.map(str::to_owned), ..self.clone() }
    }

    pub fn with_base(&self, base: &str) -> Self {
        Self { base: base.to_owned(), ..self.clone() }
    }

    /// Waits until the server at `base` takes this client's token. A connection the CLI issued is
    /// another process's commit: the server takes its secret once its credentials feed moves
    /// (ADR 0021; a poll of the file on SQLite, a NOTIFY on PostgreSQL), and until then the
    /// token is unknown to it.
    pub async fn wait_taken(&self) {
        let taken = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while self.get("/ServiceProviderConfig").await.status == StatusCode::UNAUTHORIZED {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(taken.is_ok(), "the server at {} never took the token", self.base);
    }

    /// Sends `body` as raw bytes with a content type.
    pub async fn send_raw(&self, method: Method, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).header("content-type", content_type).body(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        Self::reply(request).await
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).header("accept", "application/scim+json");
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/scim+json").body(serde_json::to_vec(body).expect("JSON"));
        }
        Self::reply(request).await
    }

    /// POST that tolerates a server that has gone away: the status, or `None`.
    pub async fn post_checked(&self, path: &str, body: &Value) -> Option<u16> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/scim+json")
            .body(serde_json::to_vec(body).expect("JSON"));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request.send().await.ok().map(|r| r.status().as_u16())
    }

    async fn reply(request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Reply { status, body, headers }
    }

    /// A request with a JSON body and one extra header (If-Match…).
    pub async fn send_with_header(&self, method: Method, path: &str, body: &Value, name: &str, value: &str) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/scim+json")
            .header(name, value)
            .body(serde_json::to_vec(body).expect("JSON"));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        Self::reply(request).await
    }

    pub async fn get_with_header(&self, path: &str, name: &str, value: &str) -> Reply {
        let mut request = self.http.get(format!("{}{path}", self.base)).header(name, value);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        Self::reply(request).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::PUT, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }

    /// GET with a filter, percent-encoded as IdPs send it; `extra` adds more parameters.
    pub async fn filter(&self, endpoint: &str, filter: &str, extra: &str) -> Reply {
        self.get(&format!("{endpoint}?filter={}{extra}", encode(filter))).await
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
