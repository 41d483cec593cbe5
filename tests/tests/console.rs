//! The operator console (issue 14 §2) in a real headless Chromium, against the real server: sign
//! in with an operator token, create a tenant and a connection, read its token once (and never
//! again), map a role, provision a user through SCIM with that token, and see the user and its
//! role in the console; test the connection as the IdPs do; the lag plot. Also what the console's
//! assets are served with.

use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use scimledger_e2e::browser::Browser;
use scimledger_e2e::nats::{Events, ThrowawayNats};
use scimledger_e2e::{on_both_backends, Scim, Server};
use serde_json::json;

/// Signs in on the console with the operator token, as an operator would, by keyboard.
async fn sign_in(browser: &Browser, server: &Server, token: &str) {
    browser.client.goto(&format!("{}/console", server.base)).await.expect("opening the console");
    // Enter in the field submits the form, as for any keyboard user.
    browser.type_into("#token", &format!("{token}\u{E007}")).await;
    browser.element("#tenant-slug").await;
}

on_both_backends! {
    async fn an_operator_provisions_through_the_console(backend: Backend) {
        let server = Server::start(&backend).await;
        let operator = server.cli_json(&["operator", "create", "--name", "console"]).await;
        let operator_token = operator["token"].as_str().unwrap().to_owned();
        let browser = Browser::start().await;
        sign_in(&browser, &server, &operator_token).await;
        // The token is kept in the tab, never in its URL.
        assert!(!browser.client.current_url().await.unwrap().as_str().contains(&operator_token));

        // A tenant, then a connection whose token is shown once.
        browser.type_into("#tenant-slug", "acme").await;
        browser.click("form[aria-label='New tenant'] button[type=submit]").await;
        browser.follow("Connections of acme").await;
        browser.type_into("#connection-name", "okta").await;
        browser.click("form[aria-label='New connection'] button[type=submit]").await;
        let token = browser.text_where("#issued-token", |text| !text.is_empty()).await;
        let base_url = format!("{}/scim/v2/acme", server.base);
        assert!(browser.client.source().await.unwrap().contains(&base_url));
        browser.click("#secret-once button").await;
        browser.follow("Tenants").await;
        browser.follow("Connections of acme").await;
        browser.until("the connection okta", || async { browser.client.source().await.ok().filter(|page| page.contains(">okta</a>")) }).await;
        assert!(!browser.client.source().await.unwrap().contains(&token), "the connection's token was shown again");
        browser.client.refresh().await.unwrap();
        browser.until("the connection okta after a reload", || async { browser.client.source().await.ok().filter(|page| page.contains(">okta</a>")) }).await;
        assert!(!browser.client.source().await.unwrap().contains(&token), "the connection's token was shown again after a reload");

        // A role, and a mapping to it from a group the IdP has not pushed yet.
        browser.follow("Roles").await;
        browser.type_into("#role-name", "admin").await;
        browser.click("form[aria-label='New role'] button[type=submit]").await;
        browser.element("#map-role option[value='admin']").await;
        browser.type_into("#map-group", "Admins").await;
        browser.click("form[aria-label='Map a group to a role'] button[type=submit]").await;
        browser.element("form[aria-label='Unmap Admins']").await;

        // The IdP provisions with the token the console showed.
        let scim = Scim::new(&base_url, &token);
        let user = scim
            .post("/Users", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "alice@acme.test"}))
            .await
            .expect(201);
        let members = json!([{"value": user["id"]}]);
        scim.post("/Groups", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Admins", "members": members}))
            .await
            .expect(201);

        // The user appears in the console, found by search, with its role and its history.
        browser.follow("Users").await;
        browser.type_into("#search", "alice").await;
        browser.click("form[aria-label='Search'] button[type=submit]").await;
        browser.follow("alice@acme.test").await;
        browser
            .until("alice's role", || async {
                let roles = browser.client.find(fantoccini::Locator::Css("#user-roles")).await.ok()?.text().await.ok()?;
                if roles == "admin" {
                    return Some(());
                }
                // The role is derived from the log beside the API: ask again.
                browser.client.find(fantoccini::Locator::Css("main > button")).await.ok()?.click().await.ok()?;
                None
            })
            .await;
        browser.text_where("#history", |text| text.contains("user.provisioned")).await;

        browser.follow("Groups").await;
        browser.follow("Admins").await;
        browser.text_where("#history", |text| text.contains("group.created")).await;

        // The connection's activity, and the IdPs' Test Connection run as the connection.
        browser.follow("Activity").await;
        browser.text_where("#activity", |text| text.contains("user.provisioned") && text.contains("group.created")).await;
        browser.follow("Test a connection").await;
        browser.click("form[aria-label='Test a connection'] button[type=submit]").await;
        browser.text_where("#test-report p", |text| text == "Every check passed.").await;
        let report = browser.text_where("#test-report table", |text| text.contains("entra")).await;
        assert_eq!(report.matches("passed").count(), 4, "{report}");

        // Lag over time: the server's subscribers, sampled since sign-in.
        browser.follow("Lag").await;
        browser.element("#lag svg.plot polyline").await;
        browser.text_where("#lag table", |text| text.contains("assets")).await;

        // Signing out forgets the token.
        browser.click("#sign-out").await;
        browser.element("#sign-in-form").await;
        let kept = browser.client.execute("return sessionStorage.length", vec![]).await.unwrap();
        assert_eq!(kept, json!(0));
        browser.close().await;
    }
}

/// The console's files: their types, a policy that allows no inline script, no framing and no
/// form submission, and revalidation by entity tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assets_come_with_a_strict_policy() {
    let backend = scimledger_e2e::Backend::sqlite();
    let server = Server::start(&backend).await;
    let http = reqwest::Client::new();
    for (path, content_type) in [
        ("/console", "text/html; charset=utf-8"),
        ("/console/console.js", "text/javascript; charset=utf-8"),
        ("/console/console.css", "text/css; charset=utf-8"),
    ] {
        let answer = http.get(format!("{}{path}", server.base)).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        let headers = answer.headers().clone();
        assert_eq!(headers[CONTENT_TYPE], content_type, "{path}");
        let policy = headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
        for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "form-action 'none'", "frame-ancestors 'none'"] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        assert!(!policy.contains("unsafe"), "{path}: {policy}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers[CACHE_CONTROL], "no-cache");
        let again = http.get(format!("{}{path}", server.base)).header(IF_NONE_MATCH, headers[ETAG].clone()).send().await.unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert!(again.bytes().await.unwrap().is_empty());
    }
}

/// The admin endpoints the console adds: the relay's and the subscribers' lag, and the IdPs'
/// Test Connection run as a connection, which a disabled connection fails as the IdP would (401).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_tests_and_lag_through_the_admin_api() {
    let backend = scimledger_e2e::Backend::sqlite();
    // A NATS server of its own, whose stream takes every subject: the operator's events are not
    // a tenant's.
    let nats = ThrowawayNats::start().await;
    let events = Events::on(nats.url());
    let mut settings = events.settings();
    settings.push(("SCIMLEDGER_NATS_SUBJECTS", "scimledger.>".into()));
    let server = Server::start_with(&backend, settings).await;
    let operator = server.cli_json(&["operator", "create", "--name", "ops"]).await;
    let admin = Scim::new(&format!("{}/admin/v1", server.base), operator["token"].as_str().unwrap());
    assert_eq!(admin.with_token(None).get("/lag").await.status, 401);

    let scim = server.tenant(&events.tenant).await;
    scim.post("/Users", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bob@acme.test"})).await.expect(201);
    let head = backend.event_count().await as i64;
    // Both followers reach the head (the subscriber without SMTP is the assets one alone).
    let mut lag = admin.get("/lag").await.expect(200);
    let patience = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while lag["relay"]["behind"] != 0 || lag["subscribers"][0]["behind"] != 0 {
        assert!(std::time::Instant::now() < patience, "the followers never caught up: {lag}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        lag = admin.get("/lag").await.expect(200);
    }
    assert_eq!(lag["relay"]["name"], events.relay_job(), "{lag}");
    assert_eq!(lag["relay"]["state"], "flowing", "{lag}");
    assert_eq!(lag["relay"]["checkpoint"], lag["head"], "{lag}");
    assert!(lag["head"].as_i64().unwrap() >= head, "{lag}");
    let names: Vec<&str> = lag["subscribers"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["assets"], "{lag}");

    let tenant = &events.tenant;
    let report = admin.post(&format!("/tenants/{tenant}/connections/okta/test"), &json!({})).await.expect(200);
    assert_eq!(report["passed"], true, "{report}");
    let checks = report["checks"].as_array().unwrap();
    let idps: Vec<&str> = checks.iter().map(|c| c["idp"].as_str().unwrap()).collect();
    assert_eq!(idps, ["okta", "okta", "entra", "entra"]);
    // Okta's first request lists the one user the connection owns; the filters find nobody.
    let details: Vec<&str> = checks.iter().map(|c| c["detail"].as_str().unwrap()).collect();
    assert_eq!(details, ["totalResults 1", "totalResults 0", "totalResults 0", "totalResults 0"]);
    assert!(checks.iter().all(|c| c["status"] == 200 && c["method"] == "GET"));

    admin.post(&format!("/tenants/{tenant}/connections/okta/disable"), &json!({})).await.expect(200);
    let disabled = admin.post(&format!("/tenants/{tenant}/connections/okta/test"), &json!({})).await.expect(200);
    assert_eq!(disabled["passed"], false);
    assert!(disabled["checks"].as_array().unwrap().iter().all(|c| c["status"] == 401 && c["passed"] == false), "{disabled}");
    let unknown = admin.post(&format!("/tenants/{tenant}/connections/nobody/test"), &json!({})).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["code"], "unknown_connection");

    let spec = admin.get("/openapi.json").await.expect(200);
    assert!(spec["paths"]["/admin/v1/lag"]["get"].is_object(), "the lag is documented");
    assert!(spec["paths"]["/admin/v1/tenants/{tenant}/connections/{connection}/test"]["post"].is_object(), "the test is documented");
}
