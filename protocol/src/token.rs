//! Link and host tokens: HS256 JWTs with claims `{sid, mode, exp, iat, jti}`. The algorithm
//! is pinned, `exp` is required, and a token only opens the session named in its `sid`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// Seconds a token stays valid past its `exp`, for clocks a little apart.
pub const LEEWAY_SECS: u64 = 5;

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Watch only; the relay drops any input.
    Read,
    /// Watch and type.
    Collab,
    /// Resume the session as its host.
    Host,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Read => "read",
            Mode::Collab => "collab",
            Mode::Host => "host",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sid: String,
    pub mode: Mode,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
}

impl Claims {
    /// Whether the token expired, as [`TokenKey::verify`] judges it now.
    pub fn expired(&self) -> bool {
        self.exp.saturating_add(LEEWAY_SECS) < unix_now()
    }
}

/// Why a token was refused. Each maps to 403 except where the caller decides otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed")]
    Malformed,
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token uses a forbidden algorithm")]
    WrongAlgorithm,
    #[error("token has expired")]
    Expired,
    #[error("token is for another session")]
    WrongSession,
    #[error("token does not grant this mode")]
    WrongMode,
}

impl TokenError {
    /// Short label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::BadSignature => "bad_signature",
            TokenError::WrongAlgorithm => "wrong_algorithm",
            TokenError::Expired => "expired",
            TokenError::WrongSession => "wrong_session",
            TokenError::WrongMode => "wrong_mode",
        }
    }
}

/// The relay's HS256 key: issues and checks tokens.
#[derive(Clone)]
pub struct TokenKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A random URL-safe identifier of `bytes` random bytes.
pub fn random_id(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

impl TokenKey {
    pub fn new(secret: &[u8]) -> TokenKey {
        TokenKey {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// Issues a token for `sid` valid for `ttl` from now.
    pub fn issue(&self, sid: &str, mode: Mode, ttl: Duration) -> String {
        let iat = unix_now();
        self.sign(&Claims {
            sid: sid.to_owned(),
            mode,
            exp: iat.saturating_add(ttl.as_secs().max(1)),
            iat,
            jti: random_id(12),
        })
    }

    /// Signs arbitrary claims (tests use it to forge expired tokens).
    pub fn sign(&self, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HS256 signing of serialisable claims cannot fail")
    }

    /// Checks signature, algorithm, expiry and that the token names `sid`.
    pub fn verify(&self, token: &str, sid: &str) -> Result<Claims, TokenError> {
        let claims = self.verify_any_session(token)?;
        if claims.sid != sid {
            return Err(TokenError::WrongSession);
        }
        Ok(claims)
    }

    /// Checks signature, algorithm and expiry; the caller checks the session.
    pub fn verify_any_session(&self, token: &str) -> Result<Claims, TokenError> {
        self.decode(token, true)
    }

    /// Checks signature, algorithm and that the token names `sid`, but not expiry: the
    /// claims of a token this key signed, expired or not, so that its holder can be told
    /// when it expired. Never a reason to let anyone in.
    pub fn verify_ignoring_expiry(&self, token: &str, sid: &str) -> Result<Claims, TokenError> {
        let claims = self.decode(token, false)?;
        if claims.sid != sid {
            return Err(TokenError::WrongSession);
        }
        Ok(claims)
    }

    fn decode(&self, token: &str, check_expiry: bool) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::HS256 {
            return Err(TokenError::WrongAlgorithm);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = check_expiry;
        validation.set_required_spec_claims(&["exp", "iat"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidAlgorithm => TokenError::WrongAlgorithm,
                _ => TokenError::Malformed,
            })
    }
}
