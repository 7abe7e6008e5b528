//! Share links: `<base>/s/<session id>#<token>`. The token rides in the fragment so it never
//! reaches server logs; clients pass it to the relay in a header or the CONNECT query.

use url::Url;

use crate::client::NetError;

/// A parsed share link.
#[derive(Clone)]
pub struct ShareUrl {
    /// The relay's HTTP(S) base, e.g. `https://relay.example`.
    pub base: Url,
    pub session_id: String,
    pub token: String,
}

impl std::fmt::Debug for ShareUrl {
    // The token is a credential: never printed.
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
        let token = url
            .fragment()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| NetError::Url("the link has no #token".into()))?
            .to_owned();
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
            token,
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

    #[test]
    fn links_split_into_base_id_and_token() {
        let link = ShareUrl::parse("http://127.0.0.1:8080/s/abc_-D#x.y.z").unwrap();
        assert_eq!(link.base.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(link.session_id, "abc_-D");
        assert_eq!(link.token, "x.y.z");
        let nested = ShareUrl::parse("https://h/relay/s/id#t").unwrap();
        assert_eq!(nested.base.as_str(), "https://h/relay");
        assert!(ShareUrl::parse("http://h/s/id").is_err());
        assert!(ShareUrl::parse("http://h/x/id#t").is_err());
        assert!(!format!("{link:?}").contains("x.y.z"));
    }
}
