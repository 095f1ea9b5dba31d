//! The contract's names, checked once at the boundary: room / game / topic ids
//! (`^[A-Za-z0-9_.:-]{1,64}$`) and display names (1..32 characters after
//! trimming, no control characters, no bidirectional controls, not
//! invisible). Also [`check_no_nul`], for free text the store keeps.

use super::EventError;

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

/// Events socket.io-client treats specially: a server that emitted them
/// would confuse it, so no backend (HTTP emit, Redis emitter, Admin UI) may.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Longest event name a backend may emit, in characters.
pub const MAX_EVENT_CHARS: usize = 64;

/// Why a backend's event name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadEventName {
    /// Empty, longer than [`MAX_EVENT_CHARS`], or holding a control character.
    Shape,
    /// One of [`RESERVED_EVENTS`].
    Reserved,
}

/// Checks an event name a backend emits (`POST /api/v1/emit`, the Redis
/// emitter); each caller words the refusal its own way.
pub fn check_event_name(event: &str) -> Result<(), BadEventName> {
    let chars = event.chars().count();
    if !(1..=MAX_EVENT_CHARS).contains(&chars) || event.chars().any(char::is_control) {
        return Err(BadEventName::Shape);
    }
    if RESERVED_EVENTS.contains(&event) {
        return Err(BadEventName::Reserved);
    }
    Ok(())
}

/// A valid display name, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// The name a `join` gives its sender: `fixed` when it is signed in (its
    /// token's name, which whatever the client sent as `name` cannot
    /// override), else the `name` it sent, which must then be a string.
    pub fn of_join(
        fixed: Option<&DisplayName>,
        requested: Option<serde_json::Value>,
    ) -> Result<Self, EventError> {
        match (fixed, requested) {
            (Some(fixed), _) => Ok(fixed.clone()),
            (None, Some(serde_json::Value::String(name))) => Self::parse("name", &name),
            (None, _) => Err(EventError::bad_request(
                "`name` must be a string of 1 to 32 characters",
            )),
        }
    }

    pub fn parse(field: &str, value: &str) -> Result<Self, EventError> {
        let name = value.trim();
        let length = name.chars().count();
        if !(1..=32).contains(&length) || name.chars().any(char::is_control) {
            return Err(EventError::bad_request(format!(
                "`{field}` must be 1 to 32 characters after trimming, without control characters"
            )));
        }
        if name.chars().any(is_bidi_control) {
            return Err(EventError::bad_request(format!(
                "`{field}` must not contain bidirectional control characters \
                 (U+202A..U+202E, U+2066..U+2069, U+200E, U+200F, U+061C)"
            )));
        }
        if name.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
            return Err(EventError::bad_request(format!(
                "`{field}` must contain a visible character (not only spaces or \
                 invisible characters such as U+200B, U+2060, U+FEFF)"
            )));
        }
        Ok(Self(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Refuses a NUL (U+0000) in free text the store keeps: PostgreSQL cannot
/// store one in `text`, so both engines refuse it alike, at the boundary.
pub fn check_no_nul(field: &str, value: &str) -> Result<(), EventError> {
    if value.contains('\0') {
        return Err(EventError::bad_request(format!(
            "`{field}` must not contain NUL (U+0000) characters"
        )));
    }
    Ok(())
}

/// Characters that reorder the text around them (embeddings, overrides,
/// isolates, marks): in a name they make it show as something else.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Characters that show nothing on their own: format characters (zero
/// widths, joiners, word joiner, invisible operators, BOM, tags), variation
/// selectors, fillers and blanks. A name made of these and spaces only
/// looks empty. Inside a name they stay allowed (a ZWJ joins emoji).
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
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
        for bad in ["", "   ", "a\u{7}b", "line\nbreak", "a\0b", &"é".repeat(33)] {
            assert!(DisplayName::parse("name", bad).is_err(), "{bad:?}");
        }
    }

    /// `name` is refused with a message naming the field and `why`.
    fn assert_refused(name: &str, why: &str) {
        let err = DisplayName::parse("name", name).unwrap_err();
        assert!(
            err.message.contains("`name`") && err.message.contains(why),
            "{name:?}: {}",
            err.message
        );
    }

    #[test]
    fn invisible_and_bidi_names_are_refused_naming_the_field() {
        for invisible in [
            "\u{200B}",
            "\u{2060}",
            "\u{FEFF}",
            " \u{200B} \u{200D} ",
            "\u{3164}",
            "\u{2800}\u{2800}",
            "\u{00A0}\u{200B}",
            "\u{FE0F}",
            "\u{E0041}",
        ] {
            assert_refused(invisible, "visible");
        }
        for bidi in [
            "Ada\u{202E}nimda",
            "\u{2066}Bob\u{2069}",
            "x\u{200E}",
            "x\u{200F}",
            "x\u{061C}",
            "\u{202A}x",
        ] {
            assert_refused(bidi, "bidirectional");
        }
        // Joiners and selectors inside a visible name are fine (emoji).
        for ok in ["👩\u{200D}💻", "❤\u{FE0F}", "Zoë", "李小龙", "a\u{200B}b"] {
            assert!(DisplayName::parse("name", ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn nul_is_refused_naming_the_field() {
        assert!(check_no_nul("text", "fine\ttext\n").is_ok());
        let err = check_no_nul("text", "a\0b").unwrap_err();
        assert!(err.message.contains("`text`"), "{}", err.message);
    }
}
