//! The runner's jobs end to end, in process, on the catalog's plugins: the batching study
//! ([`batches`]), edits of a loaded config ([`edits`]), predictions that are not numbers
//! ([`non_finite`]) and training ([`train`]).
//!
//! One integration-test binary: each is a link of the whole stack (about 15 s on CI's 2 cores).
//! The test-only model `broken-test` that [`non_finite`] registers is then registered for every
//! module; none of the others lists or iterates the registered models.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod batches;
mod edits;
mod non_finite;
mod train;
