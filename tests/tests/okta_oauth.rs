//! Okta's App Integration Wizard in OAuth 2 mode, end to end (issue 14 §3, ADR 0072): an HTTP
//! client plays the admin's browser on the authorize page (sign in, consent) and then Okta at
//! the token endpoint (code with PKCE, refresh) and on SCIM; and every refusal on the way.

use std::collections::HashMap;

use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_SECURITY_POLICY, COOKIE, LOCATION, SET_COOKIE};
use scimledger_e2e::hearing::{changed, start};
use scimledger_e2e::{on_both_backends, Backend, Scim, Server};
use serde_json::{json, Value};

/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// Okta's callback for SCIM OAuth (docs/idp/okta.md).
const CALLBACK: &str = "https://system-admin.okta.com/admin/app/cpc/acmescim_1/oauth/callback";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// The admin's browser: follows no redirect, keeps our cookie.
struct Browser {
    http: reqwest::Client,
    cookie: Option<String>,
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Browser {
    fn new() -> Self {
        Self { http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(), cookie: None }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let request = match &self.cookie {
            Some(cookie) => request.header(COOKIE, cookie.as_str()),
            None => request,
        };
        let response = request.send().await.expect("the server answers");
        if let Some(set) = response.headers().get(SET_COOKIE) {
            self.cookie = Some(set.to_str().unwrap().split(';').next().unwrap().to_owned());
        }
        Answer { status: response.status().as_u16(), headers: response.headers().clone(), body: response.text().await.unwrap() }
    }

    async fn get(&mut self, url: &str) -> Answer {
        let request = self.http.get(url);
        self.send(request).await
    }

    async fn post(&mut self, url: &str, form: &[(String, String)]) -> Answer {
        let request = self.http.post(url).form(form);
        self.send(request).await
    }
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&#39;", "'").replace("&amp;", "&")
}

/// The page's hidden form fields, in order.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split(r#"<input type="hidden" name=""#)
        .skip(1)
        .map(|rest| {
            let (name, rest) = rest.split_once('"').unwrap();
            let value = rest.strip_prefix(r#" value=""#).unwrap().split_once('"').unwrap().0;
            (unescape(name), unescape(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Where a 303 sends the browser: the URI before the query, and the query's parameters.
fn redirected(answer: &Answer) -> (String, HashMap<String, String>) {
    assert_eq!(answer.status, 303, "{}", answer.body);
    let location = answer.headers.get(LOCATION).unwrap().to_str().unwrap();
    let (base, query) = location.split_once('?').unwrap();
    (base.to_owned(), query.split('&').map(|pair| pair.split_once('=').unwrap()).map(|(k, v)| (decode(k), decode(v))).collect())
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Okta {
    tenant: &'static str,
    client_id: String,
    client_secret: String,
    operator_token: String,
}

impl Okta {
    /// A tenant, an oauth connection with Okta's callback registered, and an operator.
    async fn set_up(server: &Server, backend: &Backend) -> Okta {
        server.cli(&["tenant", "create", "acme"]).await;
        let issued = changed(server, backend, &["connection", "create", "acme", "--name", "okta-aiw", "--auth", "oauth"]).await;
        assert_eq!(issued["authorize_url"], format!("{}/oauth/acme/authorize", server.base));
        let shown = server.cli_json(&["connection", "update", "acme", "okta-aiw", "--redirect-uri", CALLBACK]).await;
        assert_eq!(shown["settings"]["redirect_uris"], json!([CALLBACK]));
        let refused = server.cli_fails(&["connection", "update", "acme", "okta-aiw", "--redirect-uri", "http://okta.example/cb"]).await;
        assert!(refused.contains("use https"), "{refused}");
        let shown = server.cli_json(&["connection", "show", "acme", "okta-aiw"]).await;
        assert_eq!(shown["settings"]["redirect_uris"], json!([CALLBACK]), "a refused update changes nothing");
        let operator = server.cli_json(&["operator", "create", "--name", "alice"]).await;
        Okta {
            tenant: "acme",
            client_id: issued["client_id"].as_str().unwrap().to_owned(),
            client_secret: issued["client_secret"].as_str().unwrap().to_owned(),
            operator_token: operator["token"].as_str().unwrap().to_owned(),
        }
    }

    fn authorize_url(&self, server: &Server, redirect_uri: &str, extra: &str) -> String {
        format!(
            "{}/oauth/{}/authorize?response_type=code&client_id={}&redirect_uri={}&state=okta-state-1&scope=scim{extra}",
            server.base,
            self.tenant,
            self.client_id,
            encode(redirect_uri)
        )
    }

    /// The page, the sign-in and the decision: the redirect the browser gets at the end.
    async fn consent(&self, server: &Server, browser: &mut Browser, decision: &str) -> Answer {
        let page =
            browser.get(&self.authorize_url(server, CALLBACK, &format!("&code_challenge={CHALLENGE}&code_challenge_method=S256"))).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let action = format!("{}/oauth/{}/authorize", server.base, self.tenant);
        let mut form = hidden_fields(&page.body);
        form.push(("operator_token".into(), self.operator_token.clone()));
        let consent = browser.post(&action, &form).await;
        assert_eq!(consent.status, 200, "{}", consent.body);
        assert!(consent.body.contains("<strong>okta-aiw</strong>") && consent.body.contains("<strong>acme</strong>"), "{}", consent.body);
        let mut form = hidden_fields(&consent.body);
        form.push(("decision".into(), decision.into()));
        browser.post(&action, &form).await
    }

    /// A code, approved by alice.
    async fn code(&self, server: &Server) -> String {
        let (base, query) = redirected(&self.consent(server, &mut Browser::new(), "approve").await);
        assert_eq!(base, CALLBACK);
        assert_eq!(query["state"], "okta-state-1");
        query["code"].clone()
    }

    /// POST /token with the client authenticated by Basic (client_secret_basic).
    async fn token(&self, server: &Server, form: &[(&str, &str)], secret: &str) -> (u16, Value) {
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{secret}", self.client_id));
        let response = reqwest::Client::new()
            .post(format!("{}/oauth/{}/token", server.base, self.tenant))
            .header(AUTHORIZATION, format!("Basic {basic}"))
            .form(form)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn exchange(&self, server: &Server, code: &str, verifier: &str) -> (u16, Value) {
        let form = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", CALLBACK), ("code_verifier", verifier)];
        self.token(server, &form, &self.client_secret).await
    }

    async fn refresh(&self, server: &Server, refresh_token: &str, secret: &str) -> (u16, Value) {
        self.token(server, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)], secret).await
    }
}

fn scim(server: &Server, tokens: &Value) -> Scim {
    Scim::new(&format!("{}/scim/v2/acme", server.base), tokens["access_token"].as_str().unwrap())
}

async fn grant_events(backend: &Backend) -> Vec<store::RecordedEvent> {
    let log = backend.open_store().await.read_log(0, u32::MAX).await.unwrap();
    log.into_iter().filter(|e| e.kind == domain::StreamKind::OauthGrant).collect()
}

on_both_backends! {
    async fn okta_aiw_authorization_code_flow(backend: Backend) {
        let server = start(&backend, vec![]).await;
        let okta = Okta::set_up(&server, &backend).await;

        // The page: no script allowed, a CSRF cookie, the operator token typed into a form.
        let mut browser = Browser::new();
        let page = browser.get(&okta.authorize_url(&server, CALLBACK, "")).await;
        assert_eq!(page.status, 200);
        let csp = page.headers.get(CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
        assert!(csp.starts_with("default-src 'none'; form-action 'self'"), "{csp}");
        assert!(browser.cookie.is_some(), "the page sets its CSRF cookie");
        assert!(page.body.contains(r#"type="password" id="operator_token""#) && !page.body.contains("<script"));
        let mut wrong = hidden_fields(&page.body);
        wrong.push(("operator_token".into(), "scimledger_not-an-operator".into()));
        let refused = browser.post(&format!("{}/oauth/acme/authorize", server.base), &wrong).await;
        assert_eq!(refused.status, 401);
        assert!(refused.body.contains("That is not an operator token."));

        // Sign in, consent, and the redirect with a code and the state.
        let code = okta.code(&server).await;
        let consented = grant_events(&backend).await;
        assert_eq!(consented.len(), 1);
        assert_eq!(consented[0].payload.event_type, "oauth_grant.consented");
        assert_eq!(consented[0].metadata["operator"], "alice", "the operator who consented is the actor");
        assert_eq!(consented[0].payload.data["redirect_uri"], CALLBACK);
        assert!(!consented[0].payload.data.to_string().contains(&code), "the code is not in the log");

        // Okta exchanges it with its PKCE verifier, and provisions with the access token.
        let (status, tokens) = okta.exchange(&server, &code, VERIFIER).await;
        assert_eq!(status, 200, "{tokens}");
        assert_eq!((tokens["token_type"].as_str(), tokens["scope"].as_str()), (Some("Bearer"), Some("scim")));
        let first_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        scim(&server, &tokens).post("/Users", &json!({"schemas": [USER], "userName": "ada@acme.com"})).await.expect(201);

        // An hour later: the refresh grant (client_secret_post this time) rotates the refresh token.
        let form = [
            ("grant_type", "refresh_token"), ("refresh_token", first_refresh.as_str()),
            ("client_id", okta.client_id.as_str()), ("client_secret", okta.client_secret.as_str()),
        ];
        let response = reqwest::Client::new().post(format!("{}/oauth/acme/token", server.base)).form(&form).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let refreshed: Value = response.json().await.unwrap();
        assert_ne!(refreshed["refresh_token"], first_refresh.as_str());
        let found = scim(&server, &refreshed).filter("/Users", "userName eq \"ada@acme.com\"", "").await.expect(200);
        assert_eq!(found["totalResults"], json!(1));

        // The replaced refresh token no longer works; the new one does, once.
        let (status, body) = okta.refresh(&server, &first_refresh, &okta.client_secret).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
        let (status, again) = okta.refresh(&server, refreshed["refresh_token"].as_str().unwrap(), &okta.client_secret).await;
        assert_eq!(status, 200, "{again}");
        let kinds: Vec<String> = grant_events(&backend).await.iter().map(|e| e.payload.event_type.clone()).collect();
        assert_eq!(kinds, ["oauth_grant.consented", "oauth_grant.code_redeemed", "oauth_grant.refresh_token_rotated", "oauth_grant.refresh_token_rotated"]);
        let redeemed = &grant_events(&backend).await[1];
        assert!(redeemed.metadata["connection_id"].is_string(), "the connection exchanging its code is the actor");
    }

    async fn okta_aiw_refusals(backend: Backend) {
        let server = start(&backend, vec![]).await;
        let okta = Okta::set_up(&server, &backend).await;
        let mut browser = Browser::new();

        // Before the redirect URI is trusted, errors stay on the page.
        let unregistered = browser.get(&okta.authorize_url(&server, "https://evil.example/cb", "")).await;
        assert_eq!(unregistered.status, 400);
        assert!(unregistered.headers.get(LOCATION).is_none());
        assert!(unregistered.body.contains("is not registered for this client"), "{}", unregistered.body);
        let prefix = browser.get(&okta.authorize_url(&server, &format!("{CALLBACK}/more"), "")).await;
        assert_eq!(prefix.status, 400, "matched exactly, not by prefix");
        let unknown = browser.get(&format!("{}/oauth/acme/authorize?response_type=code&client_id=nobody&redirect_uri={}", server.base, encode(CALLBACK))).await;
        assert_eq!(unknown.status, 400);
        assert!(unknown.body.contains("unknown client"));

        // After it, they go back to the client with the state.
        let (base, query) = redirected(&browser.get(&okta.authorize_url(&server, CALLBACK, "").replace("response_type=code", "response_type=token")).await);
        assert_eq!((base.as_str(), query["error"].as_str(), query["state"].as_str()), (CALLBACK, "unsupported_response_type", "okta-state-1"));
        let (_, query) = redirected(&browser.get(&okta.authorize_url(&server, CALLBACK, "&code_challenge=short&code_challenge_method=S256")).await);
        assert_eq!(query["error"], "invalid_request");
        let (_, query) = redirected(&okta.consent(&server, &mut Browser::new(), "deny").await);
        assert_eq!((query["error"].as_str(), query["state"].as_str()), ("access_denied", "okta-state-1"));

        // A form posted without the page's cookie (a cross-site post) is refused.
        let page = browser.get(&okta.authorize_url(&server, CALLBACK, "")).await;
        let mut form = hidden_fields(&page.body);
        form.push(("operator_token".into(), okta.operator_token.clone()));
        let mut elsewhere = Browser::new();
        let forged = elsewhere.post(&format!("{}/oauth/acme/authorize", server.base), &form).await;
        assert_eq!(forged.status, 403);

        // The consent form is bound to what was signed in for: a changed state needs a new sign-in.
        form.retain(|(name, _)| name != "operator_token");
        let consent = browser.post(&format!("{}/oauth/acme/authorize", server.base), &[form, vec![("operator_token".into(), okta.operator_token.clone())]].concat()).await;
        assert_eq!(consent.status, 200);
        let csp = consent.headers.get(CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
        assert!(csp.contains("form-action 'self' https://system-admin.okta.com;"), "the approval may redirect to Okta: {csp}");
        let mut tampered = hidden_fields(&consent.body);
        for (name, value) in tampered.iter_mut() {
            if name == "state" {
                *value = "changed".into();
            }
        }
        tampered.push(("decision".into(), "approve".into()));
        let again = browser.post(&format!("{}/oauth/acme/authorize", server.base), &tampered).await;
        assert_eq!(again.status, 401);
        assert!(again.body.contains("Your sign-in expired; sign in again."));
        assert!(grant_events(&backend).await.is_empty(), "no refusal so far recorded a grant");

        // The token endpoint: wrong secret, wrong verifier, another redirect URI.
        let code = okta.code(&server).await;
        let exchange = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", CALLBACK), ("code_verifier", VERIFIER)];
        let (status, body) = okta.token(&server, &exchange, "scimledger_wrong").await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
        let (status, body) = okta.exchange(&server, &code, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl").await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
        assert_eq!(body["error_description"], "code_verifier does not match the code_challenge");
        let other = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", "https://system-admin.okta.com/other"), ("code_verifier", VERIFIER)];
        let (status, _) = okta.token(&server, &other, &okta.client_secret).await;
        assert_eq!(status, 400);
        assert_eq!(grant_events(&backend).await.len(), 1, "refused exchanges record nothing");

        // The code works once; a second use fails and revokes what the first issued.
        let (status, tokens) = okta.exchange(&server, &code, VERIFIER).await;
        assert_eq!(status, 200, "{tokens}");
        let (status, body) = okta.exchange(&server, &code, VERIFIER).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
        let (status, _) = okta.refresh(&server, tokens["refresh_token"].as_str().unwrap(), &okta.client_secret).await;
        assert_eq!(status, 400, "the grant of a reused code is revoked");
        assert_eq!(grant_events(&backend).await.last().unwrap().payload.data, json!({"reason": "code_reused"}));

        // Rotating the client secret (no grace) ends refreshes with the old one; disabling ends all.
        let (status, tokens) = okta.exchange(&server, &okta.code(&server).await, VERIFIER).await;
        assert_eq!(status, 200);
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        let rotated = changed(&server, &backend, &["connection", "rotate", "acme", "okta-aiw", "--grace", "0"]).await;
        let (status, body) = okta.refresh(&server, &refresh, &okta.client_secret).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
        let new_secret = rotated["client_secret"].as_str().unwrap();
        let (status, tokens) = okta.refresh(&server, &refresh, new_secret).await;
        assert_eq!(status, 200, "Okta given the new secret refreshes on: {tokens}");
        changed(&server, &backend, &["connection", "disable", "acme", "okta-aiw"]).await;
        let (status, _) = okta.refresh(&server, tokens["refresh_token"].as_str().unwrap(), new_secret).await;
        assert_eq!(status, 401, "a disabled connection's refresh tokens stop working");
    }

    async fn redirect_uris_through_the_admin_api(backend: Backend) {
        let server = start(&backend, vec![]).await;
        let okta = Okta::set_up(&server, &backend).await;
        let admin = Scim::new(&format!("{}/admin/v1/tenants/acme", server.base), &okta.operator_token);
        let uris = json!({"redirect_uris": [CALLBACK, "http://127.0.0.1:9000/cb"]});
        let updated = admin.patch("/connections/okta-aiw", &uris).await.expect(200);
        assert_eq!(updated["settings"]["redirect_uris"], uris["redirect_uris"]);
        let bad = admin.patch("/connections/okta-aiw", &json!({"redirect_uris": ["https://okta.example/cb#frag"]})).await;
        assert_eq!(bad.status.as_u16(), 400, "{}", bad.body);
        server.cli(&["connection", "create", "acme", "--name", "header-app", "--auth", "header"]).await;
        let not_oauth = admin.patch("/connections/header-app", &json!({"redirect_uris": [CALLBACK]})).await;
        assert_eq!(not_oauth.status.as_u16(), 400, "{}", not_oauth.body);
        let shown = admin.get("/connections/okta-aiw").await.expect(200);
        assert_eq!(shown["settings"]["redirect_uris"], uris["redirect_uris"], "refusals change nothing");
        let changes: Vec<Value> = backend.open_store().await.read_log(0, u32::MAX).await.unwrap().into_iter()
            .filter(|e| e.payload.event_type == "connection.settings_changed").map(|e| e.payload.data).collect();
        assert_eq!(changes.len(), 2, "one event per accepted update: {changes:?}");
        assert_eq!(changes[1]["changes"][0]["setting"], "redirect_uris");
    }

    async fn okta_aiw_expired_code(backend: Backend) {
        // Codes that expire as they are issued: the exchange always comes too late.
        let server = start(&backend, vec![("SCIMLEDGER_OAUTH_CODE_TTL_SECS", "0".into())]).await;
        let okta = Okta::set_up(&server, &backend).await;
        let (status, body) = okta.exchange(&server, &okta.code(&server).await, VERIFIER).await;
        assert_eq!((status, body["error_description"].as_str()), (400, Some("the authorization code expired")), "{body}");
    }
}

/// Two API processes on one PostgreSQL database: any one answers any step, and a code raced
/// to both is exchanged once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_and_refresh_tokens_work_across_api_processes() {
    let backend = Backend::postgres().await;
    let a = start(&backend, vec![]).await;
    let okta = Okta::set_up(&a, &backend).await;
    let b = start(&backend, vec![]).await;

    // Consent on one, exchange and refresh on the other and back.
    let (status, tokens) = okta.exchange(&b, &okta.code(&a).await, VERIFIER).await;
    assert_eq!(status, 200, "{tokens}");
    let (status, tokens) = okta.refresh(&a, tokens["refresh_token"].as_str().unwrap(), &okta.client_secret).await;
    assert_eq!(status, 200, "{tokens}");
    scim(&b, &tokens).get("/Users").await.expect(200);

    // One code sent to both at once: one exchange wins, the other is a reuse and revokes.
    let code = okta.code(&a).await;
    let (on_a, on_b) = tokio::join!(okta.exchange(&a, &code, VERIFIER), okta.exchange(&b, &code, VERIFIER));
    let mut statuses = [on_a.0, on_b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "{on_a:?} {on_b:?}");
    let won = if on_a.0 == 200 { on_a.1 } else { on_b.1 };
    let (status, body) = okta.refresh(&a, won["refresh_token"].as_str().unwrap(), &okta.client_secret).await;
    assert_eq!((status, body["error_description"].as_str()), (400, Some("the grant was revoked")));
}
