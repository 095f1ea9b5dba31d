//! One integration-test binary (one link, shared helpers); one module per feature.

mod browser;
mod chat;
mod chat_clients;
mod cli;
mod cluster;
mod echo_raw;
mod engineio_raw;
mod game;
mod game_browser;
mod helpers;
mod http;
mod interop;
mod nginx;
mod notifications;
mod notifications_browser;
mod notifications_clients;
mod notifications_durability;
mod openapi;
mod shutdown;
mod sio;
