//! The nodes of a relay cluster, as a client follows them: the URL it was given first,
//! then every node the relay's `/api/info` lists, in order. When the node in use stops
//! answering, the client moves on to the next (each is discovered, and checked against
//! the user's policy, like any relay). A relay alone lists none, and nothing changes.
//! A cluster first reached over HTTPS is followed over HTTPS only: whether the share is
//! secure is told the user from the URL they gave, so a listing may not downgrade it.

use url::Url;

use crate::client::RelayInfo;

#[derive(Debug, Clone)]
pub struct Nodes {
    urls: Vec<Url>,
    at: usize,
}

impl Nodes {
    pub fn new(first: Url) -> Nodes {
        Nodes {
            urls: vec![first],
            at: 0,
        }
    }

    /// The node to use now.
    pub fn current(&self) -> &Url {
        &self.urls[self.at]
    }

    /// Remembers the nodes `relay` lists, but plain-HTTP ones after an HTTPS first URL.
    pub fn learn(&mut self, relay: &RelayInfo) {
        let secure = self.urls[0].scheme() == "https";
        for node in &relay.info.nodes {
            let Ok(url) = Url::parse(&node.url) else {
                continue;
            };
            if secure && url.scheme() != "https" {
                tracing::warn!(node = %url, "a node of the cluster not over HTTPS: not followed");
            } else if !self.urls.contains(&url) {
                self.urls.push(url);
            }
        }
    }

    /// Whether there is another node to go to.
    pub fn has_others(&self) -> bool {
        self.urls.len() > 1
    }

    /// Moves on to the next node; false if there is none.
    pub fn advance(&mut self) -> bool {
        if !self.has_others() {
            return false;
        }
        self.at = (self.at + 1) % self.urls.len();
        tracing::info!(node = %self.current(), "trying another node of the relay's cluster");
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ApiInfo, Node, Trust};

    fn listing(urls: &[&str]) -> RelayInfo {
        RelayInfo {
            base: Url::parse(urls[0]).unwrap(),
            info: ApiInfo {
                version: String::new(),
                protocol: protocol::PROTOCOL_VERSION,
                quic: String::new(),
                webtransport: String::new(),
                fingerprints: Vec::new(),
                self_signed: true,
                nodes: urls
                    .iter()
                    .enumerate()
                    .map(|(i, url)| Node {
                        id: i.to_string(),
                        url: (*url).to_owned(),
                    })
                    .collect(),
            },
            trust: Trust::pinned_hex::<&str>(&[]).unwrap(),
        }
    }

    #[test]
    fn nodes_are_tried_in_turn_from_the_first_url() {
        let mut nodes = Nodes::new(Url::parse("https://a.example").unwrap());
        assert!(!nodes.advance(), "a relay alone");
        nodes.learn(&listing(&[
            "https://a.example",
            "https://b.example",
            "not a url",
            "https://c.example",
        ]));
        assert!(nodes.advance());
        assert_eq!(nodes.current().as_str(), "https://b.example/");
        nodes.advance();
        assert_eq!(nodes.current().as_str(), "https://c.example/");
        nodes.advance();
        assert_eq!(nodes.current().as_str(), "https://a.example/");
    }

    #[test]
    fn an_https_cluster_is_never_followed_to_plain_http() {
        let mut nodes = Nodes::new(Url::parse("https://a.example").unwrap());
        nodes.learn(&listing(&["https://a.example", "http://b.example"]));
        assert!(!nodes.has_others(), "the plain-HTTP node is left out");
        let mut plain = Nodes::new(Url::parse("http://127.0.0.1:8080").unwrap());
        plain.learn(&listing(&[
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8081",
        ]));
        assert!(
            plain.has_others(),
            "a plain-HTTP first URL was warned about already"
        );
    }
}
