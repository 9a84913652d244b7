//! The service around the pipeline: settings, API keys, logs and metrics, the OpenAPI
//! document and the HTTP server. Everything here translates HTTP (or flags and files) into
//! the pipeline's typed requests and back.

pub(crate) mod access;
pub mod config;
pub(crate) mod observability;
mod openapi;
pub mod server;
