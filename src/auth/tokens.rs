//! Access tokens (HS256 JWTs, minutes-long) and opaque refresh tokens (random,
//! stored only as SHA-256).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{decode, encode, errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const ISSUER: &str = "streamcart";
const AUDIENCE: &str = "streamcart-api";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// User id.
    pub sub: String,
    /// Session id (refresh-token family); revoking it ends this token too.
    pub sid: String,
    pub iss: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token has expired; refresh it")]
    Expired,
    #[error("the access token is not valid")]
    Invalid,
    #[error("cannot sign token: {0}")]
    Signing(String),
}

#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub access_ttl_secs: u64,
}

impl TokenKeys {
    pub fn new(signing_key: &str, access_ttl_secs: u64) -> Self {
        TokenKeys {
            encoding: EncodingKey::from_secret(signing_key.as_bytes()),
            decoding: DecodingKey::from_secret(signing_key.as_bytes()),
            access_ttl_secs,
        }
    }

    pub fn issue_access(&self, user_id: &str, session_id: &str, now_secs: u64) -> Result<String, TokenError> {
        let claims = AccessClaims {
            sub: user_id.to_string(),
            sid: session_id.to_string(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now_secs,
            exp: now_secs + self.access_ttl_secs,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|e| TokenError::Signing(e.to_string()))
    }

    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        decode::<AccessClaims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

/// 256 random bits, URL-safe: refresh tokens and setup tokens.
pub fn new_opaque_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash_opaque_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new("k".repeat(64).as_str(), 900)
    }

    #[test]
    fn an_issued_token_verifies_to_its_claims() {
        let token = keys().issue_access("u1", "s1", 4_000_000_000).unwrap();
        let claims = keys().verify_access(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.sid.as_str()), ("u1", "s1"));
    }

    #[test]
    fn an_expired_token_is_reported_as_expired() {
        let token = keys().issue_access("u1", "s1", 1_000).unwrap();
        assert_eq!(keys().verify_access(&token), Err(TokenError::Expired));
    }

    /// Signs arbitrary claims with the test key (a token we never issue).
    fn forged(claims: serde_json::Value, algorithm: Algorithm) -> String {
        encode(&Header::new(algorithm), &claims, &EncodingKey::from_secret("k".repeat(64).as_bytes())).unwrap()
    }

    #[test]
    fn a_token_for_another_audience_or_issuer_is_invalid_even_with_our_key() {
        let good = serde_json::json!({"sub": "u1", "sid": "s1", "iss": ISSUER, "aud": AUDIENCE, "iat": 1, "exp": 4_000_000_000u64});
        assert!(keys().verify_access(&forged(good.clone(), Algorithm::HS256)).is_ok(), "the forging helper makes valid tokens");
        for (field, value) in [("aud", "livekit"), ("iss", "someone-else")] {
            let mut claims = good.clone();
            claims[field] = serde_json::json!(value);
            assert_eq!(keys().verify_access(&forged(claims, Algorithm::HS256)), Err(TokenError::Invalid), "{field} = {value}");
        }
        let mut no_audience = good.clone();
        no_audience.as_object_mut().unwrap().remove("aud");
        assert_eq!(keys().verify_access(&forged(no_audience, Algorithm::HS256)), Err(TokenError::Invalid));
    }

    #[test]
    fn only_hs256_is_accepted() {
        let claims = serde_json::json!({"sub": "u1", "sid": "s1", "iss": ISSUER, "aud": AUDIENCE, "iat": 1, "exp": 4_000_000_000u64});
        assert_eq!(keys().verify_access(&forged(claims, Algorithm::HS512)), Err(TokenError::Invalid));
        let unsigned = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#), URL_SAFE_NO_PAD.encode(r#"{"sub":"u1","sid":"s1","iss":"streamcart","aud":"streamcart-api","exp":4000000000}"#));
        assert_eq!(keys().verify_access(&unsigned), Err(TokenError::Invalid));
    }

    #[test]
    fn a_token_signed_with_another_key_is_invalid() {
        let other = TokenKeys::new("x".repeat(64).as_str(), 900);
        let token = other.issue_access("u1", "s1", 4_000_000_000).unwrap();
        assert_eq!(keys().verify_access(&token), Err(TokenError::Invalid));
        assert_eq!(keys().verify_access("not.a.jwt"), Err(TokenError::Invalid));
    }
}
