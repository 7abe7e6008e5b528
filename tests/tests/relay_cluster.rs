//! A relay cluster on a real redis-server: three nodes in this process, a QUIC host on the
//! first, viewers over WebSocket and WebTransport on all three. Every viewer gets the same
//! frames whatever node it is on, late joiners anywhere get the current screen, a collab
//! viewer on another node types into the host, the host counts every node's viewers, and
//! the owner publishes each frame once whatever the number of viewers. Redis restarting or
//! stopping loses no session, nor does a node record lapsing for a moment.

mod cluster_support;

use cli_share::client::{NetError, ViewerLink, ViewerTransport};
use cluster_support::*;
use protocol::{Mode, RelayToHost, RelayToViewer, ViewerCount};

/// Receives the host's messages until a count of `total` viewers.
async fn host_counts(host: &mut cli_share::client::HostConnection, total: u32) {
    within("the host's count", async {
        loop {
            match host.receiver.recv().await.expect("host link") {
                RelayToHost::ViewerJoined { viewers, .. }
                | RelayToHost::ViewerLeft { viewers, .. }
                    if viewers.total() == total =>
                {
                    return;
                }
                _ => {}
            }
        }
    })
    .await
}

/// The head of the answer to a WebSocket upgrade of `path`.
async fn upgrade(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0; 4096];
    let n = tcp.read(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

/// The next `n` frames of `viewer`.
async fn frames(viewer: &mut ViewerLink, n: usize) -> Vec<bytes::Bytes> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        got.push(next_frame(viewer).await);
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_on_every_node_get_the_same_frames_and_a_collab_viewer_types_into_the_host() {
    let cluster = Cluster::start(&["a", "b", "c"]).await;
    let (a, b, c) = (cluster.node(0), cluster.node(1), cluster.node(2));
    let mut host = a.host().await;
    let read = host.welcome.links.read.clone();
    let collab = host.welcome.links.collab.clone().expect("a collab link");
    // The links name node A; viewers reach the others with the same token.
    let on = |node: &Harness, link: &str| {
        let (_, rest) = link.split_once("/s/").unwrap();
        format!("http://{}/s/{rest}", node.relay.http_addr())
    };
    let mut viewers = vec![
        a.joined(&read, ViewerTransport::WebSocket).await,
        b.joined(&on(b, &read), ViewerTransport::WebSocket).await,
        b.joined(&on(b, &read), ViewerTransport::WebTransport).await,
        c.joined(&on(c, &read), ViewerTransport::WebTransport).await,
    ];
    let mut typist = c.joined(&on(c, &collab), ViewerTransport::WebSocket).await;
    host_counts(&mut host, 5).await;

    let sent: Vec<_> = (0..40u64)
        .map(|seq| frame(seq, seq % 10 == 0, format!("screen {seq}").as_bytes()))
        .collect();
    for bytes in &sent {
        host.sender.send_raw(bytes.clone()).await.unwrap();
    }
    for viewer in viewers.iter_mut().chain([&mut typist]) {
        assert_eq!(
            frames(viewer, sent.len()).await,
            sent,
            "{:?}",
            viewer.transport
        );
    }

    // Late joiners on every node get the current screen at once: the last keyframe and
    // the diffs after it, the same on every node.
    for node in [a, b, c] {
        let mut late = node
            .joined(&on(node, &read), ViewerTransport::WebSocket)
            .await;
        assert_eq!(frames(&mut late, 10).await, sent[30..]);
        viewers.push(late);
    }

    // The collab viewer on C types into the host on A, tagged collab.
    typist.sender.send_input(b"ls\r").await.unwrap();
    let typed = within("the input", async {
        loop {
            if let RelayToHost::ViewerInput { mode, data, .. } = host.receiver.recv().await.unwrap()
            {
                return (mode, data);
            }
        }
    })
    .await;
    assert_eq!(typed, (Mode::Collab, b"ls\r".to_vec()));
    // A read-only viewer's input on B goes nowhere.
    viewers[1].sender.send_input(b"rm -rf /\r").await.unwrap();
    wait_metric(b, "relay_read_only_inputs_dropped_total", |n| n == 1).await;

    // Every viewer, on every node, is told the count of all of them.
    let count = recv_until(&mut viewers[3], "the count", |m| match m {
        RelayToViewer::Viewers(count) if count.total() == 8 => Some(*count),
        _ => None,
    })
    .await;
    assert_eq!(count, ViewerCount { read: 7, collab: 1 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_publishes_each_frame_once_whatever_the_number_of_viewers() {
    let cluster = Cluster::start(&["a", "b", "c"]).await;
    let (a, b, c) = (cluster.node(0), cluster.node(1), cluster.node(2));
    let mut host = a.host().await;
    let (_, rest) = host.welcome.links.read.split_once("/s/").unwrap();
    let mut viewers = Vec::new();
    for (node, n) in [(b, 3), (c, 2)] {
        let link = format!("http://{}/s/{rest}", node.relay.http_addr());
        for i in 0..n {
            let transport = match i % 2 {
                0 => ViewerTransport::WebSocket,
                _ => ViewerTransport::WebTransport,
            };
            viewers.push(node.joined(&link, transport).await);
        }
    }
    host_counts(&mut host, 5).await;
    // Nothing was published before the frames (the snapshots held none).
    assert_eq!(
        metric(&a.metrics().await, "relay_cluster_frames_published_total"),
        0
    );
    let n = 100u64;
    for seq in 0..n {
        host.sender
            .send_raw(frame(seq, seq == 0, b"a frame"))
            .await
            .unwrap();
    }
    for viewer in &mut viewers {
        frames(viewer, n as usize).await;
    }
    assert_eq!(
        metric(&a.metrics().await, "relay_cluster_frames_published_total"),
        n
    );
    for node in [b, c] {
        assert_eq!(
            metric(&node.metrics().await, "relay_cluster_frames_received_total"),
            n
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_mid_session_loses_no_session() {
    let mut cluster = Cluster::start(&["a", "b", "c"]).await;
    let mut host = cluster.node(0).host().await;
    let (_, rest) = host.welcome.links.read.split_once("/s/").unwrap();
    let link_on = |node: &Harness| format!("http://{}/s/{rest}", node.relay.http_addr());
    let mut on_b = cluster
        .node(1)
        .joined(&link_on(cluster.node(1)), ViewerTransport::WebSocket)
        .await;
    host.sender
        .send_raw(frame(0, true, b"before"))
        .await
        .unwrap();
    assert_eq!(next_frame(&mut on_b).await, frame(0, true, b"before"));

    // Restarted without persistence: every key and subscription is gone.
    cluster.redis.restart().await.expect("redis restarts");
    for seq in 1..=3 {
        host.sender
            .send_raw(frame(seq, seq == 3, b"after"))
            .await
            .unwrap();
    }
    // B's viewer sees the host away while its subscription is down, then the screen
    // again: the keyframe the owner sends it in a snapshot.
    recv_until(&mut on_b, "the screen after the restart", |m| match m {
        RelayToViewer::Frame(f) if f.payload == b"after" && f.keyframe => Some(()),
        _ => None,
    })
    .await;
    // The owner wrote its ownership again: a viewer on C finds the session.
    let mut on_c = within("a viewer on C", async {
        loop {
            match cluster
                .node(2)
                .viewer(&link_on(cluster.node(2)), ViewerTransport::WebSocket)
                .await
            {
                Ok(mut viewer) => {
                    if let Ok(RelayToViewer::Welcome(_)) = viewer.recv().await {
                        return viewer;
                    }
                }
                Err(NetError::NotFound | NetError::Busy(_)) => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await; // retry pace
                }
                Err(other) => panic!("viewer on C: {other}"),
            }
        }
    })
    .await;
    assert_eq!(next_frame(&mut on_c).await, frame(3, true, b"after"));
    host.sender
        .send_raw(frame(4, false, b"live"))
        .await
        .unwrap();
    assert_eq!(next_frame(&mut on_c).await, frame(4, false, b"live"));
    assert_eq!(next_frame(&mut on_b).await, frame(4, false, b"live"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_stopped_local_sessions_keep_working_and_others_are_told_to_retry() {
    let Cluster { mut redis, nodes } = Cluster::start(&["a", "b"]).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let mut host = a.host().await;
    let mut viewer = a
        .joined(&host.welcome.links.read, ViewerTransport::WebTransport)
        .await;
    redis.stop().await.expect("redis stops");

    // The session whose host and viewers share a node goes on.
    host.sender
        .send_raw(frame(0, true, b"still here"))
        .await
        .unwrap();
    assert_eq!(next_frame(&mut viewer).await, frame(0, true, b"still here"));
    // A new session starts, and its viewers on the same node see it.
    let mut second = a.host().await;
    second
        .sender
        .send_raw(frame(0, true, b"new"))
        .await
        .unwrap();
    let mut local = a
        .joined(&second.welcome.links.read, ViewerTransport::WebSocket)
        .await;
    assert_eq!(next_frame(&mut local).await, frame(0, true, b"new"));

    // A viewer on another node cannot be told where the session is: 503, retry.
    let (_, rest) = second.welcome.links.read.split_once("/s/").unwrap();
    let on_b = format!("http://{}/s/{rest}", b.relay.http_addr());
    match b.viewer(&on_b, ViewerTransport::WebSocket).await {
        Err(NetError::Busy(why)) => assert!(why.contains("503"), "{why}"),
        other => panic!("expected 503, got {:?}", other.map(|v| v.transport)),
    }
    let token = rest.split_once('#').unwrap().1;
    let path = format!("/ws/sessions/{}?token={token}", second.welcome.session_id);
    let answer = within("the refusal", upgrade(b.relay.http_addr(), &path)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_lowercase().contains("retry-after: 2\r\n"),
        "{answer}"
    );
    assert!(metric(&b.metrics().await, "relay_cluster_unavailable_total") >= 1);
    // Its status cannot be told either: 503, not a "no such session" that would stop a page.
    let status = format!("/api/sessions/{}/status", second.welcome.session_id);
    let (code, body) = b.post(&status, token).await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("\"unavailable\""), "{body}");

    // Redis back (empty): ownership is written again and B's viewer gets in.
    redis.restart().await.expect("redis starts again");
    let mut remote = within("the viewer on B", async {
        loop {
            if let Ok(mut viewer) = b.viewer(&on_b, ViewerTransport::WebSocket).await
                && let Ok(RelayToViewer::Welcome(_)) = viewer.recv().await
            {
                return viewer;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await; // retry pace
        }
    })
    .await;
    assert_eq!(next_frame(&mut remote).await, frame(0, true, b"new"));
    second.sender.send_raw(frame(1, false, b"d")).await.unwrap();
    assert_eq!(next_frame(&mut remote).await, frame(1, false, b"d"));
    assert_eq!(next_frame(&mut local).await, frame(1, false, b"d"));
}

/// A node's status endpoint's answer for `token`: (HTTP status, JSON).
async fn status_on(node: &Harness, sid: &str, token: &str) -> (u16, serde_json::Value) {
    let (code, body) = node
        .post(&format!("/api/sessions/{sid}/status"), token)
        .await;
    (code, serde_json::from_str(&body).expect("JSON"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_tells_a_link_s_status_live_on_another_node_or_ended() {
    let cluster = Cluster::start(&["a", "b", "c"]).await;
    let (a, b, c) = (cluster.node(0), cluster.node(1), cluster.node(2));
    let host = a.host().await;
    let sid = host.welcome.session_id.clone();
    let read = host.welcome.links.read.clone();
    let token = read.split_once('#').unwrap().1.to_owned();
    let (_, rest) = read.split_once("/s/").unwrap();
    let mut on_b = b
        .joined(
            &format!("http://{}/s/{rest}", b.relay.http_addr()),
            ViewerTransport::WebSocket,
        )
        .await;

    // A has the session, B a replica, C nothing but Redis: all three say it is live.
    for (node, host_online) in [
        (a, true.into()),
        (b, true.into()),
        (c, serde_json::Value::Null),
    ] {
        let (code, answer) = status_on(node, &sid, &token).await;
        assert_eq!((code, &answer["status"]), (200, &"live".into()), "{answer}");
        assert_eq!(answer["host_online"], host_online, "{answer}");
    }
    // Pages served by one node ask the node they use: the answer is readable cross-origin.
    let head = raw_request(
        c.relay.http_addr(),
        "POST",
        &format!("/api/sessions/{sid}/status"),
        &token,
    )
    .await;
    assert!(
        head.to_lowercase()
            .contains("access-control-allow-origin: *\r\n"),
        "{head}"
    );
    let nowhere = "AAAAAAAAAAAAAAAAAAAAAA";
    let unknown =
        c.relay
            .token_key()
            .issue(nowhere, Mode::Read, std::time::Duration::from_secs(60));
    assert_eq!(status_on(c, nowhere, &unknown).await.0, 404);

    // The host leaves: A remembers, B heard it from A, C reads the tombstone in Redis.
    let before = std::time::SystemTime::now() - std::time::Duration::from_secs(1);
    host.sender.bye("done").await.expect("goodbye");
    recv_until(&mut on_b, "the end", |message| {
        matches!(message, RelayToViewer::Ended { .. }).then_some(())
    })
    .await;
    let unix =
        |at: std::time::SystemTime| at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    for node in [a, b, c] {
        // The tombstone is written just after the viewers are told.
        let answer = within("the session ended", async {
            loop {
                let (code, answer) = status_on(node, &sid, &token).await;
                if code == 410 {
                    return answer;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await; // poll interval
            }
        })
        .await;
        assert_eq!(answer["reason"], "host_ended", "{answer}");
        let at = answer["ended_at"].as_u64().expect("ended_at");
        assert!(
            at >= unix(before) && at <= unix(std::time::SystemTime::now()),
            "{answer}"
        );
    }
}

/// A node with another JWT secret is reported, and not listed for clients to fail over to:
/// it would refuse their links and host tokens.
#[tokio::test]
async fn a_node_with_another_jwt_secret_is_reported_and_not_listed() {
    let redis = e2e::redis::RedisServer::start().await.unwrap();
    let a = start(node_config(&redis, "a")).await;
    let b = start(RelayConfig {
        jwt_secret: Some(b"another secret, not the cluster's".to_vec()),
        ..node_config(&redis, "b")
    })
    .await;
    for node in [&a, &b] {
        wait_metric(node, "relay_cluster_nodes_with_other_secret", |n| n == 1).await;
        // Ephemeral certificates differ from node to node, and are reported too.
        wait_metric(node, "relay_cluster_nodes_with_other_certificate", |n| {
            n == 1
        })
        .await;
    }
    assert_eq!(listed(&a).await, ["a"]);
    assert_eq!(listed(&b).await, ["b"]);
}

/// The ids of the nodes a node lists in `/api/info`.
async fn listed(node: &Harness) -> Vec<String> {
    let (_, info) = node.get("/api/info").await;
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    info["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Keeps node `id`'s record out of Redis until `until` completes, as a record lapses whose
/// heartbeat is late (Redis slow, the node busy): the node's Redis user loses `SET`, so
/// its heartbeats are refused, and the record is deleted; then its next heartbeat writes
/// the record again. Returns `until`'s output.
async fn lapsing<F: std::future::Future>(cluster: &Cluster, id: &str, until: F) -> F::Output {
    let mut redis = redis_connection(cluster).await;
    let set = |rule: &str| redis::cmd("ACL").arg("SETUSER").arg(id).arg(rule).clone();
    set("-set").query_async::<()>(&mut redis).await.unwrap();
    redis::cmd("DEL")
        .arg(format!("share:node:{id}"))
        .query_async::<()>(&mut redis)
        .await
        .unwrap();
    let output = until.await;
    set("+set").query_async::<()>(&mut redis).await.unwrap();
    output
}

/// Two nodes, a host on A that sent a keyframe, and a viewer on B that got it.
async fn a_host_on_a_watched_on_b() -> (Cluster, cli_share::client::HostConnection, ViewerLink) {
    let cluster = Cluster::start(&["a", "b"]).await;
    let mut host = cluster.node(0).host().await;
    let (_, rest) = host.welcome.links.read.split_once("/s/").unwrap();
    let link = format!("http://{}/s/{rest}", cluster.node(1).relay.http_addr());
    let mut on_b = cluster
        .node(1)
        .joined(&link, ViewerTransport::WebSocket)
        .await;
    host_counts(&mut host, 1).await;
    host.sender.send_raw(frame(0, true, b"k")).await.unwrap();
    assert_eq!(next_frame(&mut on_b).await, frame(0, true, b"k"));
    (cluster, host, on_b)
}

/// B's node record lapses for a moment, its subscription up: A forgets B's viewer, and
/// publishes nothing for B. B reminds A of its viewer: A counts it again, and B gets what
/// it missed and what follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_node_record_lapsed_for_a_moment_gets_the_frames_again() {
    let (cluster, mut host, mut on_b) = a_host_on_a_watched_on_b().await;
    lapsing(&cluster, "b", host_counts(&mut host, 0)).await;
    host.sender
        .send_raw(frame(1, false, b"while forgotten"))
        .await
        .unwrap();
    host_counts(&mut host, 1).await;
    host.sender
        .send_raw(frame(2, false, b"after"))
        .await
        .unwrap();
    let got = within("frame 2 on B", async {
        let mut got = Vec::new();
        while got.last() != Some(&frame(2, false, b"after")) {
            got.push(next_frame(&mut on_b).await);
        }
        got
    })
    .await;
    let missed = got
        .iter()
        .position(|f| *f == frame(1, false, b"while forgotten"));
    assert!(missed.is_some(), "B's viewer never got frame 1: {got:?}");
}

/// A's node record lapses for a moment, A and its host never went anywhere: B's viewer is
/// told the host is away, then back, and gets the frames that follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_owner_s_record_lapsed_for_a_moment_shows_the_host_back() {
    let (cluster, mut host, mut on_b) = a_host_on_a_watched_on_b().await;
    let away = recv_until(&mut on_b, "the host away", |m| {
        matches!(m, RelayToViewer::HostAway).then_some(())
    });
    lapsing(&cluster, "a", away).await;
    recv_until(&mut on_b, "the host back", |m| {
        matches!(m, RelayToViewer::HostBack).then_some(())
    })
    .await;
    host.sender.send_raw(frame(1, false, b"d")).await.unwrap();
    recv_until(&mut on_b, "frame 1", |m| {
        matches!(m, RelayToViewer::Frame(f) if f.seq == 1).then_some(())
    })
    .await;
}

/// A connection to the cluster's Redis, for writing as something that is not a node.
async fn redis_connection(cluster: &Cluster) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(cluster.redis.url()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

/// Polls Redis until `ok` holds for the value at `key`.
async fn wait_value(
    redis: &mut redis::aio::MultiplexedConnection,
    key: &str,
    ok: impl Fn(Option<&str>) -> bool,
) {
    within(key, async {
        loop {
            let value: Option<String> =
                redis::cmd("GET").arg(key).query_async(redis).await.unwrap();
            if ok(value.as_deref()) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await; // poll interval, not synchronisation
        }
    })
    .await
}

/// Whoever writes to Redis without being a node (nodes sign with a key derived from their
/// JWT secret) cannot list a node of its own, where clients would take their tokens, nor
/// feed frames to another node's viewers: a node record copied under another id and URL is
/// not listed, a message over the largest update is dropped unread, and a frame update with
/// the next stamp but another update's signature does not reach the viewer, whose next
/// frame is the host's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_no_node_signed_in_redis_is_ignored() {
    use futures::StreamExt;

    let (cluster, host, mut on_b) = a_host_on_a_watched_on_b().await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let mut redis = redis_connection(&cluster).await;
    let channel = format!("share:session:{}", host.welcome.session_id);
    let mut subscriber = redis::Client::open(cluster.redis.url())
        .unwrap()
        .get_async_pubsub()
        .await
        .unwrap();
    subscriber.subscribe(&channel).await.unwrap();
    let mut host = host;
    host.sender.send_raw(frame(1, false, b"one")).await.unwrap();
    let published = within("frame 1 in Redis", subscriber.on_message().next())
        .await
        .unwrap()
        .get_payload_bytes()
        .to_vec();
    assert_eq!(next_frame(&mut on_b).await, frame(1, false, b"one"));

    // The update's header is (stamp: (owner, term, n), update); `Frame` is variant 0.
    let (body, signature) = published.split_at(published.len() - 32);
    let len = u32::from_be_bytes(body[..4].try_into().unwrap()) as usize;
    let ((owner, term, n), variant): ((String, u64, u64), u32) =
        protocol::decode(&body[4..4 + len]).unwrap();
    assert_eq!((owner.as_str(), variant), ("a", 0));
    let header = protocol::encode(&((owner, term, n + 1), 0u32)).unwrap();
    let mut forged = (header.len() as u32).to_be_bytes().to_vec();
    forged.extend_from_slice(&header);
    forged.extend_from_slice(&frame(2, false, b"forged"));
    forged.extend_from_slice(signature);
    // Over the largest update: dropped as malformed, before any signature is computed.
    let before = b.metrics().await;
    let (malformed_before, forged_before) = (
        metric(&before, "relay_cluster_malformed_total"),
        metric(&before, "relay_cluster_forged_total"),
    );
    let _: i64 = redis::cmd("PUBLISH")
        .arg(&channel)
        .arg(vec![0u8; 17 * 1024 * 1024])
        .query_async(&mut redis)
        .await
        .unwrap();
    wait_metric(b, "relay_cluster_malformed_total", |n| n > malformed_before).await;
    assert_eq!(
        metric(&b.metrics().await, "relay_cluster_forged_total"),
        forged_before
    );

    let _: i64 = redis::cmd("PUBLISH")
        .arg(&channel)
        .arg(forged)
        .query_async(&mut redis)
        .await
        .unwrap();
    wait_metric(b, "relay_cluster_forged_total", |n| n > forged_before).await;
    host.sender
        .send_raw(frame(2, false, b"real"))
        .await
        .unwrap();
    assert_eq!(next_frame(&mut on_b).await, frame(2, false, b"real"));

    // A's record, signature and all, under another id and URL.
    let record: String = redis::cmd("GET")
        .arg("share:node:a")
        .query_async(&mut redis)
        .await
        .unwrap();
    let (signature, json) = record.split_once(' ').unwrap();
    let mut json: serde_json::Value = serde_json::from_str(json).unwrap();
    json["id"] = "evil".into();
    json["url"] = "https://relay.evil.example".into();
    let forged_before = metric(&a.metrics().await, "relay_cluster_forged_total");
    let _: () = redis::pipe()
        .cmd("SET")
        .arg("share:node:evil")
        .arg(format!("{signature} {json}"))
        .arg("EX")
        .arg(60)
        .ignore()
        .cmd("SADD")
        .arg("share:nodes")
        .arg("evil")
        .ignore()
        .query_async(&mut redis)
        .await
        .unwrap();
    wait_metric(a, "relay_cluster_forged_total", |n| n > forged_before).await;
    assert_eq!(listed(a).await, ["a", "b"]);
    assert_eq!(metric(&a.metrics().await, "relay_cluster_nodes"), 2);
}

/// A forged owner (naming another node) and a forged tombstone for a live session: the
/// owner rewrites its key, another node still finds the session live there, and the host
/// resumes it (the forged tombstone is deleted), where they would have moved and ended it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_owners_and_tombstones_neither_take_nor_end_a_session() {
    let cluster = Cluster::start(&["a", "b"]).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let host = a.host().await;
    let sid = host.welcome.session_id.clone();
    let read = host.welcome.links.read.clone();
    let token = read.split_once('#').unwrap().1.to_owned();
    let mut redis = redis_connection(&cluster).await;
    let (owner_key, ended_key) = (format!("share:owner:{sid}"), format!("share:ended:{sid}"));
    let no_signature = "0".repeat(64);
    let forged_owner = format!("{no_signature} b 7");
    let forged_tombstone = format!("{no_signature} 1700000000 host_ended");
    let _: () = redis::pipe()
        .cmd("SET")
        .arg(&owner_key)
        .arg(&forged_owner)
        .ignore()
        .cmd("SET")
        .arg(&ended_key)
        .arg(&forged_tombstone)
        .ignore()
        .query_async(&mut redis)
        .await
        .unwrap();
    // "<signature> a <term>": A's own value again.
    wait_value(&mut redis, &owner_key, |v| {
        v.is_some_and(|v| v != forged_owner && v.contains(" a "))
    })
    .await;
    let (code, answer) = status_on(b, &sid, &token).await;
    assert_eq!((code, &answer["status"]), (200, &"live".into()), "{answer}");

    let welcome = host.welcome.clone();
    host.sender.abort();
    let back = a
        .host_with(&protocol::HostHello {
            resume: Some(welcome.host_token.clone()),
            ..hello()
        })
        .await
        .expect("resumed");
    assert!(back.welcome.resumed);
    assert_eq!(back.welcome.session_id, sid);
    wait_value(&mut redis, &ended_key, |v| v.is_none()).await;
    assert!(metric(&a.metrics().await, "relay_cluster_forged_total") >= 2);
}
