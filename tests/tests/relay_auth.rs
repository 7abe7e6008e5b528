//! Admission through a real relay: every bad token is refused with 403 and a valid token
//! for an unknown session with 404, on the WebSocket upgrade and on the WebTransport
//! CONNECT alike, before any session data; hosts are refused without a required key or
//! with another protocol version.

mod relay_support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use cli_share::client::connect_status;
use cli_share::client::{NetError, ViewerTransport};
use protocol::{Claims, HostToRelay, Mode, RefusalReason, RelayToHost};
use relay::RelayConfig;
use relay_support::*;
use tokio_tungstenite::tungstenite;

/// The tokens that must be refused with 403 for session `sid`, by name.
fn bad_tokens(h: &Harness, sid: &str) -> Vec<(&'static str, String)> {
    let key = h.relay.token_key();
    let good = key.issue(sid, Mode::Read, std::time::Duration::from_secs(3600));
    let parts: Vec<&str> = good.split('.').collect();
    let (header, payload, signature) = (parts[0], parts[1], parts[2]);

    let mut tampered_sig = signature.to_owned().into_bytes();
    tampered_sig[0] = if tampered_sig[0] == b'A' { b'B' } else { b'A' };
    let tampered_sig = String::from_utf8(tampered_sig).unwrap();

    let mut claims: serde_json::Value =
        serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
    claims["mode"] = "collab".into();
    let changed_claim = B64.encode(serde_json::to_vec(&claims).unwrap());

    let none_header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let hs512_header = B64.encode(br#"{"alg":"HS512","typ":"JWT"}"#);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expired = key.sign(&Claims {
        sid: sid.to_owned(),
        mode: Mode::Read,
        exp: now - 3600,
        iat: now - 7200,
        jti: "expired".into(),
    });
    vec![
        (
            "tampered signature",
            format!("{header}.{payload}.{tampered_sig}"),
        ),
        (
            "changed claim",
            format!("{header}.{changed_claim}.{signature}"),
        ),
        ("alg none", format!("{none_header}.{payload}.")),
        (
            "other algorithm",
            format!("{hs512_header}.{payload}.{signature}"),
        ),
        ("expired", expired),
        (
            "other session",
            key.issue(
                "some-other-session",
                Mode::Read,
                std::time::Duration::from_secs(3600),
            ),
        ),
        (
            "host token",
            key.issue(sid, Mode::Host, std::time::Duration::from_secs(3600)),
        ),
        ("garbage", "not-a-jwt".into()),
        (
            "foreign key",
            protocol::TokenKey::new(b"another relay's secret!").issue(
                sid,
                Mode::Read,
                std::time::Duration::from_secs(3600),
            ),
        ),
    ]
}

/// The HTTP status of a WebSocket upgrade to `/ws/sessions/<sid>` with `token` in the query.
async fn ws_status(h: &Harness, sid: &str, token: &str) -> u16 {
    let url = format!(
        "ws://{}/ws/sessions/{sid}?token={token}",
        h.relay.http_addr()
    );
    match within("WS upgrade", tokio_tungstenite::connect_async(url)).await {
        Ok(_) => 101,
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("unexpected WebSocket error: {e}"),
    }
}

async fn wt_status(h: &Harness, sid: &str, token: &str) -> u16 {
    let url = format!(
        "https://127.0.0.1:{}/wt/sessions/{sid}?token={token}",
        h.relay.webtransport_addr().port()
    );
    within("WT CONNECT", connect_status(&h.info, &url))
        .await
        .expect("a CONNECT response")
}

#[tokio::test]
async fn bad_tokens_get_403_and_unknown_sessions_404_on_both_transports() {
    let h = start_default().await;
    let host = h.host().await;
    let sid = host.welcome.session_id.clone();
    let good = h
        .relay
        .token_key()
        .issue(&sid, Mode::Read, std::time::Duration::from_secs(3600));
    assert_eq!(
        ws_status(&h, &sid, &good).await,
        101,
        "the good token opens the session"
    );
    assert_eq!(
        wt_status(&h, &sid, &good).await,
        200,
        "the good token opens the session"
    );

    for (case, token) in bad_tokens(&h, &sid) {
        assert_eq!(ws_status(&h, &sid, &token).await, 403, "WebSocket, {case}");
        assert_eq!(
            wt_status(&h, &sid, &token).await,
            403,
            "WebTransport, {case}"
        );
        // The same through the client library, token in Sec-WebSocket-Protocol. A link's
        // fragment is a three-part token then the keys, so "garbage" has no link.
        if token.split('.').count() != 3 {
            continue;
        }
        let link = h.share_link(&sid, &token);
        assert!(
            matches!(
                h.viewer(&link, ViewerTransport::WebSocket).await,
                Err(NetError::Forbidden)
            ),
            "client, {case}"
        );
        assert!(
            matches!(
                h.viewer(&link, ViewerTransport::WebTransport).await,
                Err(NetError::Forbidden)
            ),
            "client WT, {case}"
        );
    }
    let missing = format!("ws://{}/ws/sessions/{sid}", h.relay.http_addr());
    match tokio_tungstenite::connect_async(missing).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status().as_u16(), 403),
        other => panic!("a missing token must be refused: {:?}", other.map(|_| ())),
    }

    let unknown = "AAAAAAAAAAAAAAAAAAAAAA";
    let token =
        h.relay
            .token_key()
            .issue(unknown, Mode::Read, std::time::Duration::from_secs(3600));
    assert_eq!(ws_status(&h, unknown, &token).await, 404);
    assert_eq!(wt_status(&h, unknown, &token).await, 404);
    let link = h.share_link(unknown, &token);
    for transport in [
        ViewerTransport::WebSocket,
        ViewerTransport::WebTransport,
        ViewerTransport::Auto,
    ] {
        assert!(
            matches!(h.viewer(&link, transport).await, Err(NetError::NotFound)),
            "{transport:?}"
        );
    }

    let metrics = h.metrics().await;
    assert!(
        metric(
            &metrics,
            "relay_rejected_tokens_total{reason=\"bad_signature\"}"
        ) >= 4
    );
    assert!(
        metric(
            &metrics,
            "relay_rejected_tokens_total{reason=\"wrong_algorithm\"}"
        ) >= 2
    );
    assert!(metric(&metrics, "relay_rejected_tokens_total{reason=\"expired\"}") >= 2);
    assert!(
        metric(
            &metrics,
            "relay_rejected_tokens_total{reason=\"wrong_session\"}"
        ) >= 2
    );
    assert!(
        metric(
            &metrics,
            "relay_rejected_tokens_total{reason=\"wrong_mode\"}"
        ) >= 2
    );
    assert!(
        metric(
            &metrics,
            "relay_rejected_tokens_total{reason=\"unknown_session\"}"
        ) >= 2
    );
}

#[tokio::test]
async fn host_keys_are_required_when_configured() {
    let h = start(RelayConfig {
        host_keys: vec!["sesame-1234".into()],
        ..RelayConfig::loopback()
    })
    .await;
    match h.host_with(&hello()).await {
        Err(NetError::Refused(refusal)) => {
            assert_eq!(refusal.reason, RefusalReason::HostKeyRequired)
        }
        other => panic!(
            "a host without a key must be refused, got {:?}",
            other.map(|c| c.welcome)
        ),
    }
    let wrong = protocol::HostHello {
        host_key: Some("sesame-1235".into()),
        ..hello()
    };
    assert!(matches!(
        h.host_with(&wrong).await,
        Err(NetError::Refused(_))
    ));
    let right = protocol::HostHello {
        host_key: Some("sesame-1234".into()),
        ..hello()
    };
    let host = h
        .host_with(&right)
        .await
        .expect("the right key is welcomed");
    assert!(!host.welcome.session_id.is_empty());
}

#[tokio::test]
async fn another_protocol_version_is_refused_with_version_mismatch() {
    let h = start_default().await;
    // A hello that decodes but announces version 2.
    let newer = protocol::HostHello {
        version: protocol::PROTOCOL_VERSION + 1,
        ..hello()
    };
    match h.host_with(&newer).await {
        Err(NetError::Refused(refusal)) => {
            assert_eq!(refusal.reason, RefusalReason::VersionMismatch);
            assert_eq!(refusal.relay_version, protocol::PROTOCOL_VERSION);
        }
        other => panic!(
            "expected a version refusal, got {:?}",
            other.map(|c| c.welcome)
        ),
    }
    // A hello from a future host whose fields no longer decode: the version is peeked.
    let mut bytes = protocol::encode(&HostToRelay::Hello(protocol::HostHello {
        version: 7,
        ..hello()
    }))
    .unwrap();
    bytes.extend_from_slice(&[0xff; 9]);
    let (mut sender, mut receiver, _) = within(
        "host link",
        cli_share::client::open_host(&h.info, &quic_only()),
    )
    .await
    .unwrap();
    sender.send_raw(bytes.into()).await.unwrap();
    match within("refusal", receiver.recv()).await {
        Ok(RelayToHost::Refused(refusal)) => {
            assert_eq!(refusal.reason, RefusalReason::VersionMismatch)
        }
        other => panic!("expected a version refusal, got {other:?}"),
    }
}
