//! Push notifications: who a socket is ([`auth`]), who may push
//! ([`credentials`]), and the live fan-out from the store's writer to each
//! connected socket ([`hub`]). The `/notifications` namespace and the HTTP
//! push API are built on these.

pub mod auth;
pub mod credentials;
pub mod hub;
pub mod list;
pub mod wire;

pub use auth::{Claims, TokenError, TokenVerifier, sign_token};
pub use credentials::{ApiKeys, Credentials};
pub use hub::Hub;
pub use list::ListRequest;
pub use wire::{LiveIds, NotificationView};

/// The Socket.IO namespace of live notifications.
pub const NAMESPACE: &str = "/notifications";
