//! Connections as policy, end to end over real HTTP (issue 9 §1, §2, §4, §5): each auth mode
//! with right, wrong and other tenants' secrets, OAuth access tokens, rotation inside and
//! after the grace period, revocation, disabling from the CLI while the server runs, settings
//! changes as events, and the admin API's refusals.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::StatusCode;
use scimledger_e2e::hearing::{changed, heard, start, wait_heard};
use scimledger_e2e::{on_both_backends, Server};
use serde_json::{json, Value};

/// GET /Users of `tenant` with this `Authorization` value (none if `None`).
async fn users(server: &Server, tenant: &str, authorization: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{}/scim/v2/{tenant}/Users", server.base));
    if let Some(value) = authorization {
        request = request.header(AUTHORIZATION, value);
    }
    request.send().await.expect("the server answers")
}

async fn status(server: &Server, tenant: &str, authorization: &str) -> u16 {
    users(server, tenant, Some(authorization)).await.status().as_u16()
}

fn basic(username: &str, password: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")))
}

/// The connection's token, as a `Bearer` value.
fn bearer(issued: &Value) -> String {
    format!("Bearer {}", issued["token"].as_str().expect("a token"))
}

async fn token_request(server: &Server, tenant: &str, form: &[(&str, &str)], authorization: Option<String>) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(format!("{}/oauth/{tenant}/token", server.base)).form(form);
    if let Some(value) = authorization {
        request = request.header(AUTHORIZATION, value);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    if status != 200 {
        assert!(response.headers().get("cache-control").is_some() || status == 503);
    }
    (status, response.json().await.expect("a JSON body"))
}

async fn access_token(server: &Server, tenant: &str, issued: &Value) -> String {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", issued["client_id"].as_str().unwrap()),
        ("client_secret", issued["client_secret"].as_str().unwrap()),
    ];
    let (status, body) = token_request(server, tenant, &form, None).await;
    assert_eq!(status, 200, "{body}");
    format!("Bearer {}", body["access_token"].as_str().unwrap())
}

async fn schemes(server: &Server, tenant: &str, authorization: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{}/scim/v2/{tenant}/ServiceProviderConfig", server.base))
        .header(AUTHORIZATION, authorization)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["authenticationSchemes"].clone()
}

on_both_backends! {
    async fn bearer_and_header_tokens(backend: Backend) {
        let server = start(&backend, Vec::new()).await;
        changed(&server, &backend, &["tenant", "create", "acme"]).await;
        changed(&server, &backend, &["tenant", "create", "globex"]).await;
        let bearer_conn = changed(&server, &backend, &["connection", "create", "acme", "--name", "okta"]).await;
        assert_eq!(bearer_conn["auth"], "bearer");
        for field in ["tenant", "connection_id", "name", "base_url", "token"] {
            assert!(bearer_conn[field].is_string(), "{field}: {bearer_conn}");
        }
        let token = bearer_conn["token"].as_str().unwrap();

        assert_eq!(status(&server, "acme", &bearer(&bearer_conn)).await, 200);
        assert_eq!(status(&server, "acme", token).await, 401, "a bearer connection's token needs its scheme");
        assert_eq!(status(&server, "globex", &bearer(&bearer_conn)).await, 401, "another tenant's token");
        let wrong = users(&server, "acme", Some("Bearer scimledger_0000")).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        let challenges: Vec<&str> = wrong.headers().get_all(WWW_AUTHENTICATE).iter().map(|v| v.to_str().unwrap()).collect();
        assert!(challenges[0].starts_with("Bearer realm=") && challenges[0].contains("invalid_token"), "{challenges:?}");
        let none = users(&server, "acme", None).await;
        assert!(none.headers().get(WWW_AUTHENTICATE).unwrap().to_str().unwrap().starts_with("Bearer realm="));
        let body: Value = none.json().await.unwrap();
        assert_eq!(body["status"], "401");

        // Okta's Header Auth app: the raw token as the whole header; Bearer works too.
        let header_conn = changed(&server, &backend, &["connection", "create", "acme", "--name", "okta-header", "--auth", "header"]).await;
        let raw = header_conn["token"].as_str().unwrap();
        assert_eq!(status(&server, "acme", raw).await, 200);
        assert_eq!(status(&server, "acme", &bearer(&header_conn)).await, 200);
        assert_eq!(status(&server, "globex", raw).await, 401);
        assert_eq!(schemes(&server, "acme", raw).await[0]["name"], "Header token");
        assert_eq!(schemes(&server, "acme", &bearer(&bearer_conn)).await[0]["type"], "oauthbearertoken");
    }

    async fn basic_username_and_password(backend: Backend) {
        let server = start(&backend, Vec::new()).await;
        changed(&server, &backend, &["tenant", "create", "acme"]).await;
        changed(&server, &backend, &["tenant", "create", "globex"]).await;
        let issued = changed(&server, &backend, &["connection", "create", "acme", "--name", "aiw", "--auth", "basic"]).await;
        let (username, password) = (issued["username"].as_str().unwrap(), issued["password"].as_str().unwrap());
        assert!(issued.get("token").is_none(), "{issued}");
        assert_eq!(status(&server, "acme", &basic(username, password)).await, 200);
        let wrong = users(&server, "acme", Some(&basic(username, "nope"))).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        assert!(wrong.headers().get(WWW_AUTHENTICATE).unwrap().to_str().unwrap().starts_with("Basic realm="), "Basic first");
        assert_eq!(status(&server, "acme", &basic("someone-else", password)).await, 401);
        assert_eq!(status(&server, "globex", &basic(username, password)).await, 401);
        assert_eq!(status(&server, "acme", &format!("Bearer {password}")).await, 401, "a password is no bearer token");
        let listed = schemes(&server, "acme", &basic(username, password)).await;
        assert_eq!(listed.as_array().unwrap().len(), 1);
        assert_eq!(listed[0]["type"], "httpbasic");
    }

    async fn oauth_client_credentials(backend: Backend) {
        let server = start(&backend, vec![("SCIMLEDGER_OAUTH_TOKEN_TTL_SECS", "2".into())]).await;
        changed(&server, &backend, &["tenant", "create", "acme"]).await;
        changed(&server, &backend, &["tenant", "create", "globex"]).await;
        let issued = changed(&server, &backend, &["connection", "create", "acme", "--name", "entra", "--auth", "oauth"]).await;
        assert_eq!(issued["token_url"], format!("{}/oauth/acme/token", server.base));
        let (client_id, secret) = (issued["client_id"].as_str().unwrap(), issued["client_secret"].as_str().unwrap());

        // The form body, then Basic (RFC 6749 §2.3.1).
        let (code, body) = token_request(&server, "acme", &[("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", secret)], None).await;
        assert_eq!(code, 200, "{body}");
        assert_eq!((body["token_type"].clone(), body["expires_in"].clone()), (json!("Bearer"), json!(2)));
        let access = format!("Bearer {}", body["access_token"].as_str().unwrap());
        let (code, _) = token_request(&server, "acme", &[("grant_type", "client_credentials")], Some(basic(client_id, secret))).await;
        assert_eq!(code, 200);

        // Refusals in RFC 6749 §5.2's words.
        let (code, body) = token_request(&server, "acme", &[("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", "x")], None).await;
        assert_eq!((code, body["error"].clone()), (401, json!("invalid_client")));
        let (code, body) = token_request(&server, "globex", &[("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", secret)], None).await;
        assert_eq!((code, body["error"].clone()), (401, json!("invalid_client")), "another tenant's endpoint");
        let (code, body) = token_request(&server, "acme", &[("grant_type", "password"), ("client_id", client_id), ("client_secret", secret)], None).await;
        assert_eq!((code, body["error"].clone()), (400, json!("unsupported_grant_type")));
        let (code, body) = token_request(&server, "acme", &[("client_id", client_id)], None).await;
        assert_eq!((code, body["error"].clone()), (400, json!("invalid_request")));

        assert_eq!(status(&server, "acme", &access).await, 200);
        assert_eq!(status(&server, "globex", &access).await, 401, "another tenant's URL");
        assert_eq!(status(&server, "acme", &format!("Bearer {secret}")).await, 401, "the client secret is no access token");
        let mut forged = access.clone();
        forged.pop();
        forged.push(if access.ends_with('0') { '1' } else { '0' });
        assert_eq!(status(&server, "acme", &forged).await, 401, "a changed MAC");
        assert_eq!(schemes(&server, "acme", &access).await[0]["type"], "oauth2");

        // Expired: the token lives two seconds here.
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        let expired = users(&server, "acme", Some(&access)).await;
        assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
        assert!(expired.headers().get(WWW_AUTHENTICATE).unwrap().to_str().unwrap().contains("invalid_token"));

        // A rotated secret's access tokens die with it.
        let fresh = access_token(&server, "acme", &issued).await;
        let rotated = changed(&server, &backend, &["connection", "rotate", "acme", "entra", "--grace", "0"]).await;
        assert_eq!(rotated["client_id"], client_id, "the client id stays");
        assert_eq!(status(&server, "acme", &fresh).await, 401);
        let (code, _) = token_request(&server, "acme", &[("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", secret)], None).await;
        assert_eq!(code, 401, "the old secret");
        let newest = access_token(&server, "acme", &rotated).await;
        assert_eq!(status(&server, "acme", &newest).await, 200);
        changed(&server, &backend, &["connection", "disable", "acme", "entra"]).await;
        assert_eq!(status(&server, "acme", &newest).await, 401, "disabled");
    }

    async fn rotation_revocation_and_disable_from_the_cli(backend: Backend) {
        let server = start(&backend, Vec::new()).await;
        changed(&server, &backend, &["tenant", "create", "acme"]).await;
        let first = changed(&server, &backend, &["connection", "create", "acme", "--name", "okta"]).await;
        let id = first["connection_id"].as_str().unwrap().to_owned();
        assert_eq!(status(&server, "acme", &bearer(&first)).await, 200, "and now cached, where the backend caches");

        // Inside the grace period both work; revoking ends all but the newest at once.
        let second = changed(&server, &backend, &["connection", "rotate", "acme", "okta", "--grace", "1h"]).await;
        assert_eq!(status(&server, "acme", &bearer(&first)).await, 200);
        assert_eq!(status(&server, "acme", &bearer(&second)).await, 200);
        let shown = server.cli_json(&["connection", "show", "acme", "okta"]).await;
        let credentials = shown["credentials"].as_array().unwrap();
        assert_eq!(credentials.len(), 2, "{shown}");
        assert!(credentials[0]["expires"].is_string() && credentials[0]["live"] == true, "in its grace period: {shown}");
        assert!(credentials[1]["expires"].is_null() && credentials[1]["live"] == true, "the newest has no end: {shown}");
        assert!(!shown.to_string().contains(bearer(&first).trim_start_matches("Bearer ")), "no secret is shown again");
        changed(&server, &backend, &["connection", "revoke", "acme", &id]).await;
        assert_eq!(status(&server, "acme", &bearer(&first)).await, 401);
        let shown = server.cli_json(&["connection", "show", "acme", "okta"]).await;
        assert_eq!(shown["credentials"][0]["live"], false, "revoked: {shown}");
        assert!(server.cli(&["connection", "show", "acme", "okta"]).await.contains("credential:"), "the plain listing shows them too");
        assert_eq!(status(&server, "acme", &bearer(&second)).await, 200);

        // A grace period of 0: the old secret fails at once (after the grace period).
        let third = changed(&server, &backend, &["connection", "rotate", "acme", "okta", "--grace", "0"]).await;
        assert_eq!(status(&server, "acme", &bearer(&second)).await, 401);
        assert_eq!(status(&server, "acme", &bearer(&third)).await, 200);

        // Disabled by the CLI, another process, while the server runs: refused at once.
        let disabled = changed(&server, &backend, &["connection", "disable", "acme", "okta"]).await;
        assert!(disabled["disabled"].is_string(), "{disabled}");
        assert_eq!(status(&server, "acme", &bearer(&third)).await, 401);
        let refused = server.cli_fails(&["connection", "rotate", "acme", "okta"]).await;
        assert!(refused.contains("disabled"), "{refused}");

        let types: Vec<String> = backend
            .open_store()
            .await
            .read_log(0, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.stream.to_string() == id)
            .map(|e| e.payload.event_type)
            .collect();
        assert_eq!(types, ["connection.created", "connection.secret_rotated", "connection.secrets_revoked", "connection.secret_rotated", "connection.disabled"]);
    }

    async fn settings_changes_are_events(backend: Backend) {
        let server = start(&backend, Vec::new()).await;
        changed(&server, &backend, &["tenant", "create", "acme"]).await;
        let created = changed(&server, &backend, &["connection", "create", "acme", "--name", "okta", "--claim-manual", "--on-create-role", "staff"]).await;
        assert_eq!(created["settings"]["read_scope"], "own", "new connections see their own");
        assert_eq!(created["settings"]["claim_manual"], true);
        let updated = changed(
            &server,
            &backend,
            &["connection", "update", "acme", "okta", "--on-deactivate", "change_device_policy", "--device-policy", "locked", "--read-scope", "all", "--on-create-role", "none"],
        )
        .await;
        assert_eq!(updated["settings"]["on_deactivate"], "change_device_policy");
        assert_eq!(updated["settings"]["on_create_role"], Value::Null);
        assert_eq!(server.cli_json(&["connection", "show", "acme", "okta"]).await["settings"], updated["settings"]);

        let store = backend.open_store().await;
        let log = store.read_log(0, 100).await.unwrap();
        let changed = log.iter().find(|e| e.payload.event_type == "connection.settings_changed").expect("the change is an event");
        assert_eq!(changed.metadata["operator"], "cli");
        assert_eq!(
            changed.payload.data["changes"],
            json!([
                {"setting": "on_create_role", "from": "staff", "to": null},
                {"setting": "on_deactivate", "from": "nothing", "to": "change_device_policy"},
                {"setting": "device_policy", "from": null, "to": "locked"},
                {"setting": "read_scope", "from": "own", "to": "all"},
            ])
        );

        // Bad values: a clear error, nothing changed.
        let before = backend.event_count().await;
        for bad in [
            vec!["connection", "update", "acme", "okta", "--on-deactivate", "wipe"],
            vec!["connection", "update", "acme", "okta", "--read-scope", "some"],
            vec!["connection", "update", "acme", "okta", "--device-policy", "none"],
            vec!["connection", "create", "acme", "--name", "x", "--auth", "digest"],
            vec!["connection", "create", "nobody", "--name", "x"],
            vec!["connection", "create", "acme", "--name", "okta"],
            vec!["connection", "rotate", "acme", "okta", "--grace", "soon"],
            vec!["connection", "show", "acme", "nope"],
        ] {
            let said = server.cli_fails(&bad).await;
            assert!(!said.trim().is_empty(), "{bad:?} says why");
        }
        assert_eq!(backend.event_count().await, before, "refusals change nothing");
        assert_eq!(server.cli_json(&["connection", "show", "acme", "okta"]).await["settings"], updated["settings"]);
    }

    async fn the_admin_api(backend: Backend) {
        let server = start(&backend, Vec::new()).await;
        let operator = changed(&server, &backend, &["operator", "create", "--name", "alice"]).await;
        let token = operator["token"].as_str().unwrap().to_owned();
        let http = reqwest::Client::new();
        let admin = |method: reqwest::Method, path: &str| http.request(method, format!("{}/admin/v1{path}", server.base)).bearer_auth(&token);
        let send = |request: reqwest::RequestBuilder| async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        };
        use reqwest::Method;

        let mark = heard(&server);
        let (code, tenant) = send(admin(Method::POST, "/tenants").json(&json!({"slug": "acme"}))).await;
        wait_heard(&server, &backend, mark).await;
        assert_eq!((code, tenant["slug"].clone()), (201, json!("acme")));
        let (code, list) = send(admin(Method::GET, "/tenants")).await;
        assert_eq!((code, list.as_array().unwrap().len()), (200, 1));
        let mark = heard(&server);
        let (code, body) = send(admin(
            Method::POST,
            "/tenants/acme/connections",
        ).json(&json!({"name": "aiw", "auth": "basic", "settings": {"send_enrollment_email": true}}))).await;
        wait_heard(&server, &backend, mark).await;
        assert_eq!(code, 201, "{body}");
        assert_eq!(body["settings"]["send_enrollment_email"], true);
        let credentials = basic(body["username"].as_str().unwrap(), body["password"].as_str().unwrap());
        assert_eq!(status(&server, "acme", &credentials).await, 200);
        let log = backend.open_store().await.read_log(0, 100).await.unwrap();
        assert!(log.iter().all(|e| e.metadata["operator"] == "alice" || e.payload.event_type == "operator.created"), "the operator is the actor");

        // Bad input: a clear 4xx with a code and a detail, and nothing changed.
        let before = backend.event_count().await;
        let refusals = [
            (admin(Method::GET, "/tenants/nobody"), 404, "unknown_tenant"),
            (admin(Method::POST, "/tenants/nobody/connections").json(&json!({"name": "x"})), 404, "unknown_tenant"),
            (admin(Method::GET, "/tenants/acme/connections/nope"), 404, "unknown_connection"),
            (admin(Method::POST, "/tenants").header("content-type", "application/json").body("{\"slug\": "), 400, "invalid_json"),
            (admin(Method::POST, "/tenants").json(&json!({"slug": "Not A Slug"})), 400, "invalid_value"),
            (admin(Method::POST, "/tenants").json(&json!({"slug": "acme"})), 409, "already_exists"),
            (admin(Method::POST, "/tenants/acme/connections").json(&json!({"name": "y", "auth": "digest"})), 400, "invalid_value"),
            (admin(Method::POST, "/tenants/acme/connections").json(&json!({"name": "y", "colour": "red"})), 400, "invalid_json"),
            (admin(Method::PATCH, "/tenants/acme/connections/aiw").json(&json!({"on_deactivate": "wipe"})), 400, "invalid_value"),
            (admin(Method::PATCH, "/tenants/acme/connections/aiw").json(&json!({"read_scope": 3})), 400, "invalid_json"),
            (admin(Method::POST, "/tenants/acme/connections/aiw/rotate").json(&json!({"grace": "later"})), 400, "invalid_value"),
            (http.get(format!("{}/admin/v1/tenants", server.base)).bearer_auth("scimledger_wrong"), 401, "unauthorized"),
            (http.get(format!("{}/admin/v1/tenants", server.base)), 401, "unauthorized"),
            (http.get(format!("{}/admin/v1/tenants", server.base)).header(AUTHORIZATION, &credentials), 401, "unauthorized"),
        ];
        for (request, expected, code) in refusals {
            let (status, body) = send(request).await;
            assert_eq!((status, body["code"].as_str()), (expected, Some(code)), "{body}");
            assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
        }
        assert_eq!(backend.event_count().await, before, "refusals change nothing");

        // Rotate with no grace, then disable, through the API.
        let mark = heard(&server);
        let (code, rotated) = send(admin(Method::POST, "/tenants/acme/connections/aiw/rotate").json(&json!({"grace": "0"}))).await;
        wait_heard(&server, &backend, mark).await;
        assert_eq!(code, 200, "{rotated}");
        assert_eq!(status(&server, "acme", &credentials).await, 401);
        let newest = basic(rotated["username"].as_str().unwrap(), rotated["password"].as_str().unwrap());
        assert_eq!(status(&server, "acme", &newest).await, 200);
        // A user of aiw's, for the purge below to delete.
        let scim_users = format!("{}/scim/v2/acme/Users", server.base);
        let created = http.post(&scim_users).header(AUTHORIZATION, &newest).json(&json!({"userName": "aiw.user"})).send().await.unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        let mark = heard(&server);
        let (code, _) = send(admin(Method::POST, "/tenants/acme/connections/aiw/disable")).await;
        wait_heard(&server, &backend, mark).await;
        assert_eq!(code, 200);
        assert_eq!(status(&server, "acme", &newest).await, 401);
        let (code, body) = send(admin(Method::PATCH, "/tenants/acme/connections/aiw").json(&json!({"claim_manual": true}))).await;
        assert_eq!((code, body["code"].clone()), (409, json!("connection_disabled")));

        // Disabled without purge, it may still be purged; the purge runs beside the API.
        let (code, body) = send(admin(Method::POST, "/tenants/acme/connections/aiw/disable").json(&json!({"purge": "yes"}))).await;
        assert_eq!((code, body["code"].clone()), (400, json!("invalid_json")));
        let (code, body) = send(admin(Method::POST, "/tenants/acme/connections/aiw/disable").json(&json!({"purge": true}))).await;
        assert_eq!(code, 200, "{body}");
        let store = backend.open_store().await;
        let purged = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let log = store.read_log(0, 1_000).await.unwrap();
                if let Some(deleted) = log.into_iter().find(|e| e.payload.event_type == "user.deleted") {
                    return deleted;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the purge deleted aiw's user");
        assert_eq!(purged.metadata["reason"], "connection_disabled");

        // The OpenAPI document, generated from the code.
        let spec: Value = http.get(format!("{}/admin/v1/openapi.json", server.base)).send().await.unwrap().json().await.unwrap();
        assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"), "{}", spec["openapi"]);
        for path in [
            "/admin/v1/tenants",
            "/admin/v1/tenants/{tenant}/connections",
            "/admin/v1/tenants/{tenant}/connections/{connection}/rotate",
            "/admin/v1/tenants/{tenant}/Users/{id}",
            "/admin/v1/tenants/{tenant}/Groups",
        ] {
            assert!(spec["paths"][path].is_object(), "{path} is documented");
        }
        assert!(spec["components"]["schemas"]["ErrorBody"]["properties"]["code"].is_object());
        assert!(spec["paths"]["/admin/v1/tenants/{tenant}"]["delete"].is_object(), "tenant delete is documented");
    }

    async fn deleting_a_tenant(backend: Backend) {
        let server = start(&backend, Vec::new()).await;
        let scim = server.tenant("acme").await;
        let other = server.tenant("globex").await;
        let alice = scim.post("/Users", &json!({"userName": "alice@acme.com"})).await.expect(201)["id"].as_str().unwrap().to_owned();
        scim.post("/Groups", &json!({"displayName": "Everyone", "members": [{"value": alice}]})).await.expect(201);
        other.post("/Users", &json!({"userName": "alice@acme.com"})).await.expect(201);
        server.cli_json(&["device", "register", "acme", "--serial", "C02X", "--assign", "alice@acme.com"]).await;
        server.cli_json(&["device", "register", "globex", "--serial", "C02X"]).await;
        let operator = server.cli_json(&["operator", "create", "--name", "olga"]).await;
        let http = reqwest::Client::new();
        let delete = || http.delete(format!("{}/admin/v1/tenants/acme", server.base)).bearer_auth(operator["token"].as_str().unwrap());

        // Refused while a connection is enabled, naming it; nothing changes.
        let before = backend.event_count().await;
        let refused = server.cli_fails(&["tenant", "delete", "acme"]).await;
        assert!(refused.contains("okta") && refused.contains("disable"), "{refused}");
        let response = delete().send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(response.json::<Value>().await.unwrap()["code"], "tenant_in_use");
        assert_eq!(backend.event_count().await, before, "refusals change nothing");

        changed(&server, &backend, &["connection", "disable", "acme", "okta"]).await;
        let deleted = server.cli_json(&["tenant", "delete", "acme"]).await;
        assert_eq!(deleted["slug"], "acme");

        // The read models forget the tenant; its history stays, closed by `tenant.deleted`.
        let store = backend.open_store().await;
        let acme = domain::TenantSlug::parse("acme").unwrap();
        let everything = scim::list::ListQuery::from_params(std::iter::empty(), &scim::schema::USER_RESOURCE).unwrap();
        assert_eq!(store.users(&acme, &everything, false).await.unwrap().total, 0);
        assert!(store.connections(&acme).await.unwrap().is_empty());
        assert!(store.devices(&acme, None).await.unwrap().is_empty());
        assert_eq!(store.devices(&domain::TenantSlug::parse("globex").unwrap(), None).await.unwrap().len(), 1);
        let slugs: Vec<String> = store.tenants().await.unwrap().into_iter().map(|t| t.slug.to_string()).collect();
        assert_eq!(slugs, ["globex"]);
        let log = store.read_log(0, 1_000).await.unwrap();
        let last = log.iter().rfind(|e| e.tenant == acme).unwrap();
        assert_eq!((last.payload.event_type.as_str(), last.metadata["operator"].as_str()), ("tenant.deleted", Some("cli")));
        assert!(log.iter().any(|e| e.tenant == acme && e.payload.event_type == "user.provisioned"), "history stays");

        // The other tenant is untouched; the deleted one is gone for every door.
        assert_eq!(other.get("/Users").await.expect(200)["totalResults"], 1);
        assert_eq!(delete().send().await.unwrap().status(), StatusCode::NOT_FOUND);
        let again = server.cli_fails(&["tenant", "create", "acme"]).await;
        assert!(again.contains("already exists"), "a deleted tenant's slug is not used again: {again}");
        let refused = server.cli_fails(&["connection", "create", "acme", "--name", "late"]).await;
        assert!(refused.contains("does not exist"), "{refused}");
    }
}
