//! Push notifications: who a socket is ([`auth`]), who may push
//! ([`credentials`]), and the live fan-out from the store's writer to each
//! connected socket ([`hub`]). The `/notifications` namespace and the HTTP
//! push API are built on these.

pub mod auth;
pub mod credentials;
pub mod hub;
mod user;
pub mod wire;

pub use auth::{Claims, TokenError, TokenVerifier, sign_token};
pub use credentials::{ApiKeys, Credentials};
pub use hub::Hub;
pub use user::{UserId, UserIdError};
pub use wire::{LiveIds, NotificationView};
