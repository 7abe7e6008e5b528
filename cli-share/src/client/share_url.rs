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
    fn a_link_without_keys_is_refused_with_its_cause() {
        let error = ShareUrl::parse("http://h/s/id#x.y.z").unwrap_err();
        assert!(matches!(error, NetError::LinkKey(_)), "{error}");
        assert!(error.to_string().contains("carries no key"), "{error}");
    }
}
