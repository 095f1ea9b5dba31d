//! Push notifications, the whole feature. The transports are thin shells
//! on it: the `/notifications` namespace (`namespaces::notifications`) and
//! the HTTP push API (`http::api`); the durable inbox is the store's
//! (`store::notifications`), the fan-out to other nodes the cluster's
//! (`cluster::fanout`).
//!
//! - [`auth`]: shared-secret tokens (`switchboard token`, the demo page);
//!   checking any token is [`crate::identity`]'s.
//! - [`credentials`]: API keys, who may push; which token keys apply.
//! - [`service`]: the one push call, [`PushService::push`] -> [`Receipt`],
//!   which counts `online` once.
//! - [`idempotency`]: `Idempotency-Key` parsing, hashing, the claim, the
//!   replay and the hourly purge.
//! - [`hub`]: the live fan-out from the store's writer to the sockets of a
//!   user on this node.
//! - [`delivery`]: one task per socket sends the replay, then the live
//!   stream, in id order, recording delivery receipts.
//! - [`list`]: a page of the inbox, for both transports.
//! - [`wire`]: a notification as clients see it; ids of live-only pushes.

pub mod auth;
pub mod credentials;
pub mod delivery;
pub mod hub;
pub mod idempotency;
pub mod list;
pub mod service;
pub mod wire;

pub use auth::{Claims, Identity, TokenError, TokenVerifier, sign_token, sign_token_with};
pub use credentials::{ApiKeys, Credentials};
pub use hub::Hub;
pub use list::ListRequest;
pub use service::{PushService, Receipt};
pub use wire::{InboxPage, LiveIds, NotificationView};

/// The Socket.IO namespace of live notifications.
pub const NAMESPACE: &str = "/notifications";
