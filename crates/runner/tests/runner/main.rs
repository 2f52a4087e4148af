//! The runner's jobs end to end, in process, on the catalog's plugins: the batching study
//! ([`batches`]), edits of a loaded config ([`edits`]), model selection on the validation split
//! ([`keep_best`]), predictions that are not numbers ([`non_finite`]) and training ([`train`]).
//!
//! One integration-test binary: each is a link of the whole stack (about 15 s on CI's 2 cores).
//! The test-only models `broken-test` and `scripted-test` that [`non_finite`] and [`keep_best`]
//! register are then registered for every module; none of the others lists or iterates the registered models.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod batches;
mod edits;
mod keep_best;
mod non_finite;
mod train;
