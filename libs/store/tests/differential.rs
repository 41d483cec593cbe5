//! The differential test: generated users (non-ASCII text, nulls, empty and value-less
//! elements, extension and complex attributes, groups) and generated filters and sorts, each
//! answered three ways: by the in-memory evaluator (`Filter::matches`, and the sort rule of
//! RFC 7644 §3.4.2.3 written out below), by PostgreSQL and by SQLite. All three must select the
//! same users in the same order.
//!
//! `make test` runs a short, seeded run. `make difftest` runs a long one; the environment sets
//! its size and seed (docs/operations.md):
//! `SCIMLEDGER_DIFFTEST_ROUNDS` populations of `SCIMLEDGER_DIFFTEST_CASES` filters and sorts
//! each, from `SCIMLEDGER_DIFFTEST_SEED`. A failure prints the seed, the filter and the users
//! the answers disagree on.

// Each test binary uses part of the shared fixtures.
#[allow(dead_code)]
mod support;

use std::cmp::Ordering;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use scim::filter::Filter;
use scim::list::{ListQuery, Sort, SortOrder};
use scim::schema::{AttrType, USER_RESOURCE};
use serde_json::{json, Map, Value};
use store::ResourceRecord;
use support::Fixture;
use time::format_description::well_known::Rfc3339;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Text that folds differently under different rules (final sigma, dotted capital I, sharp s,
/// the Kelvin sign, title-case digraphs, combining marks), SQL's wildcard and quote characters,
/// and ASCII that sorts around them.
const PIECES: &[&str] = &[
    "", "a", "A", "b", "Z", "ä", "Ä", "ß", "ẞ", "İ", "ı", "i", "I", "Σ", "σ", "ς", "ΟΔΟΣ", "\u{212A}", "k", "é", "e\u{301}", "日本", "😀",
    "Ǆ", "ǅ", "ǆ", " ", "%", "_", "'", "\"", "\\", "work", "Work", "home",
];

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..4).prop_map(|pieces| pieces.concat())
}

/// A JSON field: absent, null, or a value.
fn maybe(value: impl Strategy<Value = Value>) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![2 => Just(None), 1 => Just(Some(Value::Null)), 4 => value.prop_map(Some)]
}

fn object(fields: Vec<(&'static str, Option<Value>)>) -> Value {
    Value::Object(fields.into_iter().filter_map(|(k, v)| Some((k.to_owned(), v?))).collect::<Map<_, _>>())
}

/// An element of a multi-valued attribute: any of value, type, primary and display, or none.
fn element() -> impl Strategy<Value = Value> {
    let kind = prop::sample::select(&["work", "home", "other", "Work", "", "thumbnail"][..]).prop_map(Value::from);
    (maybe(text().prop_map(Value::from)), maybe(kind), maybe(any::<bool>().prop_map(Value::from)), maybe(text().prop_map(Value::from)))
        .prop_map(|(value, kind, primary, display)| {
            object(vec![("value", value), ("type", kind), ("primary", primary), ("display", display)])
        })
}

fn elements() -> impl Strategy<Value = Option<Value>> {
    maybe(prop::collection::vec(element(), 0..3).prop_map(Value::from))
}

/// A user without its userName, which is made unique per population.
fn user() -> impl Strategy<Value = Value> {
    let strings = prop::collection::vec(maybe(text().prop_map(Value::from)), 6);
    let name = (maybe(text().prop_map(Value::from)), maybe(text().prop_map(Value::from)))
        .prop_map(|(given, family)| object(vec![("givenName", given), ("familyName", family)]));
    let address = (maybe(text().prop_map(Value::from)), maybe(prop::sample::select(&["work", "home"][..]).prop_map(Value::from)))
        .prop_map(|(locality, kind)| object(vec![("locality", locality), ("type", kind)]));
    let certificate = prop::sample::select(&["MIIB", "miib", "AAEC"][..]).prop_map(|v| json!([{"value": v}]));
    let manager = maybe(text().prop_map(Value::from)).prop_map(|value| object(vec![("value", value)]));
    let enterprise = (maybe(text().prop_map(Value::from)), maybe(text().prop_map(Value::from)), maybe(manager)).prop_map(
        |(number, department, manager)| object(vec![("employeeNumber", number), ("department", department), ("manager", manager)]),
    );
    (
        strings,
        maybe(any::<bool>().prop_map(Value::from)),
        maybe(name),
        (elements(), elements(), elements()),
        maybe(prop::collection::vec(address, 0..2).prop_map(Value::from)),
        maybe(certificate),
        maybe(enterprise),
        elements(),
    )
        .prop_map(|(strings, active, name, (emails, phones, photos), addresses, certificates, enterprise, aliases)| {
            let names = ["displayName", "title", "nickName", "userType", "externalId", "locale"];
            let mut fields: Vec<(&'static str, Option<Value>)> = names.into_iter().zip(strings).collect();
            fields.extend([
                ("active", active),
                ("name", name),
                ("emails", emails),
                ("phoneNumbers", phones),
                ("photos", photos),
                ("addresses", addresses),
                ("x509Certificates", certificates),
                (ENTERPRISE, enterprise),
                ("aliases", aliases),
            ]);
            object(fields)
        })
}

/// Attribute paths filters and sorts name, with what each compares.
const PATHS: &[&str] = &[
    "userName",
    "displayName",
    "title",
    "nickName",
    "externalId",
    "active",
    "name",
    "name.givenName",
    "name.familyName",
    "emails",
    "emails.value",
    "emails.type",
    "emails.primary",
    "emails.display",
    "phoneNumbers.value",
    "phoneNumbers.type",
    "photos",
    "photos.value",
    "photos.type",
    "addresses",
    "addresses.locality",
    "x509Certificates.value",
    "employeeNumber",
    "department",
    "manager",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
    "aliases",
    "aliases.value",
    "aliases.type",
    "groups",
    "groups.value",
    "groups.display",
    "groups.type",
    "schemas",
];

/// Sub-attributes a value filter names, per attribute.
const ELEMENT_PATHS: &[(&str, &[&str])] = &[
    ("emails", &["value", "type", "primary", "display"]),
    ("phoneNumbers", &["value", "type", "primary"]),
    ("photos", &["value", "type"]),
    ("addresses", &["locality", "type"]),
    ("aliases", &["value", "type"]),
    ("groups", &["value", "display", "type"]),
    ("schemas", &["value"]),
];

const OPS: &[&str] = &["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"];

fn comp_value() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => text().prop_map(|t| Value::String(t).to_string()),
        1 => Just("null".to_owned()),
        1 => any::<bool>().prop_map(|b| b.to_string()),
    ]
}

fn comparison(paths: &'static [&'static str]) -> impl Strategy<Value = String> {
    let path = prop::sample::select(paths);
    prop_oneof![
        1 => path.clone().prop_map(|p| format!("{p} pr")),
        5 => (path, prop::sample::select(OPS), comp_value()).prop_map(|(p, op, v)| format!("{p} {op} {v}")),
    ]
}

fn combined(leaf: impl Strategy<Value = String> + 'static) -> impl Strategy<Value = String> {
    leaf.prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn filter() -> impl Strategy<Value = String> {
    let value_filter = prop::sample::select(ELEMENT_PATHS).prop_flat_map(|(attr, subs)| {
        let inner = combined(comparison(subs));
        (Just(attr), inner, prop::option::of(prop::sample::select(subs)), comp_value()).prop_map(|(attr, inner, sub, value)| match sub {
            // Entra ID's `emails[type eq "work"].value eq "x"`.
            Some(sub) => format!("{attr}[{inner}].{sub} eq {value}"),
            None => format!("{attr}[{inner}]"),
        })
    });
    combined(prop_oneof![4 => comparison(PATHS), 1 => value_filter])
}

fn sort() -> impl Strategy<Value = (String, &'static str)> {
    (prop::sample::select(PATHS), prop::sample::select(&["ascending", "descending"][..])).prop_map(|(by, order)| (by.to_owned(), order))
}

/// The sort rule of RFC 7644 §3.4.2.3 over rendered users: a multi-valued attribute by its
/// primary element (else its first), a complex one by its `value`; text case-folded unless
/// case-exact; users without a value last either way; ties in creation order.
fn sort_key(user: &Value, sort: &Sort) -> Option<Key> {
    let resolved = sort.by.resolve(&USER_RESOURCE).expect("a sortable path");
    let attr = resolved.attribute;
    let sub = resolved.sub_attribute.or_else(|| attr.compared().filter(|_| attr.kind == AttrType::Complex));
    let container = match resolved.extension {
        Some(ext) => user.get(ext.id)?,
        None => user,
    };
    let value = container.get(attr.name)?;
    let chosen = match value {
        Value::Array(items) => items.iter().find(|e| e.get("primary") == Some(&Value::Bool(true))).or(items.first())?,
        other => other,
    };
    let compared = match sub {
        Some(sub) => chosen.get(sub.name)?,
        None => chosen,
    };
    let case_exact = sub.unwrap_or(attr).case_exact;
    match compared {
        Value::String(s) if case_exact => Some(Key::Text(s.clone())),
        Value::String(s) => Some(Key::Text(s.to_lowercase())),
        Value::Bool(b) => Some(Key::Bool(*b)),
        _ => None,
    }
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Bool(bool),
    Text(String),
}

fn sorted_in_memory<'u>(users: &'u [(String, Value)], sort: &Sort) -> Vec<&'u str> {
    let mut keyed: Vec<(usize, Option<Key>)> = users.iter().enumerate().map(|(i, (_, u))| (i, sort_key(u, sort))).collect();
    keyed.sort_by(|(i, a), (j, b)| {
        let by_key = match (a, b) {
            (Some(a), Some(b)) if sort.order == SortOrder::Descending => b.cmp(a),
            (Some(a), Some(b)) => a.cmp(b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        by_key.then(i.cmp(j))
    });
    keyed.into_iter().map(|(i, _)| users[i].0.as_str()).collect()
}

/// A user as GET renders it, with its groups.
fn rendered(record: &ResourceRecord, groups: &[store::Reference]) -> Value {
    let mut out = record.document.as_object().unwrap().clone();
    let mut schemas = vec![json!(USER_RESOURCE.schema.id)];
    schemas.extend(USER_RESOURCE.extensions.iter().filter(|e| out.contains_key(e.id)).map(|e| json!(e.id)));
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), json!(record.id.to_string()));
    out.insert("meta".into(), json!({"resourceType": "User", "created": record.created.format(&Rfc3339).unwrap()}));
    if !groups.is_empty() {
        let list = groups.iter().map(|g| json!({"value": g.id.to_string(), "display": g.display, "type": "direct"})).collect();
        out.insert("groups".into(), Value::Array(list));
    }
    Value::Object(out)
}

/// One population, provisioned the same way on a backend: users in order, then groups.
async fn provision(fixture: &Fixture, users: &[Value], groups: &[(String, Vec<usize>)]) {
    let mut ids = Vec::new();
    for user in users {
        ids.push(fixture.provision(user.clone()).await.expect("a generated user provisions"));
    }
    for (name, members) in groups {
        let members: Vec<Value> = members.iter().map(|&i| json!({"value": ids[i].to_string()})).collect();
        fixture.create_group(json!({"displayName": name, "members": members})).await.expect("a generated group is created");
    }
}

async fn user_names(fixture: &Fixture, params: &[(&str, &str)]) -> Vec<String> {
    let query = ListQuery::from_params(params.iter().copied(), &USER_RESOURCE).expect("a validated query");
    let page = fixture.store.users(&fixture.tenant, &query, false).await.unwrap_or_else(|e| panic!("{params:?}: {e:?}"));
    page.records.iter().map(|r| r.document["userName"].as_str().unwrap().to_owned()).collect()
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name} must be a number")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_evaluator_postgresql_and_sqlite_select_alike() {
    let seed = setting("SCIMLEDGER_DIFFTEST_SEED", 15);
    let rounds = setting("SCIMLEDGER_DIFFTEST_ROUNDS", 2);
    let cases = setting("SCIMLEDGER_DIFFTEST_CASES", 300);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes));
    // Filters that ran, those that selected some users but not all, and those validation refused.
    let (mut selected, mut discriminating, mut refused) = (0u64, 0u64, 0u64);
    for round in 0..rounds {
        let population = prop::collection::vec((user(), text()), 8..14).new_tree(&mut runner).unwrap().current();
        let users: Vec<Value> = population
            .into_iter()
            .enumerate()
            .map(|(i, (mut user, name))| {
                user["userName"] = Value::String(format!("u{i}{name}"));
                // Aliases are logins, unique in the tenant: each is made so by its place.
                if let Some(Value::Array(aliases)) = user.get_mut("aliases") {
                    for (k, alias) in aliases.iter_mut().enumerate() {
                        if let Some(Value::String(value)) = alias.get_mut("value") {
                            *value = format!("a{i}.{k}{value}");
                        }
                    }
                }
                user
            })
            .collect();
        let group_names = (text(), text()).new_tree(&mut runner).unwrap().current();
        let memberships = prop::collection::vec(prop::sample::subsequence((0..users.len()).collect::<Vec<_>>(), 0..users.len()), 2)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let groups =
            vec![(format!("g0{}", group_names.0), memberships[0].clone()), (format!("g1{}", group_names.1), memberships[1].clone())];
        // Half the rounds on a database whose own collation is linguistic, as production ones are.
        let postgres = match round % 2 {
            0 => support::postgres().await,
            _ => support::with_tenant(store::testing::postgres_linguistic().await, None).await,
        };
        let sqlite = support::sqlite().await;
        provision(&postgres, &users, &groups).await;
        provision(&sqlite, &users, &groups).await;

        let records = postgres
            .store
            .users(&postgres.tenant, &ListQuery::from_params([("count", "1000")], &USER_RESOURCE).unwrap(), true)
            .await
            .unwrap();
        let memberships = records.groups.clone().unwrap_or_default();
        let rendered_users: Vec<(String, Value)> = records
            .records
            .iter()
            .map(|r| {
                (
                    r.document["userName"].as_str().unwrap().to_owned(),
                    rendered(r, memberships.get(&r.id).map(Vec::as_slice).unwrap_or_default()),
                )
            })
            .collect();
        let disagreement = |what: &str, names: &[&str]| {
            let involved: Vec<&Value> = rendered_users.iter().filter(|(n, _)| names.contains(&n.as_str())).map(|(_, u)| u).collect();
            format!("seed {seed}, round {round}: {what}\nusers involved: {}", serde_json::to_string_pretty(&involved).unwrap())
        };

        for _ in 0..cases {
            let text = filter().new_tree(&mut runner).unwrap().current();
            let Ok(parsed) = Filter::parse(&text) else { panic!("seed {seed}: generated filter does not parse: {text}") };
            if parsed.validate(&USER_RESOURCE).is_err() {
                refused += 1;
                continue;
            }
            selected += 1;
            let in_memory: Vec<&str> =
                rendered_users.iter().filter(|(_, u)| parsed.matches(u, &USER_RESOURCE)).map(|(n, _)| n.as_str()).collect();
            if !in_memory.is_empty() && in_memory.len() < rendered_users.len() {
                discriminating += 1;
            }
            let params = [("filter", text.as_str()), ("count", "1000")];
            for (backend, fixture) in [("PostgreSQL", &postgres), ("SQLite", &sqlite)] {
                let by_sql = user_names(fixture, &params).await;
                if by_sql != in_memory {
                    let differing: Vec<&str> = rendered_users
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .filter(|n| by_sql.iter().any(|s| s == n) != in_memory.contains(n))
                        .collect();
                    panic!("{}", disagreement(&format!("{text}\nin memory: {in_memory:?}\n{backend}: {by_sql:?}"), &differing));
                }
            }

            let (by, order) = sort().new_tree(&mut runner).unwrap().current();
            let Ok(query) = ListQuery::from_params([("sortBy", by.as_str()), ("sortOrder", order)], &USER_RESOURCE) else {
                refused += 1;
                continue;
            };
            let sort = query.sort.expect("a sort");
            let expected = sorted_in_memory(&rendered_users, &sort);
            let params = [("sortBy", by.as_str()), ("sortOrder", order), ("count", "1000")];
            for (backend, fixture) in [("PostgreSQL", &postgres), ("SQLite", &sqlite)] {
                let by_sql = user_names(fixture, &params).await;
                if by_sql != expected {
                    panic!(
                        "{}",
                        disagreement(&format!("sortBy={by} sortOrder={order}\nin memory: {expected:?}\n{backend}: {by_sql:?}"), &expected)
                    );
                }
            }
        }
    }
    // A generator whose filters were refused, or selected all users or none, would prove nothing.
    eprintln!(
        "seed {seed}: {selected} filters ran ({discriminating} selected some users but not all), {refused} filters and sorts refused"
    );
    assert!(selected > refused / 4 && discriminating > selected / 5, "seed {seed}: the generated filters decide too little");
}
