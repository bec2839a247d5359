//! Accounts and authentication: credential parsing, argon2id password hashing,
//! short-lived access JWTs, opaque refresh tokens and login rate limits.
//! Nothing here knows about HTTP; `api::extract` turns it into extractors.

mod credentials;
mod limiter;
mod password;
mod tokens;

pub use credentials::{CredentialError, DisplayName, Email, Password};
pub use limiter::{LoginLimiter, RateLimitError};
pub use password::{hash_password, verify_password, PasswordError};
pub use tokens::{hash_opaque_token, new_opaque_token, AccessClaims, TokenError, TokenKeys};
