//! Given / when / then for every connection command and refusal.

use cqrs_es::test::TestFramework;
use serde_json::json;
use time::macros::datetime;
use time::Duration;

use super::settings::PolicyName;
use super::*;
use crate::event::{decode, encode};
use crate::secret::NewSecret;

type Given = TestFramework<Connection>;

fn secret(n: u8) -> NewSecret {
    NewSecret::new([n; 32])
}

fn created(secret: &NewSecret) -> ConnectionEvent {
    ConnectionEvent::Created {
        name: ConnectionName::parse("okta").unwrap(),
        auth: AuthMode::Basic,
        login: Some("scim-1".into()),
        settings: Settings::default(),
        credential_id: secret.id,
    }
}

#[test]
fn create_records_no_secret_only_its_id() {
    let s = secret(1);
    let command = ConnectionCommand::Create {
        name: ConnectionName::parse("okta").unwrap(),
        auth: AuthMode::Basic,
        login: Some("scim-1".into()),
        settings: Settings::default(),
        secret: s.clone(),
    };
    Given::with(()).given_no_previous_events().when(command).then_expect_events(vec![created(&s)]);
    let payload = encode(&created(&s));
    assert_eq!(payload.event_type, "connection.created");
    assert!(!payload.data.to_string().contains(&hex_of(&s)), "no hash in the payload");
    assert_eq!(payload.data["settings"]["read_scope"], "own");
}

fn hex_of(s: &NewSecret) -> String {
    s.hash.0.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn settings_changes_record_from_and_to() {
    let s = secret(1);
    let change = SettingsChange {
        on_deactivate: Some(OnDeactivate::ChangeDevicePolicy),
        device_policy: Some(Some(PolicyName::parse("locked").unwrap())),
        claim_manual: Some(false),
        ..Default::default()
    };
    Given::with(()).given(vec![created(&s)]).when(ConnectionCommand::ChangeSettings(change)).then_expect_events(vec![
        ConnectionEvent::SettingsChanged {
            changes: vec![
                SettingChanged { setting: "on_deactivate".into(), from: json!("nothing"), to: json!("change_device_policy") },
                SettingChanged { setting: "device_policy".into(), from: json!(null), to: json!("locked") },
            ],
        },
    ]);
}

#[test]
fn a_change_that_changes_nothing_records_nothing() {
    let s = secret(1);
    let change = SettingsChange { read_scope: Some(ReadScope::Own), ..Default::default() };
    Given::with(()).given(vec![created(&s)]).when(ConnectionCommand::ChangeSettings(change)).then_expect_events(vec![]);
}

#[test]
fn change_device_policy_needs_a_policy() {
    let change = SettingsChange { on_deactivate: Some(OnDeactivate::ChangeDevicePolicy), ..Default::default() };
    let error = Given::with(()).given(vec![created(&secret(1))]).when(ConnectionCommand::ChangeSettings(change)).inspect_result();
    assert!(matches!(error, Err(DomainError::Invalid(_))));
}

#[test]
fn settings_values_are_parsed_or_refused() {
    assert_eq!(OnDeactivate::parse("remove_user_and_devices").unwrap(), OnDeactivate::RemoveUserAndDevices);
    assert!(OnDeactivate::parse("wipe").is_err());
    assert!(ReadScope::parse("some").is_err());
    assert!(AuthMode::parse("digest").is_err());
    assert!(PolicyName::parse("").is_err());
    assert!(PolicyName::parse(&"r".repeat(129)).is_err());
    assert!(ConnectionName::parse("a\nb").is_err());
}

#[test]
fn rotation_retires_live_secrets_after_the_grace_period() {
    let (old, new) = (secret(1), secret(2));
    let at = datetime!(2026-12-01 10:00 UTC);
    Given::with(())
        .given(vec![created(&old)])
        .when(ConnectionCommand::Rotate { secret: new.clone(), grace: Duration::hours(24), at })
        .then_expect_events(vec![ConnectionEvent::SecretRotated {
            credential_id: new.id,
            grace_seconds: 86_400,
            retiring: vec![Retiring { credential_id: old.id, expires_at: at + Duration::hours(24) }],
        }]);
}

#[test]
fn a_second_rotation_does_not_extend_a_shorter_grace() {
    let (a, b, c) = (secret(1), secret(2), secret(3));
    let at = datetime!(2026-12-01 10:00 UTC);
    let first = ConnectionEvent::SecretRotated {
        credential_id: b.id,
        grace_seconds: 0,
        retiring: vec![Retiring { credential_id: a.id, expires_at: at }],
    };
    Given::with(())
        .given(vec![created(&a), first])
        .when(ConnectionCommand::Rotate { secret: c.clone(), grace: Duration::hours(1), at })
        .then_expect_events(vec![ConnectionEvent::SecretRotated {
            credential_id: c.id,
            grace_seconds: 3600,
            retiring: vec![Retiring { credential_id: b.id, expires_at: at + Duration::hours(1) }],
        }]);
}

#[test]
fn revoke_ends_every_live_secret_but_the_newest() {
    let (a, b) = (secret(1), secret(2));
    let at = datetime!(2026-12-01 10:00 UTC);
    let rotated = ConnectionEvent::SecretRotated {
        credential_id: b.id,
        grace_seconds: 86_400,
        retiring: vec![Retiring { credential_id: a.id, expires_at: at + Duration::hours(24) }],
    };
    Given::with(())
        .given(vec![created(&a), rotated.clone()])
        .when(ConnectionCommand::Revoke { at })
        .then_expect_events(vec![ConnectionEvent::SecretsRevoked { credential_ids: vec![a.id], at }]);
    // With only the newest left, there is nothing to revoke.
    Given::with(()).given(vec![created(&a)]).when(ConnectionCommand::Revoke { at }).then_expect_events(vec![]);
}

#[test]
fn a_disabled_connection_takes_no_more_changes() {
    let a = secret(1);
    Given::with(())
        .given(vec![created(&a)])
        .when(ConnectionCommand::Disable { purge: false })
        .then_expect_events(vec![ConnectionEvent::Disabled { purge: false }]);
    Given::with(())
        .given(vec![created(&a), ConnectionEvent::Disabled { purge: false }])
        .when(ConnectionCommand::Disable { purge: false })
        .then_expect_events(vec![]);
    let at = datetime!(2026-12-01 10:00 UTC);
    let error = Given::with(())
        .given(vec![created(&a), ConnectionEvent::Disabled { purge: false }])
        .when(ConnectionCommand::Rotate { secret: secret(2), grace: Duration::ZERO, at })
        .inspect_result();
    assert!(matches!(error, Err(DomainError::Invalid(_))));
}

#[test]
fn a_disable_with_purge_is_recorded_once_even_after_a_plain_disable() {
    let a = secret(1);
    let plain = ConnectionEvent::Disabled { purge: false };
    let purge = ConnectionEvent::Disabled { purge: true };
    Given::with(()).given(vec![created(&a)]).when(ConnectionCommand::Disable { purge: true }).then_expect_events(vec![purge.clone()]);
    Given::with(())
        .given(vec![created(&a), plain.clone()])
        .when(ConnectionCommand::Disable { purge: true })
        .then_expect_events(vec![purge.clone()]);
    Given::with(()).given(vec![created(&a), purge.clone()]).when(ConnectionCommand::Disable { purge: true }).then_expect_events(vec![]);
    Given::with(()).given(vec![created(&a), purge]).when(ConnectionCommand::Disable { purge: false }).then_expect_events(vec![]);
    // Events from before purges carry no `purge`.
    let mut old = encode(&plain);
    old.data = json!({});
    assert_eq!(decode::<ConnectionEvent>(&old).unwrap(), plain);
}

#[test]
fn settings_changed_folds_into_the_state() {
    let a = secret(1);
    let mut connection = Connection::default();
    connection.apply(created(&a));
    connection.apply(ConnectionEvent::SettingsChanged {
        changes: vec![SettingChanged { setting: "read_scope".into(), from: json!("own"), to: json!("all") }],
    });
    assert_eq!(connection.state().unwrap().settings.read_scope, ReadScope::All);
    let payload = encode(&ConnectionEvent::Disabled { purge: false });
    assert_eq!(decode::<ConnectionEvent>(&payload).unwrap(), ConnectionEvent::Disabled { purge: false });
}

#[test]
fn redirect_uris_replace_the_set_and_only_oauth_connections_take_them() {
    let s = secret(1);
    let uri = |u: &str| RedirectUri::parse(u).unwrap();
    let change =
        |uris: Vec<RedirectUri>| ConnectionCommand::ChangeSettings(SettingsChange { redirect_uris: Some(uris), ..Default::default() });
    let oauth = ConnectionEvent::Created {
        name: ConnectionName::parse("okta").unwrap(),
        auth: AuthMode::Oauth,
        login: Some("client-1".into()),
        settings: Settings::default(),
        credential_id: s.id,
    };
    let (a, b) = ("https://acme.okta.com/a", "http://127.0.0.1:9/b");
    Given::with(()).given(vec![oauth]).when(change(vec![uri(a), uri(b), uri(a)])).then_expect_events(vec![
        ConnectionEvent::SettingsChanged {
            changes: vec![SettingChanged { setting: "redirect_uris".into(), from: json!([]), to: json!([a, b]) }],
        },
    ]);
    Given::with(())
        .given(vec![created(&s)])
        .when(change(vec![uri(a)]))
        .then_expect_error_message("400 invalidValue: redirect URIs are for oauth connections; this one is basic");
}
