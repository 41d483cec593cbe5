//! Given / when / then for the grant's code exchange and refresh rotation.

use cqrs_es::test::TestFramework;
use time::macros::datetime;

use super::*;

type Given = TestFramework<Grant>;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const CALLBACK: &str = "https://acme.okta.com/oauth/callback";

fn ids() -> (Uuid, Uuid) {
    (Uuid::from_u128(1), Uuid::from_u128(2))
}

fn consented() -> GrantEvent {
    GrantEvent::Consented {
        connection_id: ids().0,
        redirect_uri: RedirectUri::parse(CALLBACK).unwrap(),
        scope: None,
        code_challenge: Some(PkceChallenge::parse(CHALLENGE, Some("S256")).unwrap()),
        code_expires_at: datetime!(2026-01-01 0:01 UTC),
    }
}

fn redeem(verifier: &str, redirect: &str, at: OffsetDateTime) -> GrantCommand {
    let (connection_id, credential_id) = ids();
    GrantCommand::Redeem { connection_id, credential_id, redirect_uri: Some(redirect.into()), code_verifier: Some(verifier.into()), at }
}

const NOW: OffsetDateTime = datetime!(2026-01-01 0:00:30 UTC);

#[test]
fn a_code_is_exchanged_once_with_its_verifier_and_redirect_uri() {
    Given::with(())
        .given(vec![consented()])
        .when(redeem(VERIFIER, CALLBACK, NOW))
        .then_expect_events(vec![GrantEvent::CodeRedeemed { credential_id: ids().1 }]);
}

#[test]
fn a_second_exchange_revokes_the_grant() {
    let redeemed = GrantEvent::CodeRedeemed { credential_id: ids().1 };
    Given::with(())
        .given(vec![consented(), redeemed.clone()])
        .when(redeem(VERIFIER, CALLBACK, NOW))
        .then_expect_events(vec![GrantEvent::Revoked { reason: RevokeReason::CodeReused }]);
    let revoked = GrantEvent::Revoked { reason: RevokeReason::CodeReused };
    let refresh = GrantCommand::Refresh { connection_id: ids().0, credential_id: ids().1, serial: 1 };
    Given::with(())
        .given(vec![consented(), redeemed, revoked])
        .when(refresh)
        .then_expect_error_message("400 invalidValue: the grant was revoked");
}

#[test]
fn wrong_verifier_redirect_client_or_a_late_exchange_are_refused() {
    let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl";
    Given::with(())
        .given(vec![consented()])
        .when(redeem(wrong, CALLBACK, NOW))
        .then_expect_error_message("400 invalidValue: code_verifier does not match the code_challenge");
    Given::with(())
        .given(vec![consented()])
        .when(redeem(VERIFIER, "https://acme.okta.com/other", NOW))
        .then_expect_error_message("400 invalidValue: redirect_uri differs from the authorization request's");
    Given::with(())
        .given(vec![consented()])
        .when(redeem(VERIFIER, CALLBACK, datetime!(2026-01-01 0:01 UTC)))
        .then_expect_error_message("400 invalidValue: the authorization code expired");
    let other = GrantCommand::Redeem {
        connection_id: Uuid::from_u128(9),
        credential_id: ids().1,
        redirect_uri: Some(CALLBACK.into()),
        code_verifier: Some(VERIFIER.into()),
        at: NOW,
    };
    Given::with(())
        .given(vec![consented()])
        .when(other)
        .then_expect_error_message("400 invalidValue: the grant was issued to another client");
}

#[test]
fn refresh_tokens_rotate_and_the_replaced_one_stops() {
    let (connection_id, credential_id) = ids();
    let history = vec![consented(), GrantEvent::CodeRedeemed { credential_id }];
    let refresh = |serial| GrantCommand::Refresh { connection_id, credential_id, serial };
    Given::with(())
        .given(history.clone())
        .when(refresh(1))
        .then_expect_events(vec![GrantEvent::RefreshTokenRotated { credential_id, serial: 2 }]);
    let rotated = [history, vec![GrantEvent::RefreshTokenRotated { credential_id, serial: 2 }]].concat();
    Given::with(())
        .given(rotated)
        .when(refresh(1))
        .then_expect_error_message("400 invalidValue: the refresh token was replaced by a newer one");
    Given::with(())
        .given(vec![consented()])
        .when(refresh(0))
        .then_expect_error_message("400 invalidValue: the refresh token was replaced by a newer one");
}
