//! A user id: the `sub` of a token, the target of a push, part of a URL.

use std::fmt;

/// 1..128 characters, no control characters. Anything else a backend uses as a
/// user id (numbers, emails, UUIDs) fits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

pub const MAX_USER_ID_CHARS: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserIdError {
    #[error("a user id must not be empty")]
    Empty,
    #[error("a user id is at most {MAX_USER_ID_CHARS} characters")]
    TooLong,
    #[error("a user id must not contain control characters")]
    ControlCharacter,
}

impl UserId {
    pub fn parse(value: &str) -> Result<Self, UserIdError> {
        if value.is_empty() {
            return Err(UserIdError::Empty);
        }
        if value.chars().count() > MAX_USER_ID_CHARS {
            return Err(UserIdError::TooLong);
        }
        if value.chars().any(char::is_control) {
            return Err(UserIdError::ControlCharacter);
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_checked() {
        assert_eq!(
            UserId::parse("alice@example.com").unwrap().as_str(),
            "alice@example.com"
        );
        assert_eq!(UserId::parse(""), Err(UserIdError::Empty));
        assert_eq!(UserId::parse("a\nb"), Err(UserIdError::ControlCharacter));
        assert_eq!(UserId::parse(&"x".repeat(129)), Err(UserIdError::TooLong));
        assert!(UserId::parse(&"é".repeat(128)).is_ok());
    }
}
