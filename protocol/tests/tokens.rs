//! Token checks: every way of tampering with a link token is refused with its own reason.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use protocol::{Claims, Mode, TokenError, TokenKey};

fn key() -> TokenKey {
    TokenKey::new(b"a test secret of reasonable length")
}

fn reencode_claims(token: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    edit(&mut claims);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    format!("{}.{}.{}", parts[0], body, parts[2])
}

#[test]
fn a_fresh_token_verifies_for_its_session() {
    let token = key().issue("sid1", Mode::Collab, Duration::from_secs(60));
    let claims = key().verify(&token, "sid1").unwrap();
    assert_eq!(claims.mode, Mode::Collab);
    assert_eq!(claims.sid, "sid1");
    assert!(claims.exp > claims.iat);
}

#[test]
fn another_sessions_token_is_refused() {
    let token = key().issue("sid1", Mode::Read, Duration::from_secs(60));
    assert_eq!(key().verify(&token, "sid2"), Err(TokenError::WrongSession));
}

#[test]
fn a_token_signed_with_another_secret_is_refused() {
    let token = TokenKey::new(b"other").issue("sid1", Mode::Read, Duration::from_secs(60));
    assert_eq!(key().verify(&token, "sid1"), Err(TokenError::BadSignature));
}

#[test]
fn a_changed_claim_breaks_the_signature() {
    let token = key().issue("sid1", Mode::Read, Duration::from_secs(60));
    let forged = reencode_claims(&token, |c| c["mode"] = "collab".into());
    assert_eq!(key().verify(&forged, "sid1"), Err(TokenError::BadSignature));
}

#[test]
fn alg_none_and_other_algorithms_are_refused() {
    let token = key().issue("sid1", Mode::Read, Duration::from_secs(60));
    let parts: Vec<&str> = token.split('.').collect();
    for alg in ["none", "HS512", "RS256"] {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        let forged = format!("{header}.{}.{}", parts[1], parts[2]);
        let err = key().verify(&forged, "sid1").unwrap_err();
        assert!(
            matches!(err, TokenError::WrongAlgorithm | TokenError::Malformed),
            "{alg}: {err:?}"
        );
        let unsigned = format!("{header}.{}.", parts[1]);
        assert!(key().verify(&unsigned, "sid1").is_err(), "{alg} unsigned");
    }
}

#[test]
fn an_expired_token_is_refused() {
    let token = key().sign(&Claims {
        sid: "sid1".into(),
        mode: Mode::Read,
        exp: 1_000,
        iat: 900,
        jti: "x".into(),
    });
    assert_eq!(key().verify(&token, "sid1"), Err(TokenError::Expired));
}

#[test]
fn a_token_without_exp_is_refused() {
    let token = key().issue("sid1", Mode::Read, Duration::from_secs(60));
    let forged = reencode_claims(&token, |c| {
        c.as_object_mut().unwrap().remove("exp");
    });
    assert!(key().verify(&forged, "sid1").is_err());
}

#[test]
fn garbage_is_malformed() {
    assert_eq!(
        key().verify("not a token", "sid1"),
        Err(TokenError::Malformed)
    );
}
