//! The keys of a share, on the host (`protocol::e2e`): a read secret for every
//! share and a write secret once the user asked for collab, made here and handed out only
//! in the links' fragments. From them, once the relay names the session, the sealer of the
//! screen's frames and the opener of collaborators' input. Input that does not open is
//! refused whatever the relay labelled it, and counted.

use protocol::Links;
use protocol::e2e::{E2eError, FrameSealer, InputOpener, ShareSecrets};

use crate::client::{NetError, ShareUrl};

pub struct ShareKeys {
    secrets: ShareSecrets,
    /// The session the relay named, once it did.
    session_id: Option<String>,
    /// Opens collaborators' input: with a write secret, once the session is named.
    input: Option<InputOpener>,
    refused: u64,
    /// The relay was reached over HTTPS: its links must be `https` too.
    https_only: bool,
}

impl ShareKeys {
    /// Fresh secrets for a new share; a write secret only for `collab`.
    pub fn generate(collab: bool) -> ShareKeys {
        ShareKeys {
            secrets: ShareSecrets::generate(collab),
            session_id: None,
            input: None,
            refused: 0,
            https_only: false,
        }
    }

    /// Keys for a share on the relay at `base`: from an `https` relay, only `https` links
    /// are shown.
    pub fn for_relay(mut self, base: &url::Url) -> ShareKeys {
        self.https_only = base.scheme() == "https";
        self
    }

    /// The user asked for collab (`/share --collab` after a read-only share): a write
    /// secret from now on, so that collaborators' input opens.
    pub fn enable_collab(&mut self) {
        self.secrets.enable_collab();
        self.open_input();
    }

    /// The relay welcomed the share into `session_id`: the sealer of its frames when the
    /// session is new to these keys (`None` on a resume, whose sealer is in use).
    pub fn session(&mut self, session_id: &str) -> Option<FrameSealer> {
        if self.session_id.as_deref() == Some(session_id) {
            return None;
        }
        self.session_id = Some(session_id.to_owned());
        self.input = None;
        self.open_input();
        Some(FrameSealer::new(self.secrets.read(), session_id))
    }

    fn open_input(&mut self) {
        if let (Some(write), Some(session_id), None) =
            (self.secrets.write(), &self.session_id, &self.input)
        {
            self.input = Some(InputOpener::new(write, session_id));
        }
    }

    /// The relay's links with the secrets in their fragments: the read secret in both, the
    /// write secret in the collab link only; no collab link without a write secret. An
    /// error when a link is not a share link of the session the relay named (see
    /// [`ShareUrl::check_handed_out`]): nothing from it may be shown.
    pub fn links(&self, relay: &Links) -> Result<Links, NetError> {
        let links = Links {
            read: self.secrets.read_link(&relay.read),
            collab: relay
                .collab
                .as_deref()
                .and_then(|collab| self.secrets.collab_link(collab)),
        };
        let session_id = self.session_id.as_deref().unwrap_or_default();
        let kinds = [
            ("read-only", Some(&links.read)),
            ("collab", links.collab.as_ref()),
        ];
        for (kind, link) in kinds {
            if let Some(link) = link {
                ShareUrl::check_handed_out(link, session_id, self.https_only).map_err(|why| {
                    NetError::Protocol(format!(
                        "the relay handed out a {kind} link that cannot be shown: {why}"
                    ))
                })?;
            }
        }
        Ok(links)
    }

    /// The keystrokes a collaborator sealed in `sealed`, or why they are refused; a refusal
    /// is counted.
    pub fn open(&mut self, sealed: &[u8]) -> Result<Vec<u8>, E2eError> {
        let opened = match &mut self.input {
            Some(input) => input.open(sealed),
            None => Err(E2eError::LinkKey("this share has no write key")),
        };
        if opened.is_err() {
            self.refused += 1;
        }
        opened
    }

    /// Input messages refused so far.
    pub fn refused(&self) -> u64 {
        self.refused
    }
}

#[cfg(test)]
mod tests {
    use protocol::e2e::{InputSealer, LinkKeys};

    use super::*;

    const SESSION: &str = "share-keys-tests";

    fn relay_links() -> Links {
        Links {
            read: format!("http://r/s/{SESSION}#a.b.c"),
            collab: Some(format!("http://r/s/{SESSION}#d.e.f")),
        }
    }

    fn keys_of(link: &str) -> LinkKeys {
        LinkKeys::split_fragment(link.split_once('#').unwrap().1)
            .unwrap()
            .1
    }

    #[test]
    fn a_read_only_share_refuses_all_input_until_collab_is_asked_for() {
        let mut keys = ShareKeys::generate(false);
        assert!(keys.session(SESSION).is_some());
        let links = keys.links(&relay_links()).unwrap();
        assert!(keys_of(&links.read).write.is_none());
        assert!(links.collab.is_none(), "no collab link without a write key");
        assert!(keys.open(b"ls\r").is_err());

        keys.enable_collab();
        let links = keys.links(&relay_links()).unwrap();
        let write = keys_of(links.collab.as_deref().unwrap()).write.unwrap();
        let mut collaborator = InputSealer::new(&write, SESSION);
        assert_eq!(keys.open(&collaborator.seal(b"ls\r")).unwrap(), b"ls\r");
        assert_eq!(keys.refused(), 1);
    }

    #[test]
    fn input_sealed_without_the_write_key_or_replayed_is_refused_and_counted() {
        let mut keys = ShareKeys::generate(true);
        keys.session(SESSION);
        let links = keys.links(&relay_links()).unwrap();
        let read = keys_of(&links.read).read;
        let mut forger = InputSealer::new(&read, SESSION);
        assert_eq!(
            keys.open(&forger.seal(b"rm -rf ~\r")),
            Err(E2eError::Altered)
        );
        let write = keys_of(links.collab.as_deref().unwrap()).write.unwrap();
        let mut collaborator = InputSealer::new(&write, SESSION);
        let typed = collaborator.seal(b"pwd\r");
        assert!(keys.open(&typed).is_ok());
        assert!(keys.open(&typed).is_err(), "a replay");
        assert!(keys.open(b"plain").is_err());
        assert_eq!(keys.refused(), 3);
    }

    #[test]
    fn links_of_another_session_are_refused_without_showing_them() {
        let mut keys = ShareKeys::generate(true);
        keys.session("another");
        let refused = keys.links(&relay_links()).unwrap_err().to_string();
        assert!(refused.contains("read-only link"), "{refused}");
        assert!(!refused.contains("http://r/"), "{refused}");
        keys.session(SESSION);
        let mut relay = relay_links();
        relay.collab = Some(format!("http://r/s/{SESSION}#d.e.f\x1b]0;x\x07"));
        let refused = keys.links(&relay).unwrap_err().to_string();
        assert!(refused.contains("collab link"), "{refused}");
    }

    #[test]
    fn a_resume_keeps_the_sealer_and_a_new_session_gets_one() {
        let mut keys = ShareKeys::generate(false);
        assert!(keys.session(SESSION).is_some());
        assert!(keys.session(SESSION).is_none(), "resumed");
        assert!(keys.session("another").is_some());
    }
}
