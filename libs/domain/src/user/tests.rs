//! Given / when / then for every user command and every refusal.

use cqrs_es::test::TestFramework;
use scim::document::Document;
use scim::patch::PatchRequest;
use scim::schema::{ENTERPRISE_USER_SCHEMA, USER_RESOURCE};
use scim::ScimType;
use serde_json::{json, Value};

use super::{User, UserCommand, UserEvent};
use crate::event::{decode, decode_recorded, encode};
use crate::{DomainError, Owner, UserName};
use uuid::Uuid;

type Given = TestFramework<User>;

/// The connection that provisions the users of these tests.
const OKTA: Owner = Owner::Connection(Uuid::from_u128(1));

fn doc(value: Value) -> Document {
    Document::parse(&value, &USER_RESOURCE).unwrap()
}

fn name(text: &str) -> UserName {
    UserName::parse(text).unwrap()
}

/// The profile part of a document: everything but userName and active.
fn profile(value: Value) -> Document {
    let mut d = doc(value);
    d.remove("userName");
    d.remove("active");
    d
}

fn provisioned() -> UserEvent {
    UserEvent::Provisioned {
        user_name: name("bjensen@example.com"),
        active: None,
        profile: profile(json!({"userName": "x", "displayName": "Barbara", "emails": [{"value": "b@example.com", "type": "work"}]})),
        owner: OKTA,
    }
}

fn patch(body: Value) -> UserCommand {
    UserCommand::Patch { request: PatchRequest::parse(&body).unwrap() }
}

fn refusal(result: Result<Vec<UserEvent>, DomainError>) -> ScimType {
    match result {
        Err(DomainError::Invalid(e)) => e.scim_type.expect("a scimType"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn provision_records_an_absent_active_as_absent() {
    Given::with(())
        .given_no_previous_events()
        .when(UserCommand::Provision {
            resource: doc(json!({"userName": "bjensen@example.com", "displayName": "Barbara", "emails": [{"value": "b@example.com", "type": "work"}]})),
            owner: OKTA,
        })
        .then_expect_events(vec![provisioned()]);
}

#[test]
fn provision_twice_is_refused() {
    Given::with(())
        .given(vec![provisioned()])
        .when(UserCommand::Provision { resource: doc(json!({"userName": "other"})), owner: OKTA })
        .then_expect_error(DomainError::AlreadyExists);
}

#[test]
fn replace_with_the_same_resource_changes_nothing() {
    Given::with(())
        .given(vec![provisioned()])
        .when(UserCommand::Replace {
            resource: doc(json!({"userName": "bjensen@example.com", "displayName": "Barbara", "emails": [{"value": "b@example.com", "type": "work"}]})),
        })
        .then_expect_events(vec![]);
}

fn deactivated() -> UserEvent {
    UserEvent::Deactivated { user_name: name("bjensen@example.com"), emails: vec!["b@example.com".into()], manager: None }
}

fn reactivated() -> UserEvent {
    UserEvent::Reactivated { user_name: name("bjensen@example.com") }
}

fn set_active(value: Value) -> UserCommand {
    patch(json!({"Operations": [{"op": "replace", "path": "active", "value": value}]}))
}

fn remove_active() -> UserCommand {
    patch(json!({"Operations": [{"op": "remove", "path": "active"}]}))
}

/// Every transition of the optional `active`: absent counts as active, so only a change of
/// whether the user counts as active is a deactivation or reactivation.
#[test]
fn active_is_optional_and_absent_counts_as_active() {
    let active = UserEvent::ActiveAttributeChanged { active: Some(true) };
    /// (case, history after provisioning, command, expected events, `active` after)
    type Case = (&'static str, Vec<UserEvent>, UserCommand, Vec<UserEvent>, Option<bool>);
    let cases: Vec<Case> = vec![
        ("absent → true", vec![], set_active(json!(true)), vec![active.clone()], Some(true)),
        ("absent → false", vec![], set_active(json!(false)), vec![deactivated()], Some(false)),
        ("absent → removed", vec![], remove_active(), vec![], None),
        ("true → removed", vec![active.clone()], remove_active(), vec![UserEvent::ActiveAttributeChanged { active: None }], None),
        ("true → false", vec![active.clone()], set_active(json!("False")), vec![deactivated()], Some(false)),
        ("false → true", vec![deactivated()], set_active(json!(true)), vec![reactivated()], Some(true)),
        (
            "false → removed",
            vec![deactivated()],
            remove_active(),
            vec![reactivated(), UserEvent::ActiveAttributeChanged { active: None }],
            None,
        ),
        ("false → false", vec![deactivated()], set_active(json!(false)), vec![], Some(false)),
    ];
    for (case, history, command, expected, after) in cases {
        let mut given = vec![provisioned()];
        given.extend(history);
        let events = Given::with(()).given(given.clone()).when(command).inspect_result().unwrap();
        assert_eq!(events, expected, "{case}");
        let mut user = User::default();
        for event in given.into_iter().chain(events) {
            cqrs_es::Aggregate::apply(&mut user, event);
        }
        let state = user.state().unwrap();
        assert_eq!(state.active, after, "{case}");
        assert_eq!(state.document().get("active").cloned(), after.map(Value::Bool), "{case}: the document says what was stored");
        assert_eq!(state.is_active(), after.unwrap_or(true), "{case}");
    }
}

#[test]
fn replace_yields_one_event_per_kind_of_change() {
    Given::with(())
        .given(vec![provisioned()])
        .when(UserCommand::Replace { resource: doc(json!({"userName": "barbara@example.com", "active": false, "displayName": "Babs"})) })
        .then_expect_events(vec![
            UserEvent::Renamed { from: name("bjensen@example.com"), to: name("barbara@example.com") },
            UserEvent::ProfileUpdated { profile: profile(json!({"userName": "x", "displayName": "Babs"})) },
            UserEvent::Deactivated { user_name: name("bjensen@example.com"), emails: vec!["b@example.com".into()], manager: None },
        ]);
}

#[test]
fn replace_without_user_name_is_refused() {
    let result = Given::with(()).given(vec![provisioned()]).when(UserCommand::Replace { resource: Document::default() }).inspect_result();
    assert_eq!(refusal(result), ScimType::InvalidValue);
}

#[test]
fn deactivate_carries_emails_and_manager() {
    let with_manager = UserEvent::ProfileUpdated {
        profile: profile(
            json!({"userName": "x", "emails": [{"value": "b@example.com"}], ENTERPRISE_USER_SCHEMA: {"manager": {"value": "m-1"}}}),
        ),
    };
    Given::with(()).given(vec![provisioned(), with_manager]).when(UserCommand::Deactivate).then_expect_events(vec![
        UserEvent::Deactivated {
            user_name: name("bjensen@example.com"),
            emails: vec!["b@example.com".into()],
            manager: Some("m-1".into()),
        },
    ]);
}

#[test]
fn deactivate_an_inactive_user_changes_nothing() {
    let deactivated = UserEvent::Deactivated { user_name: name("bjensen@example.com"), emails: vec![], manager: None };
    Given::with(()).given(vec![provisioned(), deactivated]).when(UserCommand::Deactivate).then_expect_events(vec![]);
}

#[test]
fn reactivate_an_inactive_user() {
    let deactivated = UserEvent::Deactivated { user_name: name("bjensen@example.com"), emails: vec![], manager: None };
    Given::with(())
        .given(vec![provisioned(), deactivated])
        .when(UserCommand::Reactivate)
        .then_expect_events(vec![UserEvent::Reactivated { user_name: name("bjensen@example.com") }]);
}

#[test]
fn reactivate_an_active_user_changes_nothing() {
    Given::with(()).given(vec![provisioned()]).when(UserCommand::Reactivate).then_expect_events(vec![]);
}

#[test]
fn delete_records_the_user_name_it_frees() {
    Given::with(()).given(vec![provisioned()]).when(UserCommand::Delete).then_expect_events(vec![UserEvent::Deleted {
        user_name: name("bjensen@example.com"),
        reason: None,
        cause: None,
    }]);
}

#[test]
fn a_subscriber_removal_says_why_and_happens_once() {
    let cause = uuid::Uuid::new_v4();
    let remove = || UserCommand::Remove { reason: "on_deactivate remove_user".into(), cause };
    let deleted =
        UserEvent::Deleted { user_name: name("bjensen@example.com"), reason: Some("on_deactivate remove_user".into()), cause: Some(cause) };
    Given::with(()).given(vec![provisioned()]).when(remove()).then_expect_events(vec![deleted.clone()]);
    Given::with(()).given(vec![provisioned(), deleted]).when(remove()).then_expect_events(vec![]);
}

#[test]
fn every_command_on_a_deleted_or_unknown_user_is_not_found() {
    let deleted = UserEvent::Deleted { user_name: name("bjensen@example.com"), reason: None, cause: None };
    let commands = || {
        vec![
            UserCommand::Replace { resource: doc(json!({"userName": "a"})) },
            patch(json!({"Operations": [{"op": "replace", "value": {"active": false}}]})),
            UserCommand::Deactivate,
            UserCommand::Reactivate,
            UserCommand::Delete,
        ]
    };
    for command in commands() {
        Given::with(()).given(vec![provisioned(), deleted.clone()]).when(command).then_expect_error(DomainError::NotFound);
    }
    for command in commands() {
        Given::with(()).given_no_previous_events().when(command).then_expect_error(DomainError::NotFound);
    }
}

#[test]
fn okta_deactivates_with_a_pathless_patch() {
    Given::with(())
        .given(vec![provisioned()])
        .when(patch(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {"active": false}}]})))
        .then_expect_events(vec![UserEvent::Deactivated { user_name: name("bjensen@example.com"), emails: vec!["b@example.com".into()], manager: None }]);
}

#[test]
fn entra_deactivates_with_a_string_boolean() {
    Given::with(())
        .given(vec![provisioned()])
        .when(patch(json!({"Operations": [{"op": "Replace", "path": "active", "value": "False"}]})))
        .then_expect_events(vec![UserEvent::Deactivated {
            user_name: name("bjensen@example.com"),
            emails: vec!["b@example.com".into()],
            manager: None,
        }]);
}

#[test]
fn entra_pathless_patch_with_dotted_and_urn_keys() {
    let result = Given::with(())
        .given(vec![provisioned()])
        .when(patch(json!({"Operations": [{"op": "replace", "value": {
            "displayName": "D", "name.givenName": "G",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "E"
        }}]})))
        .inspect_result()
        .unwrap();
    let [UserEvent::ProfileUpdated { profile }] = result.as_slice() else { panic!("{result:?}") };
    assert_eq!(profile.get("displayName"), Some(&json!("D")));
    assert_eq!(profile.get("name"), Some(&json!({"givenName": "G"})));
    assert_eq!(profile.get(ENTERPRISE_USER_SCHEMA), Some(&json!({"employeeNumber": "E"})));
}

#[test]
fn entra_renames_by_path_and_sets_work_email_by_filter() {
    let result = Given::with(())
        .given(vec![provisioned()])
        .when(patch(json!({"Operations": [
            {"op": "Replace", "path": "userName", "value": "new@example.com"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@example.com"}
        ]})))
        .inspect_result()
        .unwrap();
    assert_eq!(result[0], UserEvent::Renamed { from: name("bjensen@example.com"), to: name("new@example.com") });
    let UserEvent::ProfileUpdated { profile } = &result[1] else { panic!("{result:?}") };
    assert_eq!(profile.get("emails"), Some(&json!([{"value": "new@example.com", "type": "work"}])));
}

#[test]
fn patch_of_a_read_only_path_is_refused_and_changes_nothing() {
    let result = Given::with(())
        .given(vec![provisioned()])
        .when(patch(json!({"Operations": [
            {"op": "replace", "path": "displayName", "value": "changed"},
            {"op": "replace", "path": "id", "value": "mine"}
        ]})))
        .inspect_result();
    assert_eq!(refusal(result), ScimType::Mutability);
}

#[test]
fn patch_removing_the_user_name_is_refused() {
    let result = Given::with(())
        .given(vec![provisioned()])
        .when(patch(json!({"Operations": [{"op": "remove", "path": "userName"}]})))
        .inspect_result();
    assert_eq!(refusal(result), ScimType::InvalidValue);
}

#[test]
fn patch_of_an_unknown_path_is_invalid_path() {
    let result = Given::with(())
        .given(vec![provisioned()])
        .when(patch(json!({"Operations": [{"op": "replace", "path": "shoeSize", "value": 9}]})))
        .inspect_result();
    assert_eq!(refusal(result), ScimType::InvalidPath);
}

#[test]
fn patch_with_a_wrong_type_is_invalid_value() {
    let result = Given::with(())
        .given(vec![provisioned()])
        .when(patch(json!({"Operations": [{"op": "replace", "path": "active", "value": "perhaps"}]})))
        .inspect_result();
    assert_eq!(refusal(result), ScimType::InvalidValue);
}

#[test]
fn a_provisioned_event_recorded_before_ownership_reads_with_its_actor_as_owner() {
    let payload = crate::EventPayload {
        event_type: "user.provisioned".into(),
        type_version: 1,
        data: json!({"user_name": "a", "active": true, "profile": {}}),
    };
    assert!(decode::<UserEvent>(&payload).is_err(), "an owner is required of new events");
    let UserEvent::Provisioned { active, owner, .. } = decode_recorded::<UserEvent>(&payload, || OKTA).unwrap() else {
        panic!("a provisioned event")
    };
    assert_eq!((active, owner), (Some(true), OKTA));
    // An owner the event names is the owner, whoever recorded it.
    let named = encode(&provisioned());
    assert_eq!(decode_recorded::<UserEvent>(&named, || Owner::Operator).unwrap(), provisioned());
}

#[test]
fn events_round_trip_through_the_log_encoding() {
    for event in [
        provisioned(),
        UserEvent::Renamed { from: name("a"), to: name("b") },
        UserEvent::Deactivated { user_name: name("a"), emails: vec!["a@x".into()], manager: Some("m".into()) },
        UserEvent::Reactivated { user_name: name("a") },
        UserEvent::ActiveAttributeChanged { active: None },
        UserEvent::Deleted { user_name: name("a"), reason: None, cause: None },
        UserEvent::Claimed { from: Owner::Operator, to: OKTA },
    ] {
        let payload = encode(&event);
        assert!(payload.event_type.starts_with("user."), "{}", payload.event_type);
        assert_eq!(decode::<UserEvent>(&payload).unwrap(), event);
    }
}

#[test]
fn erasing_a_live_user_deletes_it_then_records_the_erasure() {
    Given::with(()).given(vec![provisioned()]).when(UserCommand::Erase).then_expect_events(vec![
        UserEvent::Deleted { user_name: name("bjensen@example.com"), reason: Some(super::ERASURE.into()), cause: None },
        UserEvent::Erased {},
    ]);
}

#[test]
fn erasing_a_deleted_user_records_the_erasure_once() {
    let deleted = UserEvent::Deleted { user_name: name("bjensen@example.com"), reason: None, cause: None };
    Given::with(()).given(vec![provisioned(), deleted.clone()]).when(UserCommand::Erase).then_expect_events(vec![UserEvent::Erased {}]);
    Given::with(()).given(vec![provisioned(), deleted, UserEvent::Erased {}]).when(UserCommand::Erase).then_expect_events(vec![]);
    Given::with(()).given_no_previous_events().when(UserCommand::Erase).then_expect_error(DomainError::NotFound);
}

#[test]
fn erased_personal_fields_decode_as_the_marker() {
    for event in [provisioned(), UserEvent::Renamed { from: name("a"), to: name("b") }] {
        let mut payload = encode(&event);
        for field in super::personal_fields(&payload.event_type) {
            payload.data[*field] = super::erased_value(field);
        }
        let erased: UserEvent = decode(&payload).unwrap();
        assert!(format!("{erased:?}").contains(super::ERASED), "{erased:?}");
        assert!(!format!("{erased:?}").contains("example.com"), "{erased:?}");
    }
}

fn slug(text: &str) -> crate::TenantSlug {
    crate::TenantSlug::parse(text).unwrap()
}

fn moved_in(from: &str) -> UserEvent {
    let UserEvent::Provisioned { user_name, active, profile, owner } = provisioned() else { unreachable!() };
    UserEvent::MovedIn { from: slug(from), user_name, active, profile, owner }
}

/// A move starts the user on the new sub-tenant's stream as it was provisioned there, keeping
/// its owner; the old stream ends it as a deletion would.
#[test]
fn a_user_moves_in_on_a_fresh_stream_and_out_of_the_old_one() {
    let resource =
        doc(json!({"userName": "bjensen@example.com", "displayName": "Barbara", "emails": [{"value": "b@example.com", "type": "work"}]}));
    Given::with(())
        .given_no_previous_events()
        .when(UserCommand::MoveIn { resource, owner: OKTA, from: slug("acme") })
        .then_expect_events(vec![moved_in("acme")]);
    Given::with(())
        .given(vec![provisioned()])
        .when(UserCommand::MoveOut { to: slug("globex") })
        .then_expect_events(vec![UserEvent::MovedOut { to: slug("globex"), user_name: name("bjensen@example.com") }]);
}

/// A user that moved out and back takes up its old stream again; a stream the user lives on
/// takes no second one in, and one it left cannot be left again.
#[test]
fn a_user_moves_back_onto_the_stream_it_left_but_not_onto_a_live_one() {
    let left = vec![provisioned(), UserEvent::MovedOut { to: slug("globex"), user_name: name("bjensen@example.com") }];
    let resource = || {
        doc(json!({"userName": "bjensen@example.com", "displayName": "Barbara", "emails": [{"value": "b@example.com", "type": "work"}]}))
    };
    Given::with(())
        .given(left.clone())
        .when(UserCommand::MoveIn { resource: resource(), owner: OKTA, from: slug("globex") })
        .then_expect_events(vec![moved_in("globex")]);
    Given::with(())
        .given(vec![provisioned()])
        .when(UserCommand::MoveIn { resource: resource(), owner: OKTA, from: slug("globex") })
        .then_expect_error(DomainError::AlreadyExists);
    Given::with(()).given(left).when(UserCommand::MoveOut { to: slug("globex") }).then_expect_error(DomainError::NotFound);
}
