//! The catalog's plugins checked together: every batcher's invariants ([`invariants`]), every
//! plugin's options and registration ([`options`], [`registry`]), and every model's and
//! potential's checks ([`models`]).
//!
//! One integration-test binary: each is a link of every plugin (about 15 s on CI's 2 cores).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod invariants;
mod models;
mod options;
mod registry;
