//! Golden vectors of the sealed formats (`vectors/sealed.json`): frames and input sealed
//! with fixed secrets, epochs, senders and nonces, and the link fragment that carries the
//! secrets. The browser opens and seals the same bytes with WebCrypto
//! (`relay/viewer/test/seal.test.mjs`). Regenerate deliberately with
//! `UPDATE_VECTORS=1 cargo test -p protocol --test sealed`.

use std::path::PathBuf;

use protocol::e2e::{FrameOpener, FrameSealer, InputOpener, InputSealer, LinkKeys, ShareSecrets};
use serde_json::{Value, json};

const SESSION: &str = "00112233445566778899aabbccddeeff";
const READ: [u8; 32] = [0x11; 32];
const WRITE: [u8; 32] = [0x22; 32];
const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzaWQiOiIwMCJ9.c2ln";

fn frame_vector(name: &str, epoch: u32, seq: u64, keyframe: bool, plaintext: &[u8]) -> Value {
    let sealed = FrameSealer::with_epoch(&READ, SESSION, epoch)
        .seal(seq, keyframe, plaintext)
        .expect("first seal");
    json!({
        "name": name,
        "kind": "frame",
        "secret": hex::encode(READ),
        "session_id": SESSION,
        "seq": seq,
        "keyframe": keyframe,
        "plaintext": hex::encode(plaintext),
        "sealed": hex::encode(sealed),
    })
}

fn input_vectors() -> Vec<Value> {
    let mut sealer = InputSealer::with_sender(&WRITE, SESSION, 0x0102_0304_0506_0708);
    [(b"ls -l\r".as_slice(), [0x33; 12]), (b"\x1b[A", [0x44; 12])]
        .into_iter()
        .enumerate()
        .map(|(i, (input, nonce))| {
            json!({
                "name": format!("input_{}", i + 1),
                "kind": "input",
                "secret": hex::encode(WRITE),
                "session_id": SESSION,
                "sender": "0102030405060708",
                "counter": i + 1,
                "nonce": hex::encode(nonce),
                "plaintext": hex::encode(input),
                "sealed": hex::encode(sealer.seal_with_nonce(input, nonce)),
            })
        })
        .collect()
}

fn vectors() -> Value {
    let secrets = ShareSecrets::from_bytes(READ, Some(WRITE));
    let relay_link = format!("https://relay.example/s/{SESSION}#{TOKEN}");
    let mut all = vec![
        frame_vector("keyframe", 0x0102_0304, 42, true, b"\x01keyframe bytes"),
        frame_vector("diff", 0xfedc_ba98, 43, false, b"\x00diff"),
        // The largest seq the browser handles (its u64s are numbers up to 2^53 - 1).
        frame_vector("empty", 7, (1 << 53) - 1, false, b""),
    ];
    all.extend(input_vectors());
    all.push(json!({
        "name": "links",
        "kind": "links",
        "relay_link": relay_link,
        "token": TOKEN,
        "read": secrets.read_link(&relay_link),
        "collab": secrets.collab_link(&relay_link),
        "read_secret": hex::encode(READ),
        "write_secret": hex::encode(WRITE),
    }));
    Value::Array(all)
}

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/sealed.json")
}

#[test]
fn sealed_formats_match_the_vectors() {
    let current = serde_json::to_string_pretty(&vectors()).expect("json") + "\n";
    if std::env::var_os("UPDATE_VECTORS").is_some() {
        std::fs::write(path(), &current).expect("write vectors");
        return;
    }
    let stored = std::fs::read_to_string(path()).expect("sealed.json is checked in");
    assert_eq!(
        stored, current,
        "a sealed format changed: if deliberate, run UPDATE_VECTORS=1 cargo test -p protocol --test sealed"
    );
}

fn bytes(vector: &Value, field: &str) -> Vec<u8> {
    hex::decode(vector[field].as_str().expect(field)).expect("hex")
}

#[test]
fn stored_vectors_open_to_their_plaintext() {
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(path()).expect("read")).expect("json");
    let mut input = InputOpener::new(&WRITE, SESSION);
    for vector in stored.as_array().expect("array") {
        match vector["kind"].as_str() {
            Some("frame") => {
                let opener = FrameOpener::new(&READ, SESSION);
                let seq = vector["seq"].as_u64().expect("seq");
                let keyframe = vector["keyframe"].as_bool().expect("keyframe");
                let plain = opener
                    .open(seq, keyframe, &bytes(vector, "sealed"))
                    .expect("opens");
                assert_eq!(plain, bytes(vector, "plaintext"));
            }
            Some("input") => {
                let plain = input.open(&bytes(vector, "sealed")).expect("opens");
                assert_eq!(plain, bytes(vector, "plaintext"));
            }
            Some("links") => {
                for (link, write) in [("read", false), ("collab", true)] {
                    let link = vector[link].as_str().expect("link");
                    let fragment = link.split_once('#').expect("fragment").1;
                    let (token, keys) = LinkKeys::split_fragment(fragment).expect("keys");
                    assert_eq!(token, TOKEN);
                    assert_eq!(keys.read, READ);
                    assert_eq!(keys.write.is_some(), write);
                }
            }
            other => panic!("unknown vector kind {other:?}"),
        }
    }
}
