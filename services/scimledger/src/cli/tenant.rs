//! `scimledger tenant …` and `scimledger operator create`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use store::Store;

use super::connection::{admin, print_json};
use crate::admin::error::AdminError;
use crate::admin::model::{CreateTenant, EnrollmentInput, RoutingInput};
use crate::config::Settings;

pub async fn create(store: &dyn Store, settings: &Settings, slug: &str, parent: Option<String>, json: bool) -> Result<(), AdminError> {
    let tenant = admin(store, settings).create_tenant(&CreateTenant { slug: slug.to_owned(), parent }).await?;
    if json {
        print_json(&tenant);
    } else {
        match &tenant.parent {
            Some(parent) => println!("created tenant {}, a sub-tenant of {parent}", tenant.slug),
            None => println!("created tenant {}", tenant.slug),
        }
    }
    Ok(())
}

/// `tenant routing PARENT (--attribute URN --map VALUE=SUB … | --users-wait-in SUB)
/// [--group-map DISPLAYNAME=SUB …]`.
pub async fn routing(store: &dyn Store, settings: &Settings, slug: &str, rule: Rule, json: bool) -> Result<(), AdminError> {
    let input = RoutingInput {
        attribute: rule.attribute,
        map: pairs(rule.map)?,
        users_wait_in: rule.users_wait_in,
        group_map: pairs(rule.group_map)?,
    };
    let view = admin(store, settings).set_routing(slug, &input).await?;
    if json {
        print_json(&view);
    } else {
        match (&view.attribute, &view.users_wait_in) {
            (Some(attribute), _) => println!("tenant {} routes users by {attribute}", view.tenant),
            (None, waiting) => println!(
                "tenant {} routes users by the groups that name them; until one does, they wait in {}",
                view.tenant,
                waiting.as_deref().unwrap_or_default()
            ),
        }
        for (value, sub) in &view.map {
            println!("  {value}\t-> {sub}");
        }
        for (name, sub) in &view.group_map {
            println!("  group {name}\t-> {sub}");
        }
    }
    Ok(())
}

/// `KEY=SUB` arguments as a map; the key may hold `=`, the slug may not.
fn pairs(arguments: Vec<String>) -> Result<BTreeMap<String, String>, AdminError> {
    arguments
        .into_iter()
        .map(|a| match a.rsplit_once('=') {
            Some((key, sub)) if !key.is_empty() && !sub.is_empty() => Ok((key.to_owned(), sub.to_owned())),
            _ => Err(AdminError::InvalidValue(format!("'{a}' is not VALUE=SUB-TENANT"))),
        })
        .collect()
}

/// The routing rule a `tenant routing` sets (named apart from the subcommand: clap names an argument group after it).
#[derive(Debug, clap::Args)]
pub struct Rule {
    /// The user attribute that routes: a core name (userType) or an extension's URN
    /// (urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization).
    #[arg(long, required_unless_present = "users_wait_in")]
    pub attribute: Option<String>,
    /// VALUE=SUB-TENANT, once per value of --attribute.
    #[arg(long = "map", requires = "attribute")]
    pub map: Vec<String>,
    /// Instead of --attribute: users go where the mapped groups that name them go, and wait in
    /// this sub-tenant (which no group maps to) until one does.
    #[arg(long, conflicts_with = "attribute")]
    pub users_wait_in: Option<String>,
    /// DISPLAYNAME=SUB-TENANT: where a group of that name goes.
    #[arg(long = "group-map")]
    pub group_map: Vec<String>,
}

pub async fn list(store: &dyn Store, settings: &Settings, json: bool) -> Result<(), AdminError> {
    let tenants = admin(store, settings).tenants().await?;
    if json {
        print_json(&tenants);
    } else {
        for tenant in tenants {
            println!("{}\t{}", tenant.slug, tenant.created);
        }
    }
    Ok(())
}

/// `tenant update TENANT --enrollment-url URL [--enrollment-subject S] [--enrollment-text FILE]
/// [--enrollment-html FILE]`: the bodies are read from files.
pub async fn update(store: &dyn Store, settings: &Settings, slug: &str, enrollment: Enrollment, json: bool) -> anyhow::Result<()> {
    let read = |path: Option<PathBuf>| -> anyhow::Result<Option<String>> {
        path.map(|p| std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))).transpose()
    };
    let input =
        EnrollmentInput { url: enrollment.url, subject: enrollment.subject, text: read(enrollment.text)?, html: read(enrollment.html)? };
    let view = admin(store, settings).set_enrollment(slug, &input).await?;
    if json {
        print_json(&view);
    } else {
        println!("tenant {}: enrollment links {}", view.tenant, view.url);
    }
    Ok(())
}

pub async fn delete(store: &dyn Store, settings: &Settings, slug: &str, json: bool) -> Result<(), AdminError> {
    let tenant = admin(store, settings).delete_tenant(slug).await?;
    if json {
        print_json(&tenant);
    } else {
        println!("deleted tenant {}", tenant.slug);
    }
    Ok(())
}

/// The enrollment email a `tenant update` sets.
#[derive(Debug, clap::Args)]
pub struct Enrollment {
    /// The link, holding {token}: https://mfa.example.com/enroll?t={token}
    #[arg(long = "enrollment-url")]
    pub url: String,
    /// The subject ({name}, {user_name}, {link} are filled in).
    #[arg(long = "enrollment-subject")]
    pub subject: Option<String>,
    /// A file holding the text body (must hold {link}).
    #[arg(long = "enrollment-text")]
    pub text: Option<PathBuf>,
    /// A file holding the HTML body (must hold {link}).
    #[arg(long = "enrollment-html")]
    pub html: Option<PathBuf>,
}

pub async fn create_operator(store: &dyn Store, settings: &Settings, name: &str, json: bool) -> Result<(), AdminError> {
    let issued = admin(store, settings).create_operator(name).await?;
    if json {
        print_json(&issued);
    } else {
        println!("operator {}", issued.name);
        println!("  token: {}", issued.token);
        println!("The token is shown this once; send it as `Authorization: Bearer` to /admin/v1.");
    }
    Ok(())
}
