//! Share links: `<base>/s/<session id>#<token>.<read>[.<write>]`. The fragment never
//! reaches a server: the relay gets the token (its own part) from clients in a header or the
//! CONNECT query, and never sees the share's secrets after it (`protocol::e2e`).

use protocol::e2e::LinkKeys;
use url::Url;

use crate::client::NetError;

/// A parsed share link.
#[derive(Clone)]
pub struct ShareUrl {
    /// The relay's HTTP(S) base, e.g. `https://relay.example`.
    pub base: Url,
    pub session_id: String,
    /// The relay's token: all the relay ever gets of the fragment.
    pub token: String,
    /// The share's secrets: the frames' read secret, and a collab link's write secret.
    pub keys: LinkKeys,
}

impl std::fmt::Debug for ShareUrl {
    // The token and the keys are credentials: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShareUrl")
            .field("base", &self.base.as_str())
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

impl ShareUrl {
    pub fn parse(link: &str) -> Result<ShareUrl, NetError> {
        let url = Url::parse(link).map_err(|e| NetError::Url(e.to_string()))?;
        let fragment = url
            .fragment()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| NetError::Url("the link has no #token".into()))?;
        let (token, keys) = LinkKeys::split_fragment(fragment).map_err(NetError::LinkKey)?;
        let segments: Vec<&str> = url.path_segments().map(|s| s.collect()).unwrap_or_default();
        let (prefix, id) = match segments.as_slice() {
            [prefix @ .., "s", id] if !id.is_empty() => (prefix.join("/"), (*id).to_owned()),
            _ => return Err(NetError::Url("expected <base>/s/<id>#<token>".into())),
        };
        let mut base = url.clone();
        base.set_fragment(None);
        base.set_query(None);
        base.set_path(&prefix);
        Ok(ShareUrl {
            base,
            session_id: id,
            token: token.to_owned(),
            keys,
        })
    }

    /// Checks a link the relay handed out for session `session_id` (its keys appended)
    /// before the host shows it: an `http(s)` share link of that session (`https` only from
    /// a relay reached over HTTPS: `https_only`), with no control character, blank or user
    /// name in it. A hostile relay could otherwise put escape sequences on the user's
    /// terminal, hand out a link to another session, a plain-HTTP link whose page anyone
    /// on the path could rewrite to read the keys, or one that looks like the relay's
    /// (`https://relay.example@evil.example/...`). The error names neither the link nor
    /// its keys.
    pub fn check_handed_out(link: &str, session_id: &str, https_only: bool) -> Result<(), String> {
        if link.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("it holds control characters or blanks".into());
        }
        let parsed = ShareUrl::parse(link).map_err(|_| "it is not a share link".to_owned())?;
        match parsed.base.scheme() {
            "https" => {}
            "http" if https_only => {
                return Err("it is a plain http:// link from a relay reached over https://".into());
            }
            "http" => {}
            _ => return Err("it is not an http(s) link".into()),
        }
        if !parsed.base.username().is_empty() || parsed.base.password().is_some() {
            return Err("it names a user before the relay's host".into());
        }
        if parsed.session_id != session_id {
            return Err("it opens another session".into());
        }
        Ok(())
    }

    /// The same base with `path` (absolute, e.g. `/api/info`) appended.
    pub(crate) fn endpoint(base: &Url, path: &str) -> Result<Url, NetError> {
        let joined = format!("{}{path}", base.as_str().trim_end_matches('/'));
        Url::parse(&joined).map_err(|e| NetError::Url(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use protocol::e2e::ShareSecrets;

    #[test]
    fn links_split_into_base_id_token_and_keys() {
        let secrets = ShareSecrets::generate(true);
        let collab = secrets
            .collab_link("http://127.0.0.1:8080/s/abc_-D#x.y.z")
            .unwrap();
        let link = ShareUrl::parse(&collab).unwrap();
        assert_eq!(link.base.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(link.session_id, "abc_-D");
        assert_eq!(link.token, "x.y.z");
        assert_eq!(&link.keys.read, secrets.read());
        assert_eq!(link.keys.write.as_ref(), secrets.write());
        let nested = ShareUrl::parse(&secrets.read_link("https://h/relay/s/id#t.u.v")).unwrap();
        assert_eq!(nested.base.as_str(), "https://h/relay");
        assert!(nested.keys.write.is_none());
        assert!(ShareUrl::parse("http://h/s/id").is_err());
        assert!(ShareUrl::parse(&secrets.read_link("http://h/x/id#t.u.v")).is_err());
        let shown = format!("{link:?}");
        assert!(!shown.contains("x.y.z") && !shown.contains(&collab[collab.len() - 20..]));
    }

    #[test]
    fn only_share_links_of_the_session_are_handed_out() {
        let keyed = |relay_link: &str| ShareSecrets::generate(false).read_link(relay_link);
        let good = keyed("https://relay.example/s/abc#x.y.z");
        assert_eq!(ShareUrl::check_handed_out(&good, "abc", true), Ok(()));
        // A plain-HTTP relay (the embedded one, or one allowed with --insecure) hands out
        // plain-HTTP links.
        let plain = keyed("http://127.0.0.1:8080/s/abc#x.y.z");
        assert_eq!(ShareUrl::check_handed_out(&plain, "abc", false), Ok(()));
        assert!(
            ShareUrl::check_handed_out(&plain, "abc", true)
                .unwrap_err()
                .contains("plain http:// link from a relay reached over https://")
        );
        for (link, session, why) in [
            (
                keyed("\x1b]52;c;aGk=\x07https://relay.example/s/abc#x.y.z"),
                "abc",
                "control",
            ),
            (
                keyed("https://relay.example/s/abc#x.y.z\u{9b}2J"),
                "abc",
                "control",
            ),
            (
                keyed("https://relay.example/s/abc#x.y.z evil"),
                "abc",
                "blanks",
            ),
            (
                keyed("https://relay.example/s/other#x.y.z"),
                "abc",
                "another session",
            ),
            (
                keyed("javascript:alert(1)//s/abc#x.y.z"),
                "abc",
                "not a share link",
            ),
            (keyed("ftp://relay.example/s/abc#x.y.z"), "abc", "http(s)"),
            (
                keyed("https://relay.example@evil.example/s/abc#x.y.z"),
                "abc",
                "names a user",
            ),
            (
                keyed("https://relay.example:pw@evil.example/s/abc#x.y.z"),
                "abc",
                "names a user",
            ),
            (
                "https://relay.example/s/abc#x.y.z".to_owned(),
                "abc",
                "not a share link",
            ),
        ] {
            let refused = ShareUrl::check_handed_out(&link, session, false).unwrap_err();
            assert!(refused.contains(why), "{refused}");
        }
    }

    #[test]
    fn a_link_without_keys_is_refused_with_its_cause() {
        let error = ShareUrl::parse("http://h/s/id#x.y.z").unwrap_err();
        assert!(matches!(error, NetError::LinkKey(_)), "{error}");
        assert!(error.to_string().contains("carries no key"), "{error}");
    }
}
