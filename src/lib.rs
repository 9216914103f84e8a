//! Palabre: a federated public-consultation server.
//!
//! The binary (`main.rs`) only parses the command line; everything else lives here so that the
//! tests can start the very same application.
pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod federation;
#[doc(hidden)]
pub mod fuzzing;
pub mod ratelimit;
pub mod render;
pub mod services;
pub mod store;
pub mod telemetry;
pub mod web;

/// reqwest is built without a TLS backend of its own (see STACK.md): install rustls' ring
/// provider once, before any HTTP client is built. Calling it again is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
