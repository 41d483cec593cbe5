//! One table of filters, run three ways: parsed (and printed back to the same tree), evaluated
//! in memory against the rendered resources (`Filter::matches`), and compiled to SQL on each
//! backend; all three must select the same resources. PostgreSQL runs on a database with an
//! English collation, so text ordering that follows the database instead of code points shows.

// Each test binary uses part of the shared fixtures.
#[allow(dead_code)]
mod support;

use std::collections::BTreeSet;

use scim::filter::Filter;
use scim::list::ListQuery;
use scim::schema::{ResourceType, GROUP_RESOURCE, USER_RESOURCE};
use scim::ScimType;
use serde_json::{json, Value};
use store::{ResourceRecord, Store};
use support::Fixture;
use time::format_description::well_known::Rfc3339;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

const BJENSEN: &str = "bjensen@example.com";
const JSMITH: &str = "jsmith@example.com";
const AERGER: &str = "Ärger";
const ALL: &[&str] = &[BJENSEN, JSMITH, AERGER];

fn users() -> Vec<Value> {
    vec![
        json!({"userName": BJENSEN, "externalId": "ext-B", "displayName": "Barbara Jensen", "title": "Tour Guide", "active": true,
               "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}, {"value": "babs@home.org", "type": "home"}],
               ENTERPRISE: {"employeeNumber": "701984", "department": "Tours", "manager": {"value": "m-1"}},
               "name": {"givenName": "Barbara", "familyName": "Jensen"}}),
        json!({"userName": JSMITH, "externalId": "Ext-J", "displayName": "John Smith", "active": false, "title": "Éclair Chef",
               "emails": [{"value": "John.Smith@Example.com", "type": "work"}], "userType": "Intern",
               "photos": [{"type": "thumbnail", "primary": true}],
               "name": {"givenName": "John", "familyName": "Smith"}}),
        json!({"userName": AERGER, "externalId": "ext-a",
               "emails": [{"value": "zz@example.org", "type": "home"}, {"value": "aerger@example.org", "type": "other", "primary": true}],
               "aliases": [{"value": "grumpy@example.com", "type": "email"}],
               "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile", "primary": true}]}),
    ]
}

/// (filter, the userNames it selects). Code points order text: "Ext-J" < "ext-B" < "ext-a",
/// and case-folded "ärger" > "j" > "bjensen"; "éclair chef" > "tour guide".
const USER_CASES: &[(&str, &[&str])] = &[
    // eq, case sensitivity from the schema (userName is not case-exact, externalId is)
    ("userName eq \"BJENSEN@example.com\"", &[BJENSEN]),
    ("userName eq \"ärger\"", &[AERGER]),
    ("externalId eq \"ext-B\"", &[BJENSEN]),
    ("externalId eq \"EXT-B\"", &[]),
    ("displayName eq \"barbara jensen\"", &[BJENSEN]),
    ("name.givenName eq \"JOHN\"", &[JSMITH]),
    // ne, co, sw, ew
    ("userType ne \"Intern\"", &[BJENSEN, AERGER]),
    ("userName sw \"J\"", &[JSMITH]),
    ("userName co \"@EXAMPLE\"", &[BJENSEN, JSMITH]),
    ("userName ew \".com\"", &[BJENSEN, JSMITH]),
    ("name.familyName co \"mit\"", &[JSMITH]),
    ("externalId sw \"ext\"", &[BJENSEN, AERGER]),
    ("title co \"\"", &[BJENSEN, JSMITH]),
    ("title sw \"\"", &[BJENSEN, JSMITH]),
    ("title ew \"\"", &[BJENSEN, JSMITH]),
    ("title eq \"\"", &[]),
    // gt ge lt le on text, by code points
    ("externalId gt \"ext-B\"", &[AERGER]),
    ("externalId ge \"ext-B\"", &[BJENSEN, AERGER]),
    ("externalId lt \"ext-B\"", &[JSMITH]),
    ("externalId le \"Ext-J\"", &[JSMITH]),
    ("userName gt \"J\"", &[JSMITH, AERGER]),
    ("userName lt \"jsmith@example.com\"", &[BJENSEN]),
    ("title gt \"f\"", &[BJENSEN, JSMITH]),
    ("title le \"TOUR GUIDE\"", &[BJENSEN]),
    // pr and null
    ("title pr", &[BJENSEN, JSMITH]),
    ("title eq null", &[AERGER]),
    ("title ne null", &[BJENSEN, JSMITH]),
    ("emails pr", ALL),
    ("x509Certificates pr", &[]),
    ("id pr", ALL),
    // booleans, an absent `active` included (it is not `true`, ADR 0013)
    ("active eq true", &[BJENSEN]),
    ("active eq false", &[JSMITH]),
    ("active ne false", &[BJENSEN, AERGER]),
    ("active eq \"False\"", &[JSMITH]),
    ("active pr", &[BJENSEN, JSMITH]),
    ("not (active pr)", &[AERGER]),
    // and, or, not, parentheses, precedence (and binds tighter than or)
    ("title pr and userType eq \"Employee\"", &[]),
    ("title pr or userType eq \"Intern\"", &[BJENSEN, JSMITH]),
    ("userName eq \"jsmith@example.com\" or userName eq \"bjensen@example.com\" and active eq false", &[JSMITH]),
    ("(userName eq \"jsmith@example.com\" or userName eq \"bjensen@example.com\") and active eq true", &[BJENSEN]),
    ("not (emails co \"example.com\")", &[AERGER]),
    ("not (userName eq \"jsmith@example.com\") and not (userName sw \"b\")", &[AERGER]),
    // multi-valued attributes: sub-attributes, value filters, Entra's value-path comparison
    ("emails.value eq \"john.smith@example.com\"", &[JSMITH]),
    ("emails eq \"babs@home.org\"", &[BJENSEN]),
    ("emails.type eq \"home\"", &[BJENSEN, AERGER]),
    // `ne` holds when some value differs (any value, RFC 7644 §3.4.2.2) or there is none;
    // `not (… eq …)` says no value is
    ("emails.type ne \"work\"", &[BJENSEN, AERGER]),
    ("not (emails.type eq \"work\")", &[AERGER]),
    ("emails ne \"bjensen@example.com\"", ALL),
    ("schemas ne \"urn:ietf:params:scim:schemas:core:2.0:User\"", &[BJENSEN]),
    ("emails[type ne \"work\"]", &[BJENSEN, AERGER]),
    ("aliases.value ne \"grumpy@example.com\"", &[BJENSEN, JSMITH]),
    ("emails[type eq \"work\" and value co \"@example.com\"]", &[BJENSEN, JSMITH]),
    ("emails[type eq \"work\" or type eq \"other\"]", ALL),
    ("emails[not (type eq \"work\")]", &[BJENSEN, AERGER]),
    ("emails[type eq \"home\"]", &[BJENSEN, AERGER]),
    ("emails[type eq \"untyped\"]", &[]),
    ("emails[primary eq true]", &[BJENSEN, AERGER]),
    ("emails[type eq \"home\" and primary eq true]", &[]),
    ("emails[value ew \".org\"]", &[BJENSEN, AERGER]),
    ("emails[type eq \"work\"].value eq \"bjensen@example.com\"", &[BJENSEN]),
    ("phoneNumbers[primary eq true]", &[AERGER]),
    ("phoneNumbers.value sw \"+1\"", &[AERGER]),
    ("aliases[value eq \"GRUMPY@example.com\"]", &[AERGER]),
    ("aliases.value eq \"grumpy@example.com\"", &[AERGER]),
    ("aliases.type eq \"email\"", &[AERGER]),
    // the enterprise extension, URN-qualified or bare
    ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"701984\"", &[BJENSEN]),
    ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"m-1\"", &[BJENSEN]),
    ("employeeNumber eq \"701984\"", &[BJENSEN]),
    ("department eq \"TOURS\"", &[BJENSEN]),
    ("schemas eq \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"", &[BJENSEN]),
    ("schemas eq \"urn:ietf:params:scim:schemas:core:2.0:User\"", ALL),
    ("schemas[value ew \"ENTERPRISE:2.0:user\" and not (value eq null)]", &[BJENSEN]),
    // dateTime, compared as instants
    ("meta.created gt \"2000-01-01T00:00:00Z\"", ALL),
    ("meta.lastModified ge \"2000-01-01T01:00:00+01:00\"", ALL),
    ("meta.lastModified lt \"2000-01-01T00:00:00Z\"", &[]),
    ("id eq \"not-an-id\"", &[]),
    // elements without a value are stored, and found by what they have (ADR 0025)
    ("photos.type eq \"thumbnail\"", &[JSMITH]),
    ("photos[type eq \"thumbnail\"]", &[JSMITH]),
    ("photos[primary eq true and value eq null]", &[JSMITH]),
    ("photos pr", &[JSMITH]),
    ("photos.value pr", &[]),
    ("emails[type eq \"work\" or value eq null]", &[BJENSEN, JSMITH]),
    // `eq null` and `ne null` are `not … pr` and `pr`, on any attribute
    ("photos.type eq null", &[BJENSEN, AERGER]),
    ("photos.type ne null", &[JSMITH]),
    ("photos eq null", &[BJENSEN, AERGER]),
    ("phoneNumbers ne null", &[AERGER]),
    ("emails.display eq null", ALL),
    ("emails[display eq null and type eq \"home\"]", &[BJENSEN, AERGER]),
    ("name eq null", &[AERGER]),
    ("manager ne null", &[BJENSEN]),
    // a complex attribute compares through `value`, never as the text of its JSON
    ("manager co \"value\"", &[]),
    ("manager eq \"m-1\"", &[BJENSEN]),
    ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager sw \"m\"", &[BJENSEN]),
    ("manager pr", &[BJENSEN]),
    // binary data compares as text, without order
    ("x509Certificates.value co \"A\"", &[]),
    ("meta.resourceType eq \"User\"", ALL),
];

/// Filters that are no filter, or none of these resource types can answer: 400 invalidFilter.
const INVALID: &[&str] = &[
    "userName",
    "userName eq",
    "userName zz \"a\"",
    "userName eq \"a",
    "(userName eq \"a\"",
    "userName eq \"a\")",
    "userName eq \"a\" and",
    "shoeSize eq \"9\"",
    "name.shoeSize eq \"9\"",
    "emails[shoeSize eq \"9\"]",
    "emails[type eq \"work\"",
    "emails[type eq \"work\" and emails[value eq \"x\"]]",
    "title[value eq \"x\"]",
    "active gt true",
    "active co \"t\"",
    "userName gt 5",
    "meta.created gt \"yesterday\"",
    "name co \"A\"",
    "addresses eq \"x\"",
    "x509Certificates.value gt \"A\"",
    "meta.version eq \"1\"",
    "groups.$ref pr",
    "urn:example:unknown:Thing:attr eq \"x\"",
];

async fn provision_users(fixture: &Fixture) {
    for user in users() {
        fixture.provision(user).await.unwrap();
    }
}

/// A record as a client sees it, for the in-memory evaluation.
fn rendered(record: &ResourceRecord, rt: &ResourceType, extra: Option<(&str, Value)>) -> Value {
    let mut out = record.document.as_object().unwrap().clone();
    let mut schemas = vec![json!(rt.schema.id)];
    schemas.extend(rt.extensions.iter().filter(|e| out.contains_key(e.id)).map(|e| json!(e.id)));
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), json!(record.id.to_string()));
    out.insert(
        "meta".into(),
        json!({"resourceType": rt.name, "created": record.created.format(&Rfc3339).unwrap(), "lastModified": record.last_modified.format(&Rfc3339).unwrap()}),
    );
    if let Some((name, value)) = extra {
        out.insert(name.into(), value);
    }
    Value::Object(out)
}

fn query(rt: &ResourceType, params: &[(&str, &str)]) -> ListQuery {
    ListQuery::from_params(params.iter().copied(), rt).expect("a valid query")
}

async fn all_users(store: &dyn Store, fixture: &Fixture) -> Vec<ResourceRecord> {
    store.users(&fixture.tenant, &query(&USER_RESOURCE, &[("count", "1000")]), false).await.unwrap().records
}

/// The three ways, for one filter: the parsed tree prints back to itself, and the in-memory
/// evaluation and the SQL both select `expected`.
fn check_parse(text: &str, rt: &ResourceType) -> Filter {
    let filter = Filter::parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
    filter.validate(rt).unwrap_or_else(|e| panic!("{text}: {e:?}"));
    assert_eq!(Filter::parse(&filter.to_string()).unwrap(), filter, "{text} prints as {filter}");
    filter
}

async fn user_table(fixture: Fixture) {
    provision_users(&fixture).await;
    let records = all_users(&*fixture.store, &fixture).await;
    for (text, expected) in USER_CASES {
        let expected: BTreeSet<&str> = expected.iter().copied().collect();
        let filter = check_parse(text, &USER_RESOURCE);
        let in_memory: BTreeSet<&str> = records
            .iter()
            .filter(|r| filter.matches(&rendered(r, &USER_RESOURCE, None), &USER_RESOURCE))
            .map(|r| r.document["userName"].as_str().unwrap())
            .collect();
        assert_eq!(in_memory, expected, "in memory: {text}");
        let page = fixture
            .store
            .users(&fixture.tenant, &query(&USER_RESOURCE, &[("filter", text), ("count", "1000")]), false)
            .await
            .unwrap_or_else(|e| panic!("{text}: {e:?}"));
        let by_sql: BTreeSet<&str> = page.records.iter().map(|r| r.document["userName"].as_str().unwrap()).collect();
        assert_eq!(by_sql, expected, "SQL: {text}");
        assert_eq!(page.total, expected.len() as u64, "total: {text}");
    }
}

async fn group_table(fixture: Fixture) {
    provision_users(&fixture).await;
    let ids: Vec<String> = all_users(&*fixture.store, &fixture).await.iter().map(|r| r.id.to_string()).collect();
    let member = |i: usize| json!({"value": ids[i]});
    fixture.create_group(json!({"displayName": "Engineering", "externalId": "g-1", "members": [member(0), member(1)]})).await.unwrap();
    fixture.create_group(json!({"displayName": "Échecs", "members": [member(2)]})).await.unwrap();
    fixture.create_group(json!({"displayName": "admins"})).await.unwrap();
    let cases: Vec<(String, &[&str])> = vec![
        ("displayName eq \"ENGINEERING\"".into(), &["Engineering"]),
        ("displayName sw \"é\"".into(), &["Échecs"]),
        ("displayName gt \"b\"".into(), &["Engineering", "Échecs"]),
        ("displayName lt \"f\"".into(), &["Engineering", "admins"]),
        ("externalId eq \"g-1\"".into(), &["Engineering"]),
        ("externalId pr".into(), &["Engineering"]),
        (format!("members.value eq \"{}\"", ids[1]), &["Engineering"]),
        (format!("members[value eq \"{}\"]", ids[2]), &["Échecs"]),
        (format!("members eq \"{}\"", ids[0]), &["Engineering"]),
        ("members pr".into(), &["Engineering", "Échecs"]),
        ("not (members pr)".into(), &["admins"]),
        ("members.value eq \"not-an-id\"".into(), &[]),
        ("displayName eq \"admins\" or members.value pr".into(), &["Engineering", "Échecs", "admins"]),
    ];
    let page = fixture.store.groups(&fixture.tenant, &query(&GROUP_RESOURCE, &[("count", "1000")])).await.unwrap();
    let group_ids: Vec<_> = page.records.iter().map(|r| r.id).collect();
    let mut members = fixture.store.members_of(&fixture.tenant, &group_ids).await.unwrap();
    let rendered_groups: Vec<(String, Value)> = page
        .records
        .iter()
        .map(|r| {
            let list: Vec<Value> =
                members.remove(&r.id).unwrap_or_default().iter().map(|m| json!({"value": m.id.to_string(), "type": "User"})).collect();
            let extra = (!list.is_empty()).then(|| ("members", Value::Array(list)));
            (r.document["displayName"].as_str().unwrap().to_owned(), rendered(r, &GROUP_RESOURCE, extra))
        })
        .collect();
    for (text, expected) in &cases {
        let expected: BTreeSet<&str> = expected.iter().copied().collect();
        let filter = check_parse(text, &GROUP_RESOURCE);
        let in_memory: BTreeSet<&str> =
            rendered_groups.iter().filter(|(_, g)| filter.matches(g, &GROUP_RESOURCE)).map(|(name, _)| name.as_str()).collect();
        assert_eq!(in_memory, expected, "in memory: {text}");
        let page = fixture.store.groups(&fixture.tenant, &query(&GROUP_RESOURCE, &[("filter", text), ("count", "1000")])).await.unwrap();
        let by_sql: BTreeSet<&str> = page.records.iter().map(|r| r.document["displayName"].as_str().unwrap()).collect();
        assert_eq!(by_sql, expected, "SQL: {text}");
    }
}

/// sortBy on text follows code points on both backends, as `gt`/`lt` do; a multi-valued
/// attribute sorts by its primary value, else its first (RFC 7644 §3.4.2.3); resources
/// without the attribute sort last either way.
async fn sorting_follows_code_points_and_primary_values(fixture: Fixture) {
    provision_users(&fixture).await;
    let cases: &[(&str, &str, &[&str])] = &[
        ("externalId", "ascending", &[JSMITH, BJENSEN, AERGER]),
        ("externalId", "descending", &[AERGER, BJENSEN, JSMITH]),
        ("userName", "ascending", &[BJENSEN, JSMITH, AERGER]),
        ("title", "ascending", &[BJENSEN, JSMITH, AERGER]),
        ("title", "descending", &[JSMITH, BJENSEN, AERGER]),
        // by the primary email, not the first: Ärger's primary is "aerger@…", its first "zz@…"
        ("emails.value", "ascending", &[AERGER, BJENSEN, JSMITH]),
        ("emails", "descending", &[JSMITH, BJENSEN, AERGER]),
        ("phoneNumbers.value", "ascending", &[AERGER, BJENSEN, JSMITH]),
        // a complex attribute by its `value`; a multi-valued one by its primary element's
        // sub-attribute, even one the element does not have
        ("manager", "descending", &[BJENSEN, JSMITH, AERGER]),
        ("emails.type", "ascending", &[AERGER, BJENSEN, JSMITH]),
        ("photos.type", "ascending", &[JSMITH, BJENSEN, AERGER]),
    ];
    for (by, order, expected) in cases {
        let page = fixture
            .store
            .users(&fixture.tenant, &query(&USER_RESOURCE, &[("sortBy", by), ("sortOrder", order), ("count", "1000")]), false)
            .await
            .unwrap();
        let names: Vec<&str> = page.records.iter().map(|r| r.document["userName"].as_str().unwrap()).collect();
        assert_eq!(names, *expected, "sortBy={by} sortOrder={order}");
    }
}

/// A user's `groups` are filtered on as GET shows them: `value` the group's id, `display` its
/// name (case-insensitively), `type` "direct".
async fn user_groups(fixture: Fixture) {
    provision_users(&fixture).await;
    let records = all_users(&*fixture.store, &fixture).await;
    let member = |i: usize| json!({"value": records[i].id.to_string()});
    let engineering = fixture.create_group(json!({"displayName": "Engineering", "members": [member(0), member(1)]})).await.unwrap();
    fixture.create_group(json!({"displayName": "ÉCHECS", "members": [member(1)]})).await.unwrap();
    let ids: Vec<_> = records.iter().map(|r| r.id).collect();
    let mut groups = fixture.store.groups_of(&fixture.tenant, &ids).await.unwrap();
    let rendered_users: Vec<(String, Value)> = records
        .iter()
        .map(|r| {
            let list: Vec<Value> = groups
                .remove(&r.id)
                .unwrap_or_default()
                .iter()
                .map(|g| json!({"value": g.id.to_string(), "display": g.display, "type": "direct", "$ref": format!("/Groups/{}", g.id)}))
                .collect();
            let extra = (!list.is_empty()).then(|| ("groups", Value::Array(list)));
            (r.document["userName"].as_str().unwrap().to_owned(), rendered(r, &USER_RESOURCE, extra))
        })
        .collect();
    let cases: Vec<(String, &[&str])> = vec![
        (format!("groups.value eq \"{engineering}\""), &[BJENSEN, JSMITH]),
        (format!("groups eq \"{engineering}\""), &[BJENSEN, JSMITH]),
        ("groups.display eq \"engineering\"".into(), &[BJENSEN, JSMITH]),
        ("groups.display eq \"échecs\"".into(), &[JSMITH]),
        ("groups[display co \"ENG\"]".into(), &[BJENSEN, JSMITH]),
        ("groups[display sw \"é\" and type eq \"DIRECT\"]".into(), &[JSMITH]),
        ("groups pr".into(), &[BJENSEN, JSMITH]),
        ("not (groups pr)".into(), &[AERGER]),
        ("groups eq null".into(), &[AERGER]),
        ("groups.type eq \"direct\"".into(), &[BJENSEN, JSMITH]),
        ("groups.display ne \"engineering\"".into(), &[JSMITH, AERGER]),
        ("groups.value eq \"not-an-id\"".into(), &[]),
    ];
    for (text, expected) in &cases {
        let expected: BTreeSet<&str> = expected.iter().copied().collect();
        let filter = check_parse(text, &USER_RESOURCE);
        let in_memory: BTreeSet<&str> =
            rendered_users.iter().filter(|(_, u)| filter.matches(u, &USER_RESOURCE)).map(|(name, _)| name.as_str()).collect();
        assert_eq!(in_memory, expected, "in memory: {text}");
        let page =
            fixture.store.users(&fixture.tenant, &query(&USER_RESOURCE, &[("filter", text), ("count", "1000")]), false).await.unwrap();
        let by_sql: BTreeSet<&str> = page.records.iter().map(|r| r.document["userName"].as_str().unwrap()).collect();
        assert_eq!(by_sql, expected, "SQL: {text}");
    }
    // Sorted by their first group's name: "engineering" < "échecs", then the user in none.
    let page = fixture.store.users(&fixture.tenant, &query(&USER_RESOURCE, &[("sortBy", "groups.display")]), false).await.unwrap();
    let names: Vec<&str> = page.records.iter().map(|r| r.document["userName"].as_str().unwrap()).collect();
    assert_eq!(names, [BJENSEN, JSMITH, AERGER]);
}

/// A PATCH may leave elements without a value (replacing `emails.type` on a user with no
/// emails creates `[{"type": "work"}]`): they are stored, read back and found by filters as
/// any other element (ADR 0025).
async fn value_less_elements_from_a_patch(fixture: Fixture) {
    use domain::user::{User, UserCommand};
    use scim::patch::PatchRequest;

    let id = fixture.provision(json!({"userName": "nomail"})).await.unwrap();
    let request = PatchRequest::parse(&json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "emails.type", "value": "work"}]
    }))
    .unwrap();
    store::commands::change::<User>(
        &*fixture.store,
        &fixture.tenant,
        id,
        UserCommand::Patch { request },
        &domain::Principal::Operator,
        support::operator(),
        None,
    )
    .await
    .unwrap();
    let record = fixture.store.user(&fixture.tenant, id).await.unwrap().unwrap();
    assert_eq!(record.document["emails"], json!([{"type": "work"}]));
    for (text, found) in [
        ("emails.type eq \"work\"", true),
        ("emails[type eq \"work\"]", true),
        ("emails pr", true),
        ("emails.value pr", false),
        ("emails[type eq \"work\"].value eq \"x\"", false),
    ] {
        let filter = check_parse(text, &USER_RESOURCE);
        assert_eq!(filter.matches(&rendered(&record, &USER_RESOURCE, None), &USER_RESOURCE), found, "in memory: {text}");
        let page = fixture.store.users(&fixture.tenant, &query(&USER_RESOURCE, &[("filter", text)]), false).await.unwrap();
        assert_eq!(page.records.len(), usize::from(found), "SQL: {text}");
    }
}

macro_rules! on_both_backends_linguistic {
    ($($name:ident),*) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    super::$name(crate::support::with_tenant(store::testing::postgres_linguistic().await, None).await).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$name(crate::support::sqlite().await).await
                }
            }
        )*
    };
}

on_both_backends_linguistic!(
    user_table,
    group_table,
    user_groups,
    value_less_elements_from_a_patch,
    sorting_follows_code_points_and_primary_values
);

#[test]
fn invalid_filters_are_invalid_filter_before_reaching_a_store() {
    for text in INVALID {
        let error = match Filter::parse(text) {
            Err(e) => e,
            Ok(filter) => filter.validate(&USER_RESOURCE).expect_err(text),
        };
        assert_eq!(error.scim_type, Some(ScimType::InvalidFilter), "{text}: {error:?}");
        let error = ListQuery::from_params([("filter", *text)], &USER_RESOURCE).expect_err(text);
        assert_eq!((error.status, error.scim_type), (400, Some(ScimType::InvalidFilter)), "{text}");
    }
}

/// The look-ups IdPs make on every sync compile to SQL that PostgreSQL answers from an index
/// on the looked-up column. Sequential scans are disabled, as a table of three rows would
/// otherwise be scanned whatever the indexes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_common_look_ups_are_answered_from_indexes() {
    use store::postgres::dialect::Postgres;
    use store::query::{Compiler, SqlValue, Target};
    use tokio_postgres::types::ToSql;

    let url = store::testing::fresh_postgres_url().await;
    let store = std::sync::Arc::new(store::postgres::PgStore::connect(&url, 4).await.unwrap());
    let fixture = support::with_tenant(store, None).await;
    provision_users(&fixture).await;
    for (i, user) in all_users(&*fixture.store, &fixture).await.iter().enumerate() {
        fixture
            .create_group(
                json!({"displayName": format!("G{i}"), "externalId": format!("g-{i}"), "members": [{"value": user.id.to_string()}]}),
            )
            .await
            .unwrap();
    }
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute("ANALYZE; SET enable_seqscan = off").await.unwrap();
    let member = uuid::Uuid::now_v7();
    // (target, filter, the column an index condition must name)
    let cases = [
        (Target::Users, "userName eq \"BJENSEN@example.com\"".to_owned(), "user_name_key"),
        (Target::Users, "externalId eq \"ext-B\"".to_owned(), "external_id"),
        (Target::Users, "emails.value eq \"bjensen@example.com\"".to_owned(), "value_key"),
        (Target::Users, "emails[type eq \"work\"].value eq \"bjensen@example.com\"".to_owned(), "value_key"),
        (Target::Users, "aliases[value eq \"grumpy@example.com\"]".to_owned(), "value_key"),
        (Target::Users, "aliases.value eq \"grumpy@example.com\"".to_owned(), "value_key"),
        (Target::Groups, "displayName eq \"Engineering\"".to_owned(), "display_name_key"),
        (Target::Groups, "externalId eq \"g-1\"".to_owned(), "external_id"),
        (Target::Groups, format!("members.value eq \"{member}\""), "member_id"),
        (Target::Groups, format!("members[value eq \"{member}\"]"), "member_id"),
    ];
    for (target, text, column) in cases {
        let (table, rt) = match target {
            Target::Users => ("users", &USER_RESOURCE),
            Target::Groups => ("groups", &GROUP_RESOURCE),
        };
        let filter = check_parse(&text, rt);
        let mut compiler = Compiler::new(&Postgres, target, 1);
        let condition = compiler.filter(&filter).unwrap();
        let sql = format!("EXPLAIN SELECT r.id FROM {table} r WHERE r.tenant = $1 AND {condition}");
        let mut params: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(fixture.tenant.as_str().to_owned())];
        for value in compiler.into_params() {
            params.push(match value {
                SqlValue::Text(s) => Box::new(s),
                SqlValue::Uuid(u) => Box::new(u),
                other => panic!("{text}: a look-up binds text or ids, not {other:?}"),
            });
        }
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
        let plan: Vec<String> = client.query(&sql, &refs).await.unwrap().iter().map(|row| row.get(0)).collect();
        let plan = plan.join("\n");
        let indexed = plan.lines().any(|line| line.contains("Index Cond:") && line.contains(column));
        assert!(indexed && !plan.contains("Seq Scan"), "{text} is not looked up by an index on {column}:\n{plan}");
    }
}

/// The same look-ups, as the page queries SQLite runs for them (`paging::PagePlan`): each
/// resource is found through the looked-up value's index, never by walking the tenant's
/// resources in creation order (SQLite keeps no statistics, so nothing but the query's shape
/// steers its planner).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_answers_the_common_look_ups_from_indexes() {
    use store::paging::{PagePlan, Span};
    use store::query::{SqlValue, Target};
    use store::Scope;

    let (store, dir) = store::testing::sqlite().await;
    let db = rusqlite::Connection::open(dir.path().join(store::sqlite::DB_FILE)).unwrap();
    let fixture = support::with_tenant(store, Some(dir)).await;
    provision_users(&fixture).await;
    let member = uuid::Uuid::now_v7();
    // (target, filter, the index the resource or its side-table rows are searched through)
    let cases = [
        (Target::Users, "userName eq \"BJENSEN@example.com\"".to_owned(), "users_user_name"),
        (Target::Users, "externalId eq \"ext-B\"".to_owned(), "users_external_id"),
        (Target::Users, "emails.value eq \"bjensen@example.com\"".to_owned(), "user_values_lookup"),
        (Target::Users, "emails[type eq \"work\"].value eq \"bjensen@example.com\"".to_owned(), "user_values_lookup"),
        (Target::Users, "aliases[value eq \"grumpy@example.com\"]".to_owned(), "user_values_lookup"),
        (Target::Users, "aliases.value eq \"grumpy@example.com\"".to_owned(), "user_values_lookup"),
        (Target::Groups, "displayName eq \"Engineering\"".to_owned(), "groups_display_name"),
        (Target::Groups, "externalId eq \"g-1\"".to_owned(), "groups_external_id"),
        (Target::Groups, format!("members.value eq \"{member}\""), "memberships_member"),
    ];
    // A connection's scope (ADR 0040) must not steer a look-up off its index.
    let connection = uuid::Uuid::now_v7();
    let scopes = [Scope::Tenant, Scope::Owned { connection, manual: false }, Scope::Owned { connection, manual: true }];
    for ((target, text, index), scope) in cases.iter().flat_map(|case| scopes.map(|scope| (case, scope))) {
        let (target, index) = (*target, *index);
        let rt = match target {
            Target::Users => &USER_RESOURCE,
            Target::Groups => &GROUP_RESOURCE,
        };
        let query = ListQuery::from_params([("filter", text.as_str())], rt).unwrap();
        let plan = PagePlan::new(
            &store::sqlite::dialect::Sqlite,
            target,
            (&fixture.tenant, Span::Tenant),
            scope,
            &query,
            false,
            &Default::default(),
        )
        .unwrap();
        let params: Vec<rusqlite::types::Value> = plan
            .params
            .iter()
            .map(|value| match value {
                SqlValue::Text(s) => rusqlite::types::Value::Text(s.clone()),
                SqlValue::Uuid(u) => rusqlite::types::Value::Text(u.to_string()),
                SqlValue::Int(i) => rusqlite::types::Value::Integer(*i),
                other => panic!("{text}: a look-up binds text, ids and the page's numbers, not {other:?}"),
            })
            .collect();
        let sql = format!("EXPLAIN QUERY PLAN {}", plan.rows_sql.as_deref().unwrap());
        let mut stmt = db.prepare(&sql).unwrap();
        let lines: Vec<String> =
            stmt.query_map(rusqlite::params_from_iter(params.iter()), |row| row.get::<_, String>(3)).unwrap().map(Result::unwrap).collect();
        let plan = lines.join("\n");
        let walks = lines.iter().any(|l| l.starts_with("SCAN") || l.contains("INDEX users_order") || l.contains("INDEX groups_order"));
        assert!(!walks && plan.contains(index), "{text} ({scope:?}) is not looked up through {index}:\n{plan}");
    }
}
