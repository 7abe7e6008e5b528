//! Admission through a real relay: every bad token is refused with 403 and a valid token
//! for an unknown session with 404, on the WebSocket upgrade and on the WebTransport
//! CONNECT alike, before any session data; the status endpoint tells a link's holder which
//! it is (invalid, expired and when, unknown, ended and when); hosts are refused without a
//! required key or with another protocol version; link tokens and host keys stay out of
//! the relay's log, even at `--log trace`.

mod relay_support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cli_share::client::{LinkStatus, NetError, ViewerTransport, connect_status, link_status};
use protocol::{Claims, EndReason, HostToRelay, Mode, RefusalReason, RelayToHost, RelayToViewer};
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

/// What the relay's status endpoint says of `token` for session `sid`.
async fn status_of(h: &Harness, sid: &str, token: &str) -> LinkStatus {
    let link = keyed(&h.share_link(sid, token));
    within("link status", link_status(&h.info, &link))
        .await
        .expect("a link status")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A read token for `sid` this relay signed, expired an hour ago.
fn expired_token(h: &Harness, sid: &str) -> (String, SystemTime) {
    let exp = unix_now() - 3600;
    let token = h.relay.token_key().sign(&Claims {
        sid: sid.to_owned(),
        mode: Mode::Read,
        exp,
        iat: exp - 3600,
        jti: "expired".into(),
    });
    (token, UNIX_EPOCH + Duration::from_secs(exp))
}

#[tokio::test]
async fn the_status_endpoint_tells_bad_expired_unknown_and_ended_links_apart() {
    let h = start_default().await;
    let host = h.host().await;
    let sid = host.welcome.session_id.clone();
    let key = h.relay.token_key();
    let good = key.issue(&sid, Mode::Collab, Duration::from_secs(3600));
    assert_eq!(status_of(&h, &sid, &good).await, LinkStatus::Live);
    let path = format!("/api/sessions/{sid}/status");
    let (code, body) = h.post(&path, &good).await;
    assert_eq!(code, 200);
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["status"], "live");
    assert_eq!(answer["mode"], "collab");
    assert_eq!(answer["host_online"], true);

    // Every token the upgrade refuses is invalid, but the expired one: that one says when.
    let (expired, expired_at) = expired_token(&h, &sid);
    for (case, token) in bad_tokens(&h, &sid) {
        assert_eq!(h.post(&path, &token).await.0, 403, "{case}");
        // A link's fragment is a three-part token then the keys: "garbage" has no link.
        if token.split('.').count() != 3 {
            continue;
        }
        match (case, status_of(&h, &sid, &token).await) {
            // Signed a moment before `expired_at`.
            ("expired", LinkStatus::Expired { at }) => {
                let off = expired_at
                    .duration_since(at)
                    .unwrap_or_else(|e| e.duration());
                assert!(off <= Duration::from_secs(5), "{off:?}");
            }
            (case, said) => assert_eq!(said, LinkStatus::Invalid, "{case}"),
        }
    }
    assert_eq!(
        status_of(&h, &sid, &expired).await,
        LinkStatus::Expired { at: expired_at }
    );
    // The token goes in the body, never the URL: one in the query string opens nothing.
    assert_eq!(h.post(&format!("{path}?token={good}"), "").await.0, 403);
    assert_eq!(
        h.get(&path).await.0,
        405,
        "GET would put the token in the URL"
    );
    let oversized = format!("{good}{}", " ".repeat(5000));
    assert_eq!(h.post(&path, &oversized).await.0, 413);

    let unknown = "AAAAAAAAAAAAAAAAAAAAAA";
    let token = key.issue(unknown, Mode::Read, Duration::from_secs(3600));
    assert_eq!(status_of(&h, unknown, &token).await, LinkStatus::NotFound);
    assert_eq!(
        h.post(&format!("/api/sessions/{unknown}/status"), &token)
            .await
            .0,
        404
    );
    let (unknown_expired, at) = expired_token(&h, unknown);
    assert_eq!(
        status_of(&h, unknown, &unknown_expired).await,
        LinkStatus::Expired { at },
        "of an unknown session, all that is known is that the link expired"
    );

    // The host leaves: the session ended, and its links say so, expired ones too.
    let mut viewer = h
        .joined(&h.share_link(&sid, &good), ViewerTransport::WebSocket)
        .await;
    let before = SystemTime::now() - Duration::from_secs(1);
    host.sender.bye("done").await.expect("goodbye");
    recv_until(&mut viewer, "the end", |message| {
        matches!(message, RelayToViewer::Ended { .. }).then_some(())
    })
    .await;
    for token in [&good, &expired] {
        match status_of(&h, &sid, token).await {
            LinkStatus::Ended { at, reason } => {
                assert_eq!(reason, EndReason::HostEnded);
                assert!(at >= before && at <= SystemTime::now(), "{at:?}");
            }
            other => panic!("expected the session ended, got {other:?}"),
        }
    }
    let (code, body) = h.post(&path, &good).await;
    assert_eq!(code, 410);
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["reason"], "host_ended");
    // The upgrades keep their 404 for a session that is not there.
    assert_eq!(ws_status(&h, &sid, &good).await, 404);
    assert_eq!(wt_status(&h, &sid, &good).await, 404);
    // The ended session's id opens nothing to a token that is not its own.
    let other = key.issue("some-other-session", Mode::Read, Duration::from_secs(3600));
    assert_eq!(status_of(&h, &sid, &other).await, LinkStatus::Invalid);
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

/// The `relay` binary at `--log trace`, what an operator sets to see why a link fails: a
/// WebTransport viewer's link token, which rides in its CONNECT's path, and a WebSocket
/// host's key, in its hello, stay out of the log. wtransport logs a CONNECT's headers at
/// debug, tungstenite every WebSocket frame's payload at trace: the relay keeps both at
/// info unless `--log` names them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_tokens_and_host_keys_stay_out_of_the_relays_trace_log() {
    use cli_share::client::{
        HostOptions, HostTransport, RelayPolicy, connect_host, connect_viewer, discover,
    };
    let key = "host-key-0123456789abcdef";
    let mut command = std::process::Command::new(e2e::lab::workspace_binary("relay").unwrap());
    command
        .args(["--http", "127.0.0.1:0", "--quic", "127.0.0.1:0"])
        .args(["--host-key", key, "--log", "trace"])
        .env_clear();
    let relay = e2e::lab::Watched::spawn("relay", command).unwrap();
    let started = relay.wait_for("relay listening", T).await.unwrap();
    let http = started
        .split_whitespace()
        .find_map(|word| word.strip_prefix("http="))
        .expect("the HTTP address");
    let base = url::Url::parse(http).unwrap();
    let info = within("discovery", discover(&base, &RelayPolicy::default()))
        .await
        .unwrap();

    let hello = protocol::HostHello {
        host_key: Some(key.into()),
        ..hello()
    };
    let options = HostOptions {
        transport: Some(HostTransport::WebSocket),
        ..HostOptions::default()
    };
    let host = within("host", connect_host(&info, &hello, &options))
        .await
        .expect("welcomed");
    let link = host.welcome.links.read.clone();
    let token = link.rsplit_once('#').expect("a token").1.to_owned();
    let keyed = keyed(&link);
    let viewer = connect_viewer(&info, &keyed, ViewerTransport::WebTransport);
    let mut viewer = within("viewer", viewer).await.expect("admitted");
    let welcome = within("welcome", viewer.recv()).await;
    assert!(
        matches!(welcome, Ok(RelayToViewer::Welcome(_))),
        "{welcome:?}"
    );
    // The relay's own line for the join comes after the hello's and the CONNECT's.
    relay.wait_for("viewer joined", T).await.unwrap();

    let log = relay.lines();
    assert!(log.iter().any(|line| line.contains("TRACE")), "a trace log");
    let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
    for (what, secret) in [
        ("link token", &token),
        ("host key", &key.to_owned()),
        ("host key in hex", &hex),
    ] {
        let found: Vec<&String> = log.iter().filter(|line| line.contains(secret)).collect();
        assert!(
            found.is_empty(),
            "the {what} is in the relay's log: {found:#?}"
        );
    }
}
