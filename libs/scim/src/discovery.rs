//! The discovery documents (RFC 7644 §4, RFC 7643 §5–7): /ServiceProviderConfig,
//! /ResourceTypes and /Schemas, generated from the schema definitions.

use serde_json::{json, Map, Value};

use crate::list::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::schema::{AttributeDef, ResourceType, SchemaDef, RESOURCE_TYPES, SCHEMAS};

pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// What this service provider supports, stated exactly.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    pub sort: bool,
    pub etag: bool,
    pub bulk_max_operations: u32,
    pub bulk_max_payload_bytes: u64,
}

/// How a client may authenticate (RFC 7643 §5 `authenticationSchemes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthenticationScheme {
    /// A bearer token the service provider issued (RFC 6750).
    OAuthBearerToken,
    /// The raw token as the whole `Authorization` value (or as a bearer token).
    HeaderToken,
    /// An access token from the OAuth 2.0 client credentials grant at `token_url`.
    OAuth2ClientCredentials { token_url: String },
    /// HTTP Basic (RFC 7617).
    HttpBasic,
}

impl AuthenticationScheme {
    fn describe(&self) -> Value {
        match self {
            AuthenticationScheme::OAuthBearerToken => json!({
                "type": "oauthbearertoken", "name": "OAuth Bearer Token",
                "description": "Authorization: Bearer with the connection's token", "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
            }),
            AuthenticationScheme::HeaderToken => json!({
                "type": "oauthbearertoken", "name": "Header token",
                "description": "The connection's token as the whole Authorization value, or as a Bearer token",
            }),
            AuthenticationScheme::OAuth2ClientCredentials { token_url } => json!({
                "type": "oauth2", "name": "OAuth 2.0 client credentials",
                "description": format!("Bearer access tokens from the client credentials grant at {token_url}"),
                "specUri": "https://www.rfc-editor.org/rfc/rfc6749#section-4.4",
            }),
            AuthenticationScheme::HttpBasic => json!({
                "type": "httpbasic", "name": "HTTP Basic",
                "description": "The connection's generated username and password", "specUri": "https://www.rfc-editor.org/rfc/rfc7617",
            }),
        }
    }
}

/// The configuration a client authenticated by `schemes` sees (its own, the first primary).
pub fn service_provider_config(base_url: &str, caps: Capabilities, schemes: &[AuthenticationScheme]) -> Value {
    let schemes: Vec<Value> = schemes
        .iter()
        .enumerate()
        .map(|(i, scheme)| {
            let mut described = scheme.describe();
            described["primary"] = Value::Bool(i == 0);
            described
        })
        .collect();
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "documentationUri": "https://github.com/scimledger/scimledger/blob/main/docs/scim.md",
        "patch": {"supported": true},
        "bulk": {
            "supported": caps.bulk_max_operations > 0,
            "maxOperations": caps.bulk_max_operations,
            "maxPayloadSize": caps.bulk_max_payload_bytes,
        },
        "filter": {"supported": true, "maxResults": MAX_PAGE_SIZE},
        // RFC 9865 §4. No cursorTimeout: cursors hold no server state and never expire.
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": DEFAULT_PAGE_SIZE,
            "maxPageSize": MAX_PAGE_SIZE,
        },
        "changePassword": {"supported": false},
        "sort": {"supported": caps.sort},
        "etag": {"supported": caps.etag},
        "authenticationSchemes": schemes,
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base_url}/ServiceProviderConfig"),
        },
    })
}

pub fn resource_type(base_url: &str, rt: &ResourceType) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": rt.id,
        "name": rt.name,
        "endpoint": rt.endpoint,
        "description": rt.description,
        "schema": rt.schema.id,
        "schemaExtensions": rt.extensions.iter().map(|e| json!({"schema": e.id, "required": false})).collect::<Vec<_>>(),
        "meta": {"resourceType": "ResourceType", "location": format!("{base_url}/ResourceTypes/{}", rt.id)},
    })
}

pub fn resource_types(base_url: &str) -> Vec<Value> {
    RESOURCE_TYPES.iter().map(|rt| resource_type(base_url, rt)).collect()
}

pub fn find_resource_type(id: &str) -> Option<&'static ResourceType> {
    RESOURCE_TYPES.into_iter().find(|rt| rt.id.eq_ignore_ascii_case(id))
}

pub fn schema(base_url: &str, schema: &SchemaDef) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": schema.attributes.iter().map(attribute).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base_url}/Schemas/{}", schema.id)},
    })
}

pub fn schemas(base_url: &str) -> Vec<Value> {
    SCHEMAS.iter().map(|s| schema(base_url, s)).collect()
}

pub fn find_schema(id: &str) -> Option<&'static SchemaDef> {
    SCHEMAS.into_iter().find(|s| s.id.eq_ignore_ascii_case(id))
}

fn attribute(def: &AttributeDef) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), def.name.into());
    out.insert("type".into(), def.kind.as_str().into());
    out.insert("multiValued".into(), def.multi_valued.into());
    out.insert("description".into(), def.description.into());
    out.insert("required".into(), def.required.into());
    out.insert("caseExact".into(), def.case_exact.into());
    out.insert("mutability".into(), def.mutability.as_str().into());
    out.insert("returned".into(), def.returned.as_str().into());
    out.insert("uniqueness".into(), def.uniqueness.as_str().into());
    if !def.canonical_values.is_empty() {
        out.insert("canonicalValues".into(), json!(def.canonical_values));
    }
    if !def.reference_types.is_empty() {
        out.insert("referenceTypes".into(), json!(def.reference_types));
    }
    if !def.sub_attributes.is_empty() {
        out.insert("subAttributes".into(), def.sub_attributes.iter().map(attribute).collect());
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_document_every_attribute_with_its_characteristics() {
        let docs = schemas("http://h/scim/v2/t");
        let user = &docs[0];
        let names: Vec<&str> = user["attributes"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
        for expected in ["userName", "name", "emails", "groups", "aliases", "x509Certificates", "password"] {
            assert!(names.contains(&expected), "{expected}");
        }
        let password = user["attributes"].as_array().unwrap().iter().find(|a| a["name"] == "password").unwrap();
        assert_eq!(password["returned"], "never");
        assert_eq!(password["mutability"], "writeOnly");
    }

    #[test]
    fn service_provider_config_states_bulk_limits_and_pagination() {
        let caps = Capabilities { sort: true, etag: true, bulk_max_operations: 1000, bulk_max_payload_bytes: 1 << 20 };
        let config = service_provider_config("http://h/scim/v2/t", caps, &[AuthenticationScheme::HttpBasic]);
        assert_eq!(config["authenticationSchemes"][0]["type"], "httpbasic");
        assert_eq!(config["authenticationSchemes"][0]["primary"], true);
        assert_eq!(config["bulk"], json!({"supported": true, "maxOperations": 1000, "maxPayloadSize": 1 << 20}));
        assert_eq!(
            config["pagination"],
            json!({"cursor": true, "index": true, "defaultPaginationMethod": "index", "defaultPageSize": 100, "maxPageSize": 1000})
        );
        let off = service_provider_config("http://h/scim/v2/t", Capabilities { bulk_max_operations: 0, ..caps }, &[]);
        assert_eq!(off["bulk"]["supported"], json!(false));
    }

    #[test]
    fn resource_types_name_their_extensions() {
        let rts = resource_types("http://h/scim/v2/t");
        assert_eq!(rts[0]["schemaExtensions"][0]["schema"], crate::schema::ENTERPRISE_USER_SCHEMA);
        assert_eq!(rts[1]["endpoint"], "/Groups");
    }
}
