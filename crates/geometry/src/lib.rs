//! geobatch-geometry: graph sets built from structures, and the geometry that makes their edges.
//!
//! * [`GraphSetBuilder`]: a [`geobatch_core::GraphSet`] built structure by structure, then given
//!   the edges its [`geobatch_core::GraphRule`] makes and its species classes.
//! * [`edges`]: the edges a rule makes in one structure (full, cutoff, kNN, periodic images).
//! * [`neighbors`]: neighbour search in linear time, a cell list for any cell ASE accepts.
//! * [`Crystal`]: crystals from lattice parameters and fractional coordinates.
//! * [`elements`]: element symbols and atomic numbers.
//!
//! Only the code that reads structures (dataset plugins, the Python package, `geobatch predict`)
//! depends on this crate: batchers, models and sinks see finished sets.

pub mod builder;
pub mod crystal;
pub mod edges;
pub mod elements;
pub mod neighbors;
pub mod split_parts;
mod stored;

pub use builder::GraphSetBuilder;
pub use crystal::Crystal;
pub use split_parts::SplitParts;

#[cfg(test)]
mod tests;
