//! LiveKit access tokens: HS256 JWTs whose `iss` names an API key and whose
//! `video` grant says what the bearer may do in which room. Minting and
//! signature checks use the `livekit-api` crate; this module adds key lookup and
//! the per-room reading of the grant with LiveKit's defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use livekit_api::access_token::{AccessToken, AccessTokenError, Claims, TokenVerifier, VideoGrants};

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LiveKitTokenError {
    #[error("the token is not a LiveKit access token")]
    Malformed,
    #[error("the token names an API key this server does not have")]
    UnknownKey,
    #[error("the token's signature, expiry or not-before time is invalid")]
    Invalid,
    #[error("no API key is configured")]
    NoKeys,
    #[error("cannot sign token: {0}")]
    Signing(String),
}

/// What a token allows in one room, with LiveKit's defaults applied
/// (no `can*` set means every publish and subscribe right).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomGrant {
    pub identity: String,
    pub name: String,
    pub can_publish: bool,
    pub can_subscribe: bool,
    pub can_publish_data: bool,
    pub room_admin: bool,
    pub hidden: bool,
    /// Track sources the bearer may publish (`camera`, `microphone`, ...); empty means all.
    pub publish_sources: Vec<String>,
}

impl RoomGrant {
    /// Whether the bearer may publish a track of `source` (e.g. "camera").
    pub fn may_publish_source(&self, source: &str) -> bool {
        self.can_publish && (self.publish_sources.is_empty() || self.publish_sources.iter().any(|s| s.eq_ignore_ascii_case(source)))
    }
}

#[derive(Clone, Debug)]
pub struct LiveKitKeys {
    keys: BTreeMap<String, String>,
}

impl LiveKitKeys {
    pub fn new(keys: BTreeMap<String, String>) -> Self {
        LiveKitKeys { keys }
    }

    /// The key new tokens are signed with (the first configured one).
    pub fn signing_key(&self) -> Option<(&str, &str)> {
        self.keys.iter().next().map(|(k, s)| (k.as_str(), s.as_str()))
    }

    /// The secret of `api_key`, if configured.
    pub fn secret(&self, api_key: &str) -> Option<&str> {
        self.keys.get(api_key).map(String::as_str)
    }

    /// Verifies signature, expiry and not-before against the key the token names.
    pub fn verify(&self, token: &str) -> Result<Claims, LiveKitTokenError> {
        let unverified = Claims::from_unverified(token).map_err(|_| LiveKitTokenError::Malformed)?;
        let secret = self.keys.get(&unverified.iss).ok_or(LiveKitTokenError::UnknownKey)?;
        TokenVerifier::with_api_key(&unverified.iss, secret).verify(token).map_err(|_| LiveKitTokenError::Invalid)
    }

    /// The bearer's rights in `room`, or `None` if the token does not let it join that room.
    pub fn room_grant(&self, token: &str, room: &str) -> Result<Option<RoomGrant>, LiveKitTokenError> {
        let claims = self.verify(token)?;
        Ok(grant_for_room(&claims, room))
    }

    /// Mints a token for `identity` with `grants`, valid for `ttl`.
    pub fn mint(&self, identity: &str, name: &str, grants: VideoGrants, ttl: Duration) -> Result<String, LiveKitTokenError> {
        let (key, secret) = self.signing_key().ok_or(LiveKitTokenError::NoKeys)?;
        AccessToken::with_api_key(key, secret)
            .with_identity(identity)
            .with_name(name)
            .with_grants(grants)
            .with_ttl(ttl)
            .to_jwt()
            .map_err(|e: AccessTokenError| LiveKitTokenError::Signing(e.to_string()))
    }
}

pub fn grant_for_room(claims: &Claims, room: &str) -> Option<RoomGrant> {
    let video = &claims.video;
    if !video.room_join || video.room != room || claims.sub.is_empty() {
        return None;
    }
    Some(RoomGrant {
        identity: claims.sub.clone(),
        name: claims.name.clone(),
        can_publish: video.can_publish(),
        can_subscribe: video.can_subscribe(),
        can_publish_data: video.can_publish_data(),
        room_admin: video.room_admin,
        hidden: video.hidden,
        publish_sources: video.can_publish_sources.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn keys() -> LiveKitKeys {
        LiveKitKeys::new(BTreeMap::from([("APIkey".to_string(), SECRET.to_string())]))
    }

    fn join(room: &str) -> VideoGrants {
        VideoGrants { room_join: true, room: room.into(), ..Default::default() }
    }

    #[test]
    fn a_join_grant_without_can_flags_allows_publish_and_subscribe() {
        let token = keys().mint("ann", "Ann", join("show"), Duration::from_secs(60)).unwrap();
        let grant = keys().room_grant(&token, "show").unwrap().unwrap();
        assert!(grant.can_publish && grant.can_subscribe && grant.can_publish_data);
        assert_eq!(grant.identity, "ann");
    }

    #[test]
    fn a_subscribe_only_grant_cannot_publish() {
        let grants = VideoGrants { can_publish: Some(false), ..join("show") };
        let token = keys().mint("ann", "Ann", grants, Duration::from_secs(60)).unwrap();
        let grant = keys().room_grant(&token, "show").unwrap().unwrap();
        assert!(!grant.can_publish && grant.can_subscribe && !grant.can_publish_data);
    }

    #[test]
    fn a_token_for_another_room_grants_nothing_here() {
        let token = keys().mint("ann", "Ann", join("other"), Duration::from_secs(60)).unwrap();
        assert_eq!(keys().room_grant(&token, "show").unwrap(), None);
    }

    #[test]
    fn a_token_signed_with_another_secret_is_invalid() {
        let forged = LiveKitKeys::new(BTreeMap::from([("APIkey".to_string(), "x".repeat(32))]));
        let token = forged.mint("ann", "Ann", join("show"), Duration::from_secs(60)).unwrap();
        assert_eq!(keys().verify(&token).unwrap_err(), LiveKitTokenError::Invalid);
    }

    #[test]
    fn a_token_naming_an_unknown_key_is_refused() {
        let other = LiveKitKeys::new(BTreeMap::from([("OtherKey".to_string(), SECRET.to_string())]));
        let token = other.mint("ann", "Ann", join("show"), Duration::from_secs(60)).unwrap();
        assert_eq!(keys().verify(&token).unwrap_err(), LiveKitTokenError::UnknownKey);
    }

    #[test]
    fn an_expired_token_is_invalid() {
        let claims = Claims { exp: 1_000, nbf: 0, iss: "APIkey".into(), sub: "ann".into(), video: join("show"), ..Default::default() };
        let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
        let token = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap();
        assert_eq!(keys().verify(&token).unwrap_err(), LiveKitTokenError::Invalid);
    }

    #[test]
    fn publish_sources_restrict_what_may_be_published() {
        let grants = VideoGrants { can_publish_sources: vec!["microphone".into()], ..join("show") };
        let token = keys().mint("ann", "Ann", grants, Duration::from_secs(60)).unwrap();
        let grant = keys().room_grant(&token, "show").unwrap().unwrap();
        assert!(grant.may_publish_source("microphone") && !grant.may_publish_source("camera"));
    }

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(keys().verify("not a token").unwrap_err(), LiveKitTokenError::Malformed);
    }
}
