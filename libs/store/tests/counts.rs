//! Each tenant's kept counts of users and groups (ADR 0049): unfiltered pages take their
//! totalResults from them, so they must follow every create and delete, tenant by tenant.

mod support;

use domain::group::{Group, GroupCommand};
use domain::user::{User, UserCommand};
use scim::list::ListQuery;
use scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
use serde_json::json;
use store::commands;
use support::{operator, Fixture};

fn query(params: &[(&str, &str)], resource: &scim::schema::ResourceType) -> ListQuery {
    ListQuery::from_params(params.iter().copied(), resource).expect("a valid query")
}

/// The totals an unfiltered index page, a first cursor page and a count-only page report.
async fn user_totals(fixture: &Fixture) -> [u64; 3] {
    let mut totals = [0; 3];
    for (i, params) in [&[][..], &[("cursor", "")], &[("count", "0")]].into_iter().enumerate() {
        totals[i] = fixture.store.users(&fixture.tenant, &query(params, &USER_RESOURCE), false).await.unwrap().total;
    }
    totals
}

async fn group_total(fixture: &Fixture) -> u64 {
    fixture.store.groups(&fixture.tenant, &query(&[("count", "1")], &GROUP_RESOURCE)).await.unwrap().total
}

on_both_backends! {
    async fn creates_and_deletes_keep_the_tenants_counts(fixture: Fixture) {
        let mut users = Vec::new();
        for i in 0..40 {
            users.push(fixture.provision(json!({"userName": format!("u{i}@example.com")})).await.unwrap());
        }
        let staff = fixture.create_group(json!({"displayName": "Staff"})).await.unwrap();
        fixture.create_group(json!({"displayName": "Admins"})).await.unwrap();
        assert_eq!(user_totals(&fixture).await, [40; 3]);
        assert_eq!(group_total(&fixture).await, 2);

        // Changes that neither create nor delete leave the counts alone.
        commands::change::<User>(&*fixture.store, &fixture.tenant, users[0], UserCommand::Deactivate, &domain::Principal::Operator, operator(), None).await.unwrap();
        for id in &users[..15] {
            commands::change::<User>(&*fixture.store, &fixture.tenant, *id, UserCommand::Delete, &domain::Principal::Operator, operator(), None).await.unwrap();
        }
        commands::change::<Group>(&*fixture.store, &fixture.tenant, staff, GroupCommand::Delete, &domain::Principal::Operator, operator(), None).await.unwrap();
        assert_eq!(user_totals(&fixture).await, [25; 3]);
        assert_eq!(group_total(&fixture).await, 1);

        // Another tenant's resources are its own.
        let beta = support::with_tenant_named(&fixture, "beta").await;
        beta.provision(json!({"userName": "b@example.com"})).await.unwrap();
        assert_eq!(user_totals(&beta).await, [1; 3]);
        assert_eq!(user_totals(&fixture).await, [25; 3]);
    }
}
