//! The contract's names, checked once at the boundary: room / game / topic ids
//! (`^[A-Za-z0-9_.:-]{1,64}$`) and display names (1..32 characters after
//! trimming, no control characters).

use super::reply::EventError;

/// A valid room, game or topic id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(String);

impl RoomId {
    pub fn parse(field: &str, value: &str) -> Result<Self, EventError> {
        let valid = (1..=64).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
        if !valid {
            return Err(EventError::bad_request(format!(
                "`{field}` must be 1 to 64 characters from A-Z a-z 0-9 _ . : -"
            )));
        }
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A valid display name, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(field: &str, value: &str) -> Result<Self, EventError> {
        let name = value.trim();
        let length = name.chars().count();
        if !(1..=32).contains(&length) || name.chars().any(char::is_control) {
            return Err(EventError::bad_request(format!(
                "`{field}` must be 1 to 32 characters after trimming, without control characters"
            )));
        }
        Ok(Self(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids() {
        for ok in ["a", "lobby", "team-1.chat:main_2", &"x".repeat(64)] {
            assert!(RoomId::parse("room", ok).is_ok(), "{ok}");
        }
        for bad in ["", "has space", "é", "a/b", &"x".repeat(65)] {
            let err = RoomId::parse("room", bad).unwrap_err();
            assert!(err.message.contains("`room`"), "{bad}: {}", err.message);
        }
    }

    #[test]
    fn display_names() {
        assert_eq!(
            DisplayName::parse("name", "  Ada  ").unwrap().as_str(),
            "Ada"
        );
        assert!(DisplayName::parse("name", &"é".repeat(32)).is_ok());
        for bad in ["", "   ", "a\u{7}b", "line\nbreak", &"é".repeat(33)] {
            assert!(DisplayName::parse("name", bad).is_err(), "{bad:?}");
        }
    }
}
