//! `GET|POST /oauth/{tenant}/authorize`: the authorization code grant's front channel (RFC
//! 6749 §4.1.1) for Okta's App Integration Wizard (ADR 0072).
//!
//! The client (an `oauth` connection, by its client id) and its redirect URI (registered on the
//! connection, matched exactly) are checked first; until both hold, errors are shown on the
//! page and nobody is redirected. Then errors go back to the redirect URI (RFC 6749
//! §4.1.2.1). The operator signs in with an operator token typed into a form, then approves or
//! denies; approval is a command on a new grant stream, and the redirect carries its code.
//! The forms carry a CSRF token bound to a cookie of this browser; the consent form also a
//! ticket sealed over the operator, the request and a short expiry.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, COOKIE, LOCATION, REFERRER_POLICY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use domain::connection::{AuthMode, RedirectUri};
use domain::oauth_grant::{Grant, GrantCommand, PkceChallenge};
use domain::{DomainError, TenantSlug};
use serde::Deserialize;
use store::{Actor, Connection};
use subtle::ConstantTimeEq;

use super::page::{escape, hidden, Page};
use super::seal::new_cookie;
use crate::api::provenance::Provenance;
use crate::api::{origin, ApiState};
use crate::token;

const COOKIE_NAME: &str = "scimledger_authorize";
/// How long a sign-in holds for the consent that follows it.
const TICKET_SECS: i64 = 600;
/// The longest `state` and `scope` taken: both go back into pages and redirects.
const MAX_PARAMETER: usize = 1024;

/// The authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3), as the query or the forms carry it.
#[derive(Debug, Default, Deserialize)]
pub struct AuthorizeRequest {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    scope: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

impl AuthorizeRequest {
    fn fields(&self) -> [(&'static str, &Option<String>); 7] {
        [
            ("response_type", &self.response_type),
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("state", &self.state),
            ("scope", &self.scope),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
        ]
    }

    /// The request as one string, which the sign-in ticket is sealed over.
    fn canonical(&self) -> String {
        self.fields().iter().map(|(name, value)| format!("{name}={}\n", value.as_deref().map_or("-".into(), |v| format!("+{v}")))).collect()
    }

    /// The request again, in the next form.
    fn hidden(&self) -> String {
        self.fields().iter().filter_map(|(name, value)| value.as_deref().map(|v| hidden(name, v))).collect()
    }
}

/// The sign-in and consent forms: the request plus what each step adds.
#[derive(Debug, Deserialize)]
pub struct AuthorizeForm {
    #[serde(flatten)]
    request: AuthorizeRequest,
    csrf: Option<String>,
    operator_token: Option<String>,
    operator: Option<String>,
    ticket: Option<String>,
    decision: Option<String>,
}

/// A client the request names and the registered redirect URI it asked for: from here on,
/// errors may be sent to that URI.
struct Client {
    tenant: TenantSlug,
    connection: Connection,
    redirect: RedirectUri,
}

/// What a domain refusal says, for a page or an `error_description`.
fn detail(error: DomainError) -> String {
    match error {
        DomainError::Invalid(e) => e.detail,
        other => other.to_string(),
    }
}

/// Why the request cannot be trusted enough to redirect anywhere: said on the page.
#[derive(Debug, thiserror::Error)]
enum Untrusted {
    #[error("unknown client: check the client ID and the authorize URL your IdP was given")]
    UnknownClient,
    #[error("redirect_uri is missing: scimledger needs the one registered for this client")]
    NoRedirectUri,
    #[error("redirect_uri '{asked}' is not registered for this client; an operator registers it with `scimledger connection update {tenant} {connection} --redirect-uri URI`")]
    Unregistered { asked: String, tenant: TenantSlug, connection: String },
    #[error("scimledger cannot answer right now; try again")]
    Unavailable,
}

impl IntoResponse for Untrusted {
    fn into_response(self) -> Response {
        let status = match self {
            Untrusted::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        Page::error(status, &self.to_string()).into_response()
    }
}

async fn trusted(state: &ApiState, tenant: &str, request: &AuthorizeRequest) -> Result<Client, Untrusted> {
    let (Ok(tenant), Some(client_id)) = (TenantSlug::parse(tenant), request.client_id.as_deref()) else {
        return Err(Untrusted::UnknownClient);
    };
    let connections = state.store.connections(&tenant).await.map_err(|error| {
        tracing::warn!(%error, "reading connections for an authorization request");
        Untrusted::Unavailable
    })?;
    let found =
        connections.into_iter().find(|c| c.auth == AuthMode::Oauth && c.disabled.is_none() && c.login.as_deref() == Some(client_id));
    let connection = found.ok_or(Untrusted::UnknownClient)?;
    let asked = request.redirect_uri.as_deref().ok_or(Untrusted::NoRedirectUri)?;
    let Some(redirect) = connection.settings.redirect_uris.iter().find(|r| r.as_str() == asked).cloned() else {
        return Err(Untrusted::Unregistered { asked: asked.to_owned(), tenant, connection: connection.name });
    };
    Ok(Client { tenant, connection, redirect })
}

/// The checks whose failures go back to the client: the response type and PKCE.
fn checked(request: &AuthorizeRequest) -> Result<Option<PkceChallenge>, (&'static str, String)> {
    match request.response_type.as_deref() {
        Some("code") => {}
        Some(_) => return Err(("unsupported_response_type", "only response_type=code is supported".into())),
        None => return Err(("invalid_request", "response_type is required".into())),
    }
    if [&request.state, &request.scope].into_iter().flatten().any(|v| v.len() > MAX_PARAMETER) {
        return Err(("invalid_request", format!("state and scope are at most {MAX_PARAMETER} bytes")));
    }
    match (&request.code_challenge, &request.code_challenge_method) {
        (Some(challenge), method) => {
            PkceChallenge::parse(challenge, method.as_deref()).map(Some).map_err(|e| ("invalid_request", detail(e)))
        }
        (None, Some(_)) => Err(("invalid_request", "code_challenge_method without a code_challenge".into())),
        (None, None) => Ok(None),
    }
}

/// 303 to the client's redirect URI with `pairs` and the request's `state`.
fn redirect(to: &RedirectUri, pairs: &[(&str, &str)], state: Option<&str>) -> Response {
    let mut url = url::Url::parse(to.as_str()).expect("a registered redirect URI parses");
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(LOCATION, HeaderValue::from_str(url.as_str()).expect("a serialised URL is a header value"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn redirect_error(client: &Client, request: &AuthorizeRequest, error: &str, description: &str) -> Response {
    redirect(&client.redirect, &[("error", error), ("error_description", description)], request.state.as_deref())
}

/// This browser's cookie, when it sent one of ours.
fn cookie_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE_NAME && value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|(_, value)| value.to_owned())
}

fn action(client: &Client) -> String {
    format!("/oauth/{}/authorize", client.tenant)
}

fn sign_in_page(state: &ApiState, client: &Client, request: &AuthorizeRequest, cookie: &str, problem: Option<&str>) -> Page {
    let status = if problem.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    let problem = problem.map(|p| format!("<p><strong>{}</strong></p>\n", escape(p))).unwrap_or_default();
    let body = format!(
        "<p>The connection <strong>{name}</strong> of tenant <strong>{tenant}</strong> asks to provision users and groups \
         through scimledger. Sign in as a scimledger operator to review the request.</p>\n{problem}\
         <form method=\"post\" action=\"{action}\">{fields}{csrf}\n\
         <p><label for=\"operator_token\">Operator token</label>\n\
         <input type=\"password\" id=\"operator_token\" name=\"operator_token\" autocomplete=\"off\" required></p>\n\
         <p><button type=\"submit\">Sign in</button></p>\n</form>",
        name = escape(&client.connection.name),
        tenant = escape(client.tenant.as_str()),
        action = escape(&action(client)),
        fields = request.hidden(),
        csrf = hidden("csrf", &state.oauth_key.csrf(client.tenant.as_str(), cookie)),
    );
    Page::new(status, "Sign in to scimledger", body)
}

fn consent_page(state: &ApiState, headers: &HeaderMap, client: &Client, request: &AuthorizeRequest, cookie: &str, operator: &str) -> Page {
    let tenant = client.tenant.as_str();
    let expires = store::now().unix_timestamp() + TICKET_SECS;
    let ticket = state.oauth_key.ticket(tenant, cookie, operator, &request.canonical(), expires);
    let scope = request.scope.as_deref().map(|s| format!("<p>Scope asked for: <code>{}</code></p>\n", escape(s))).unwrap_or_default();
    let body = format!(
        "<p>Signed in as operator <strong>{operator}</strong>.</p>\n\
         <p>Allow the connection <strong>{name}</strong> of tenant <strong>{tenant}</strong> to obtain access tokens for \
         <code>{base}</code>? With them it creates, changes and deletes users and groups as this connection.</p>\n{scope}\
         <p>The authorization code goes to <code>{redirect}</code>.</p>\n\
         <form method=\"post\" action=\"{action}\">{fields}{csrf}{operator_field}{ticket}\n\
         <p><button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></p>\n</form>",
        operator = escape(operator),
        name = escape(&client.connection.name),
        tenant = escape(tenant),
        base = escape(&format!("{}/scim/v2/{tenant}", origin(state, headers))),
        redirect = escape(client.redirect.as_str()),
        action = escape(&action(client)),
        fields = request.hidden(),
        csrf = hidden("csrf", &state.oauth_key.csrf(tenant, cookie)),
        operator_field = hidden("operator", operator),
        ticket = hidden("ticket", &ticket),
    );
    let mut page = Page::new(StatusCode::OK, "Allow provisioning?", body);
    page.form_targets.push(client.redirect.origin());
    page
}

/// The browser's cookie: scoped to this endpoint, never sent cross-site, `Secure` behind https.
fn set_cookie(state: &ApiState, headers: &HeaderMap, client: &Client, value: &str) -> String {
    let secure = if origin(state, headers).starts_with("https://") { "; Secure" } else { "" };
    format!("{COOKIE_NAME}={value}; Path={}; HttpOnly; SameSite=Strict; Max-Age=1800{secure}", action(client))
}

pub async fn authorize_page(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    query: Result<Query<AuthorizeRequest>, QueryRejection>,
) -> Response {
    let Ok(Query(request)) = query else {
        return Page::error(StatusCode::BAD_REQUEST, "the authorization request's parameters are malformed or repeated").into_response();
    };
    let client = match trusted(&state, &tenant, &request).await {
        Ok(client) => client,
        Err(untrusted) => return untrusted.into_response(),
    };
    if let Err((error, description)) = checked(&request) {
        return redirect_error(&client, &request, error, &description);
    }
    let cookie = new_cookie();
    let mut page = sign_in_page(&state, &client, &request, &cookie, None);
    page.cookie = Some(set_cookie(&state, &headers, &client, &cookie));
    page.into_response()
}

pub async fn authorize_form(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    Extension(provenance): Extension<Provenance>,
    headers: HeaderMap,
    form: Result<Form<AuthorizeForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return Page::error(StatusCode::BAD_REQUEST, "the form is malformed; go back to your IdP and start again").into_response();
    };
    let client = match trusted(&state, &tenant, &form.request).await {
        Ok(client) => client,
        Err(untrusted) => return untrusted.into_response(),
    };
    let challenge = match checked(&form.request) {
        Ok(challenge) => challenge,
        Err((error, description)) => return redirect_error(&client, &form.request, error, &description),
    };
    let tenant = client.tenant.as_str();
    let csrf = form.csrf.as_deref().unwrap_or_default();
    let Some(cookie) = cookie_of(&headers).filter(|cookie| state.oauth_key.csrf_holds(tenant, cookie, csrf)) else {
        let stale = "this form is stale or was not sent from scimledger's page; go back to your IdP and start again";
        return Page::error(StatusCode::FORBIDDEN, stale).into_response();
    };
    match (form.decision.as_deref(), form.operator_token.as_deref(), form.operator.as_deref(), form.ticket.as_deref()) {
        (None, Some(presented), _, _) => {
            let hash = token::hash(presented.trim());
            let operators = match state.store.operator_secrets().await {
                Ok(operators) => operators,
                Err(error) => {
                    tracing::warn!(%error, "reading operators for a sign-in");
                    return Page::error(StatusCode::SERVICE_UNAVAILABLE, "scimledger cannot answer right now; try again").into_response();
                }
            };
            match operators.into_iter().find(|o| bool::from(o.hash.ct_eq(&hash))) {
                Some(operator) => consent_page(&state, &headers, &client, &form.request, &cookie, &operator.name).into_response(),
                None => sign_in_page(&state, &client, &form.request, &cookie, Some("That is not an operator token.")).into_response(),
            }
        }
        (Some(decision), _, Some(operator), Some(ticket)) => {
            let now = store::now();
            if !state.oauth_key.ticket_holds(tenant, &cookie, operator, &form.request.canonical(), ticket, now.unix_timestamp()) {
                return sign_in_page(&state, &client, &form.request, &cookie, Some("Your sign-in expired; sign in again.")).into_response();
            }
            match decision {
                "deny" => redirect_error(&client, &form.request, "access_denied", "the operator denied the request"),
                "approve" => approve(&state, &client, &form.request, challenge, operator, &provenance, now).await,
                _ => Page::error(StatusCode::BAD_REQUEST, "the decision is approve or deny").into_response(),
            }
        }
        _ => Page::error(StatusCode::BAD_REQUEST, "the form is incomplete; go back to your IdP and start again").into_response(),
    }
}

/// Records the consent (a new grant, its actor the operator) and sends its code to the client.
async fn approve(
    state: &ApiState,
    client: &Client,
    request: &AuthorizeRequest,
    code_challenge: Option<PkceChallenge>,
    operator: &str,
    provenance: &Provenance,
    now: time::OffsetDateTime,
) -> Response {
    let command = GrantCommand::Consent {
        connection_id: client.connection.id,
        redirect_uri: client.redirect.clone(),
        scope: request.scope.clone(),
        code_challenge,
        code_expires_at: now + time::Duration::seconds(state.settings.oauth_code_ttl_secs as i64),
    };
    let metadata = provenance.metadata(Actor::Operator(operator.to_owned()));
    match store::commands::create::<Grant>(&*state.store, &client.tenant, command, metadata).await {
        Ok(outcome) => {
            let code = state.oauth_key.code(client.tenant.as_str(), outcome.id.as_uuid());
            redirect(&client.redirect, &[("code", &code)], request.state.as_deref())
        }
        Err(error) => {
            tracing::warn!(%error, "recording a consent");
            redirect_error(client, request, "temporarily_unavailable", "the consent could not be recorded; try again")
        }
    }
}
