//! The enrollment mailer end to end, on both backends, against a real SMTP server (Python
//! aiosmtpd) whose accepted messages are read back: one email per provisioned user, none when
//! the connection does not send them, the user has no email or was claimed; none lost and none
//! twice across a kill -9 (but for the documented window, where the resend has the same
//! Message-ID); SMTP away for a while; a refused recipient blocking no one.

use std::collections::HashMap;
use std::time::Duration;

use domain::{Owner, StreamKind, TenantSlug};
use scimledger_e2e::hearing::{self, heard, wait_heard};
use scimledger_e2e::smtp::{Mail, SmtpSink};
use scimledger_e2e::{on_both_backends, Backend, Scim, Server};
use serde_json::{json, Value};
use store::{Actor, EventMetadata, RecordedEvent, Store};

/// `services/scimledger/src/subscribers/mailer.rs` CONCURRENCY: the duplicate window's width.
const MAILER_CONCURRENCY: usize = 8;
const URL_TEMPLATE: &str = "https://mfa.example.com/enroll?t={token}";

/// A tenant `acme` with the enrollment template, and a connection `okta` that sends emails.
async fn acme(server: &Server, backend: &Backend) -> Scim {
    server.cli(&["tenant", "create", "acme"]).await;
    let set =
        server.cli_json(&["tenant", "update", "acme", "--enrollment-url", URL_TEMPLATE, "--enrollment-subject", "Welcome {name}"]).await;
    assert_eq!(set["url"], URL_TEMPLATE, "{set}");
    connection(server, backend, "okta", &["--send-enrollment-email"]).await
}

/// A new connection of `acme`, once the server heard of it (ADR 0021).
async fn connection(server: &Server, backend: &Backend, name: &str, settings: &[&str]) -> Scim {
    let mark = heard(server);
    let mut args = vec!["connection", "create", "acme", "--name", name, "--json"];
    args.extend_from_slice(settings);
    let issued: Value = serde_json::from_str(server.cli(&args).await.trim()).expect("JSON");
    wait_heard(server, backend, mark).await;
    Scim::new(issued["base_url"].as_str().unwrap(), issued["token"].as_str().unwrap())
}

fn user(name: &str, email: Option<&str>) -> Value {
    let mut user = json!({"userName": name, "name": {"givenName": name.to_uppercase()}});
    if let Some(email) = email {
        user["emails"] = json!([{"value": email, "type": "work", "primary": true}]);
    }
    user
}

/// The mailer's outcomes on the log (`enrollment.sent`, `.failed`, `.skipped`).
async fn outcomes(store: &dyn Store) -> Vec<RecordedEvent> {
    let log = store.read_log(0, u32::MAX).await.expect("the log");
    log.into_iter().filter(|e| e.kind == StreamKind::Enrollment && e.payload.event_type != "enrollment.verified").collect()
}

async fn wait_for_outcomes(store: &dyn Store, count: usize) -> Vec<RecordedEvent> {
    let waited = tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            let outcomes = outcomes(store).await;
            if outcomes.len() >= count {
                return outcomes;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    waited.unwrap_or_else(|_| panic!("expected {count} enrollment outcomes"))
}

fn by_type(outcomes: &[RecordedEvent], event_type: &str) -> Vec<Value> {
    outcomes.iter().filter(|e| e.payload.event_type == event_type).map(|e| e.payload.data.clone()).collect()
}

async fn verify(server: &Server, tenant: &str, token: &str) -> (u16, Value) {
    let reply = reqwest::Client::new()
        .post(format!("{}/enroll/v1/{tenant}/verify", server.base))
        .json(&json!({"token": token}))
        .send()
        .await
        .expect("the verify request");
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

fn token_of(mail: &Mail) -> String {
    let link = mail.link().expect("a link in the email");
    link.strip_prefix("https://mfa.example.com/enroll?t=").unwrap_or_else(|| panic!("a link from the template: {link}")).to_owned()
}

on_both_backends! {
    async fn operators_set_the_template_through_the_admin_api_and_the_cli_and_bad_ones_change_nothing(backend: Backend) {
        let smtp = SmtpSink::start().await;
        let server = hearing::start(&backend, smtp.settings()).await;
        server.cli(&["tenant", "create", "acme"]).await;
        let operator = hearing::changed(&server, &backend, &["operator", "create", "--name", "alice"]).await;
        let token = operator["token"].as_str().unwrap().to_owned();
        let put = |tenant: &str, body: Value| {
            let request = reqwest::Client::new().put(format!("{}/admin/v1/tenants/{tenant}/enrollment", server.base)).bearer_auth(&token).json(&body);
            async move {
                let reply = request.send().await.unwrap();
                (reply.status().as_u16(), reply.json::<Value>().await.unwrap())
            }
        };
        let store = backend.open_store().await;
        let configured = || async {
            let log = store.read_log(0, u32::MAX).await.unwrap();
            log.into_iter().filter(|e| e.payload.event_type == "tenant.enrollment_configured").collect::<Vec<_>>()
        };
        for bad in [json!({"url": "https://x.example/enroll"}), json!({"url": URL_TEMPLATE, "text": "no link here"}), json!({"url": URL_TEMPLATE, "extra": 1})] {
            let (status, body) = put("acme", bad.clone()).await;
            assert_eq!(status, 400, "{bad}: {body}");
            assert!(body["detail"].is_string(), "{body}");
        }
        assert_eq!(put("nope", json!({"url": URL_TEMPLATE})).await.0, 404);
        assert!(server.cli_fails(&["tenant", "update", "acme", "--enrollment-url", "ftp://x/{token}"]).await.contains("enrollment URL"));
        assert!(configured().await.is_empty(), "bad input changes nothing");

        let (status, body) = put("acme", json!({"url": URL_TEMPLATE, "html": "<a href=\"{link}\">enroll</a>"})).await;
        assert_eq!((status, body["subject"].as_str(), body["html"].as_str()), (200, Some("Enroll your account"), Some("<a href=\"{link}\">enroll</a>")), "{body}");
        assert_eq!(put("acme", json!({"url": URL_TEMPLATE, "html": "<a href=\"{link}\">enroll</a>"})).await.0, 200);
        let events = configured().await;
        assert_eq!(events.len(), 1, "setting the same template again records nothing");
        assert_eq!(events[0].metadata["operator"], "alice");

        // The HTML alternative goes out with the text.
        let okta = connection(&server, &backend, "okta", &["--send-enrollment-email"]).await;
        okta.post("/Users", &user("ada", Some("ada@example.com"))).await.expect(201);
        wait_for_outcomes(&*store, 1).await;
        let mail = &smtp.to("ada@example.com")[0];
        let link = mail.link().unwrap();
        assert_eq!(mail.html.as_deref().map(str::trim), Some(format!("<a href=\"{link}\">enroll</a>").as_str()));
    }

    async fn a_provisioned_user_gets_exactly_one_email_whose_link_enrolls_once(backend: Backend) {
        let smtp = SmtpSink::start().await;
        let server = hearing::start(&backend, smtp.settings()).await;
        let okta = acme(&server, &backend).await;
        let ada = okta.post("/Users", &user("ada", Some("ada@example.com"))).await.expect(201);
        let store = backend.open_store().await;
        let outcomes = wait_for_outcomes(&*store, 1).await;
        let sent = by_type(&outcomes, "enrollment.sent");
        assert_eq!(sent.len(), 1, "{outcomes:?}");
        assert_eq!((sent[0]["user"].as_str(), sent[0]["to"].as_str()), (ada["id"].as_str(), Some("ada@example.com")));
        let provisioned = store.read_log(0, u32::MAX).await.unwrap().into_iter().find(|e| e.payload.event_type == "user.provisioned").unwrap();
        assert_eq!(sent[0]["cause"], provisioned.event_id.to_string(), "the outcome names the event that caused it");
        assert_eq!(outcomes[0].metadata["system"], "mailer");

        let mails = smtp.to("ada@example.com");
        assert_eq!(mails.len(), 1, "{mails:?}");
        assert_eq!(mails[0].subject, "Welcome ADA");
        assert_eq!(mails[0].mail_from, "enroll@scimledger.test");
        assert_eq!(Some(mails[0].message_id.as_str()), sent[0]["message_id"].as_str());
        let token = token_of(&mails[0]);

        // The link enrolls ada, once; a forged or another tenant's token enrolls no one.
        let (status, answer) = verify(&server, "acme", &token).await;
        assert_eq!((status, answer["user_name"].as_str(), answer["user_id"].as_str()), (200, Some("ada"), ada["id"].as_str()), "{answer}");
        let (status, answer) = verify(&server, "acme", &token).await;
        assert_eq!(status, 410, "{answer}");
        assert_eq!(verify(&server, "acme", &format!("{token}x")).await.0, 404);
        assert_eq!(verify(&server, "other", &token).await.0, 404);
        let verified: Vec<RecordedEvent> =
            store.read_log(0, u32::MAX).await.unwrap().into_iter().filter(|e| e.payload.event_type == "enrollment.verified").collect();
        assert_eq!(verified.len(), 1);

        // A replay of the whole log (the checkpoint back at the start) sends nothing again.
        server.kill().await;
        store.save_checkpoint("mailer", store::LogCursor::default()).await.unwrap();
        let server = hearing::start(&backend, smtp.settings()).await;
        okta.with_base(&format!("{}/scim/v2/acme", server.base)).post("/Users", &user("bob", Some("bob@example.com"))).await.expect(201);
        wait_for_outcomes(&*store, 2).await;
        server.wait_caught_up("mailer").await;
        assert_eq!(smtp.to("ada@example.com").len(), 1);
        assert_eq!(smtp.to("bob@example.com").len(), 1);
        let health: Value = reqwest::get(format!("{}/healthz/subscribers", server.base)).await.unwrap().json().await.unwrap();
        let mailer = &health["subscribers"][0];
        assert_eq!((mailer["name"].as_str(), mailer["active"].as_bool(), mailer["behind"].as_i64()), (Some("mailer"), Some(true), Some(0)), "{health}");
    }

    async fn no_email_when_the_setting_is_off_the_user_has_none_or_was_claimed(backend: Backend) {
        let smtp = SmtpSink::start().await;
        let server = hearing::start(&backend, smtp.settings()).await;
        let okta = acme(&server, &backend).await;
        let quiet = connection(&server, &backend, "quiet", &[]).await;
        quiet.post("/Users", &user("bob", Some("bob@example.com"))).await.expect(201);
        okta.post("/Users", &user("carl", None)).await.expect(201);

        // Provisioned by hand (an operator's), then claimed by a connection that sends emails.
        let store = backend.open_store().await;
        let tenant = TenantSlug::parse("acme").unwrap();
        let cli = EventMetadata::by(Actor::Operator("cli".into()));
        let resource = scim::document::Document::parse(&user("manual", Some("manual@example.com")), &scim::schema::USER_RESOURCE).unwrap();
        let provision = domain::user::UserCommand::Provision { resource, owner: Owner::Operator };
        let manual = store::commands::create::<domain::user::User>(&*store, &tenant, provision, cli).await.unwrap().id;
        let claimer = connection(&server, &backend, "entra", &["--send-enrollment-email", "--claim-manual"]).await;
        claimer.put(&format!("/Users/{manual}"), &user("manual", Some("manual@example.com"))).await.expect(200);
        okta.post("/Users", &user("dora", Some("dora@example.com"))).await.expect(201);

        wait_for_outcomes(&*store, 2).await;
        server.wait_caught_up("mailer").await;
        let outcomes = outcomes(&*store).await;
        assert_eq!(outcomes.len(), 2, "{outcomes:?}");
        let skipped = by_type(&outcomes, "enrollment.skipped");
        assert_eq!((skipped.len(), skipped[0]["reason"].as_str()), (1, Some("no_email")));
        let received: Vec<Vec<String>> = smtp.received().into_iter().map(|m| m.rcpt_tos).collect();
        assert_eq!(received, vec![vec!["dora@example.com".to_owned()]]);
    }

    async fn smtp_away_for_a_while_delivers_later_once(backend: Backend) {
        let mut smtp = SmtpSink::stopped();
        let server = hearing::start(&backend, smtp.settings()).await;
        let okta = acme(&server, &backend).await;
        for name in ["ada", "bob", "carl"] {
            okta.post("/Users", &user(name, Some(&format!("{name}@example.com")))).await.expect(201);
        }
        // The failures show while SMTP is away: on /readyz and the subscribers' health.
        let failing = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let health: Value = reqwest::get(format!("{}/healthz/subscribers", server.base)).await.unwrap().json().await.unwrap();
                if health["subscribers"][0]["retrying"] == true && health["subscribers"][0]["failures"].as_u64() > Some(0) {
                    return health;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("the mailer's failures show");
        assert!(failing["subscribers"][0]["behind"].as_i64() > Some(0), "{failing}");
        let ready = reqwest::get(format!("{}/readyz", server.base)).await.unwrap().text().await.unwrap();
        assert!(ready.contains("subscribers retrying: mailer"), "{ready}");
        // Any process sees them too, from what is kept with the checkpoint.
        let status = server.cli_json(&["worker", "status"]).await;
        let mailer = &status["subscribers"][0];
        assert_eq!(mailer["name"], "mailer", "{status}");
        assert!(mailer["failures"].as_i64() > Some(0), "{status}");
        assert!(mailer["retrying"]["since"].is_string(), "{status}");
        assert!(mailer["retrying"]["error"].as_str().is_some_and(|e| e.contains("subscriber mailer on event")), "{status}");
        let store = backend.open_store().await;
        assert!(outcomes(&*store).await.is_empty());

        smtp.resume().await;
        let outcomes = wait_for_outcomes(&*store, 3).await;
        assert_eq!(by_type(&outcomes, "enrollment.sent").len(), 3, "{outcomes:?}");
        for name in ["ada", "bob", "carl"] {
            assert_eq!(smtp.to(&format!("{name}@example.com")).len(), 1, "{name}");
        }
        let recovered = server.cli_json(&["worker", "status"]).await;
        let mailer = &recovered["subscribers"][0];
        assert!(mailer["retrying"].is_null(), "{recovered}");
        assert!(mailer["failures"].as_i64() > Some(0), "the count stays: {recovered}");
    }

    async fn a_refused_recipient_is_recorded_failed_and_blocks_no_one(backend: Backend) {
        let smtp = SmtpSink::start().await;
        let server = hearing::start(&backend, smtp.settings()).await;
        let okta = acme(&server, &backend).await;
        for (name, email) in [("rex", "reject-rex@example.com"), ("ada", "ada@example.com"), ("bob", "bob@example.com")] {
            okta.post("/Users", &user(name, Some(email))).await.expect(201);
        }
        let store = backend.open_store().await;
        let outcomes = wait_for_outcomes(&*store, 3).await;
        let failed = by_type(&outcomes, "enrollment.failed");
        assert_eq!((failed.len(), failed[0]["to"].as_str()), (1, Some("reject-rex@example.com")), "{outcomes:?}");
        assert!(failed[0]["reason"].as_str().unwrap().contains("550"), "{failed:?}");
        assert_eq!(by_type(&outcomes, "enrollment.sent").len(), 2);
        let mut received: Vec<Vec<String>> = smtp.received().into_iter().map(|m| m.rcpt_tos).collect();
        received.sort();
        assert_eq!(received, vec![vec!["ada@example.com".to_owned()], vec!["bob@example.com".to_owned()]]);
    }

    async fn a_deferred_recipient_waits_on_its_own_across_a_restart_and_blocks_no_one(backend: Backend) {
        let smtp = SmtpSink::start().await;
        let server = hearing::start(&backend, smtp.settings()).await;
        let okta = acme(&server, &backend).await;
        // The first in the log is greylisted (451): the ones behind it go out meanwhile.
        okta.post("/Users", &user("gil", Some("defer-gil@example.com"))).await.expect(201);
        for name in ["ada", "bob", "carl"] {
            okta.post("/Users", &user(name, Some(&format!("{name}@example.com")))).await.expect(201);
        }
        let store = backend.open_store().await;
        let outcomes = wait_for_outcomes(&*store, 3).await;
        let sent: Vec<String> = by_type(&outcomes, "enrollment.sent").iter().map(|s| s["to"].as_str().unwrap().to_owned()).collect();
        assert_eq!(sent.len(), 3, "{outcomes:?}");
        assert!(!sent.contains(&"defer-gil@example.com".to_owned()), "{sent:?}");
        assert!(smtp.to("defer-gil@example.com").is_empty());
        // The mailer's checkpoint stays before the deferred email, so a restart takes it up again.
        let status = server.cli_json(&["worker", "status"]).await;
        assert!(status["subscribers"][0]["failures"].as_i64() > Some(0), "{status}");
        let stopped_at = status["subscribers"][0]["checkpoint"].as_i64().unwrap();
        let gil = store.read_log(0, u32::MAX).await.unwrap().into_iter().find(|e| e.payload.event_type == "user.provisioned").unwrap();
        assert!(stopped_at < gil.position, "the checkpoint {stopped_at} passed the deferred email at {}", gil.position);
        server.kill().await;

        let _server = hearing::start(&backend, smtp.settings()).await;
        smtp.accept_deferred();
        let outcomes = wait_for_outcomes(&*store, 4).await;
        assert_eq!(by_type(&outcomes, "enrollment.sent").len(), 4, "{outcomes:?}");
        for name in ["defer-gil", "ada", "bob", "carl"] {
            assert_eq!(smtp.to(&format!("{name}@example.com")).len(), 1, "{name}: one email, none twice");
        }
    }

    async fn a_kill_9_mid_batch_loses_no_email_and_resends_at_most_the_one_in_flight(backend: Backend) {
        const USERS: usize = 60;
        let smtp = SmtpSink::start().await;
        let server = hearing::start(&backend, smtp.settings()).await;
        let okta = acme(&server, &backend).await;
        let operations: Vec<Value> = (0..USERS)
            .map(|n| json!({"method": "POST", "path": "/Users", "bulkId": format!("u{n}"), "data": user(&format!("u{n}"), Some(&format!("u{n}@example.com")))}))
            .collect();
        okta.post("/Bulk", &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations})).await.expect(200);
        // Killed once some, not all, emails went out.
        let some = tokio::time::timeout(Duration::from_secs(60), async {
            while smtp.received().len() < 3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(some.is_ok(), "no email went out");
        server.kill().await;
        let at_kill = smtp.received().len();
        assert!(at_kill < USERS, "the kill came after every email went out; this test needs more users");
        let server = hearing::start(&backend, smtp.settings()).await;
        let store = backend.open_store().await;
        let outcomes = wait_for_outcomes(&*store, USERS).await;
        server.wait_caught_up("mailer").await;
        assert_eq!(by_type(&outcomes, "enrollment.sent").len(), USERS);

        let mut per_address: HashMap<String, Vec<Mail>> = HashMap::new();
        for mail in smtp.received() {
            per_address.entry(mail.rcpt_tos[0].clone()).or_default().push(mail);
        }
        assert_eq!(per_address.len(), USERS, "every user got an email");
        let twice: Vec<&Vec<Mail>> = per_address.values().filter(|mails| mails.len() > 1).collect();
        // The window: messages accepted before the kill whose record did not commit. The mailer
        // has at most CONCURRENCY in flight, so at most that many are in it, each resent once
        // with the same Message-ID.
        assert!(twice.len() <= MAILER_CONCURRENCY && twice.iter().all(|m| m.len() == 2), "{at_kill} sent before the kill; twice: {twice:?}");
        for mails in twice {
            assert_eq!(mails[0].message_id, mails[1].message_id);
            assert_eq!(mails[0].link(), mails[1].link());
        }
    }

    async fn a_crash_between_acceptance_and_record_resends_with_the_same_message_id(backend: Backend) {
        // The documented window, made wide: the SMTP server keeps the message and answers a
        // minute later, and scimledger dies before it hears the answer.
        let smtp = SmtpSink::start().await;
        let server = hearing::start(&backend, smtp.settings()).await;
        let okta = acme(&server, &backend).await;
        okta.post("/Users", &user("sam", Some("slow-sam@example.com"))).await.expect(201);
        let kept = tokio::time::timeout(Duration::from_secs(60), async {
            while smtp.received().is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(kept.is_ok(), "the SMTP server never got the message");
        server.kill().await;
        let store = backend.open_store().await;
        assert!(outcomes(&*store).await.is_empty(), "nothing recorded: the answer never came");

        let _server = hearing::start(&backend, smtp.settings()).await;
        let outcomes = wait_for_outcomes(&*store, 1).await;
        let sent = by_type(&outcomes, "enrollment.sent");
        let mails = smtp.to("slow-sam@example.com");
        assert_eq!(mails.len(), 2, "sent again, since its acceptance was never recorded");
        assert_eq!((mails[0].message_id.as_str(), mails[1].message_id.as_str()), (sent[0]["message_id"].as_str().unwrap(), sent[0]["message_id"].as_str().unwrap()));
        assert_eq!(mails[0].link(), mails[1].link(), "the same link: either enrolls, once");
    }
}

async fn provision_many(okta: &Scim, names: std::ops::Range<usize>) {
    for n in names {
        okta.post("/Users", &user(&format!("u{n}"), Some(&format!("u{n}@example.com")))).await.expect(201);
    }
}

/// `scimledger worker mailer` beside `serve --no-workers` on PostgreSQL: a second copy stands
/// by, and takes over when the first is killed; every user gets one email.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_alone_sends_and_a_standby_takes_over_after_a_kill() {
    let backend = Backend::postgres().await;
    let smtp = SmtpSink::start().await;
    let mut settings = smtp.settings();
    settings.push(("RUST_LOG", "warn,store::postgres::listen=debug".into()));
    let server = Server::start_serving(&backend, &["--no-workers"], settings).await;
    let health: Value = reqwest::get(format!("{}/healthz/subscribers", server.base)).await.unwrap().json().await.unwrap();
    assert_eq!(health, json!({"subscribers": []}), "--no-workers runs none");
    let okta = acme(&server, &backend).await;
    let store = backend.open_store().await;

    let mut first = server.spawn(&["worker", "mailer"]);
    provision_many(&okta, 0..5).await;
    wait_for_outcomes(&*store, 5).await;
    let _second = server.spawn(&["worker", "mailer"]);
    first.kill().await.expect("killing the first worker");
    provision_many(&okta, 5..10).await;
    wait_for_outcomes(&*store, 10).await;
    server.wait_caught_up("mailer").await;
    for n in 0..10 {
        assert_eq!(smtp.to(&format!("u{n}@example.com")).len(), 1, "u{n}");
    }
}

/// On the embedded file a worker is a second server: refused while `serve` runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_beside_serve_on_the_embedded_file_is_refused() {
    let backend = Backend::sqlite();
    let smtp = SmtpSink::start().await;
    let server = Server::start_with(&backend, smtp.settings()).await;
    let refused = server.cli_fails(&["worker", "mailer"]).await;
    assert!(refused.contains("another scimledger server is already using"), "{refused}");
}
