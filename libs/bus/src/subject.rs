//! Subjects: `scimledger.<tenant>.<resource>.<event>`, e.g. `scimledger.acme.user.deactivated`.
//! Tenant slugs hold no `.`, so each token is one subject level and consumers can filter with
//! `scimledger.acme.>` or `scimledger.*.user.deactivated`.

pub const PREFIX: &str = "scimledger";

/// The subject of an event of `event_type` (`user.deactivated`) in `tenant`.
pub fn subject(tenant: &str, event_type: &str) -> String {
    format!("{PREFIX}.{tenant}.{event_type}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn subjects_name_tenant_resource_and_event() {
        assert_eq!(super::subject("acme", "user.deactivated"), "scimledger.acme.user.deactivated");
    }
}
