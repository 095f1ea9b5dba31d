//! Ids of stored items as clients see them.

use std::{fmt, str::FromStr};

/// A stored item's id (chat message, notification): the store's row id, shown as a fixed-width decimal string so
/// that ids compare in creation order as strings too (the contract's ids are
/// opaque and sortable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StreamId(pub i64);

const ID_WIDTH: usize = 16;

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:0width$}", self.0, width = ID_WIDTH)
    }
}

impl FromStr for StreamId {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        if s.is_empty() || s.len() > ID_WIDTH || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(());
        }
        s.parse().map(StreamId).map_err(|_| ())
    }
}

impl serde::Serialize for StreamId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
