//! Credentials parsed at the edge into newtypes; past this point they are valid.

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("email must look like name@example.com")]
    InvalidEmail,
    #[error("password must be at least {min} characters")]
    PasswordTooShort { min: usize },
    #[error("password must be at most {max} characters")]
    PasswordTooLong { max: usize },
    #[error("display_name must be 1 to {max} characters without control characters")]
    InvalidDisplayName { max: usize },
}

impl CredentialError {
    pub fn code(&self) -> &'static str {
        match self {
            CredentialError::InvalidEmail => "invalid_email",
            CredentialError::PasswordTooShort { .. } => "password_too_short",
            CredentialError::PasswordTooLong { .. } => "password_too_long",
            CredentialError::InvalidDisplayName { .. } => "invalid_display_name",
        }
    }
}

/// A syntactically valid email, trimmed and lower-cased (so lookups are case-insensitive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, CredentialError> {
        let email = raw.trim().to_lowercase();
        let valid = email.len() <= 254
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && matches!(email.split_once('@'), Some((local, domain))
                if !local.is_empty() && local.len() <= 64 && domain.contains('.')
                    && !domain.starts_with('.') && !domain.ends_with('.') && !domain.contains('@'));
        if valid {
            Ok(Email(email))
        } else {
            Err(CredentialError::InvalidEmail)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password of acceptable length (NIST 800-63B: length, not composition rules).
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 256;

    pub fn parse(raw: String) -> Result<Self, CredentialError> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(CredentialError::PasswordTooShort { min: Self::MIN_CHARS });
        }
        if n > Self::MAX_CHARS {
            return Err(CredentialError::PasswordTooLong { max: Self::MAX_CHARS });
        }
        Ok(Password(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, CredentialError> {
        let name = raw.trim();
        let n = name.chars().count();
        if n == 0 || n > Self::MAX_CHARS || name.chars().any(char::is_control) {
            return Err(CredentialError::InvalidDisplayName { max: Self::MAX_CHARS });
        }
        Ok(DisplayName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        assert_eq!(Email::parse("  Ann@Example.COM ").unwrap().as_str(), "ann@example.com");
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in ["", "ann", "ann@", "@example.com", "ann@example", "a b@example.com", "ann@@example.com", "ann@.com"] {
            assert_eq!(Email::parse(bad), Err(CredentialError::InvalidEmail), "{bad:?}");
        }
    }

    #[test]
    fn passwords_shorter_than_ten_characters_are_refused() {
        assert!(matches!(Password::parse("123456789".into()), Err(CredentialError::PasswordTooShort { min: 10 })));
        assert!(Password::parse("correct horse".into()).is_ok());
    }

    #[test]
    fn display_names_must_not_be_blank_or_contain_control_characters() {
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse("a\u{7}b").is_err());
        assert_eq!(DisplayName::parse(" Ann ").unwrap().as_str(), "Ann");
    }
}
