//! Token parsing fed mutated tokens: only an unchanged valid token verifies, anything else
//! is a typed refusal, within the allocation bound.

use std::sync::OnceLock;
use std::time::Duration;

use proptest::prelude::*;
use protocol::{Claims, Mode, TokenKey};

use crate::alloc::peak_of;
use crate::messages::bound;
use crate::watchdog::guard;

const SESSION: &str = "AAECAwQFBgcICQoLDA0ODw";

fn key() -> TokenKey {
    TokenKey::new(b"the fuzzing secret, 32 bytes long")
}

/// Valid tokens of each mode, and refused ones: expired, another algorithm, no signature.
/// Made once: a token carries the time and a random id.
fn seeds() -> &'static (Vec<String>, Vec<String>) {
    static SEEDS: OnceLock<(Vec<String>, Vec<String>)> = OnceLock::new();
    SEEDS.get_or_init(make_seeds)
}

fn make_seeds() -> (Vec<String>, Vec<String>) {
    let key = key();
    let valid = [Mode::Read, Mode::Collab, Mode::Host]
        .map(|mode| key.issue(SESSION, mode, Duration::from_secs(3600)))
        .to_vec();
    let expired = key.sign(&Claims {
        sid: SESSION.into(),
        mode: Mode::Read,
        exp: 1,
        iat: 0,
        jti: "x".into(),
    });
    let parts: Vec<&str> = valid[0].split('.').collect();
    // {"alg":"none","typ":"JWT"} and {"alg":"HS512"}, over valid claims.
    let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]);
    let hs512 = format!("eyJhbGciOiJIUzUxMiJ9.{}.{}", parts[1], parts[2]);
    (valid, vec![expired, none, hs512])
}

fn mutated_token() -> impl Strategy<Value = String> {
    let (valid, refused) = seeds();
    let all: Vec<String> = valid.iter().chain(refused).cloned().collect();
    let edit = prop_oneof![
        (
            any::<prop::sample::Index>(),
            prop::sample::select(&b".-_=+/ A0aZz\0\xff{}\""[..])
        )
            .prop_map(|(at, byte)| (at, Some(byte))),
        any::<prop::sample::Index>().prop_map(|at| (at, None)),
    ];
    prop_oneof![
        1 => ".{0,64}",
        6 => (prop::sample::select(all), prop::collection::vec(edit, 0..4)).prop_map(|(token, edits)| {
            let mut bytes = token.into_bytes();
            for (at, byte) in edits {
                let at = at.index(bytes.len().max(1)).min(bytes.len().saturating_sub(1));
                match byte {
                    Some(b) if !bytes.is_empty() => bytes[at] = b,
                    _ if !bytes.is_empty() => { bytes.remove(at); }
                    _ => {}
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }),
    ]
}

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn token_parsing(token in mutated_token()) {
        let (valid, _) = seeds();
        guard(|| format!("token {token:?}"), || {
            let key = key();
            let (verified, peak) = peak_of(|| (key.verify(&token, SESSION), key.verify_any_session(&token)));
            prop_assert!(peak <= bound(token.len()), "verifying held {peak} bytes");
            let (for_session, any_session) = verified;
            if for_session.is_ok() || any_session.is_ok() {
                prop_assert!(valid.contains(&token), "a changed token verified: {token}");
            }
            Ok(())
        })?;
    }
}
