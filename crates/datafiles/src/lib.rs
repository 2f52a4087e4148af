//! geobatch-datafiles: the data files geobatch reads and writes, apart from the data model so
//! that only what reads them (dataset plugins, the results, the CLI's data commands) depends on
//! them.
//!
//! * [`compressed`]: data files read whatever they are compressed with (gzip, bzip2, xz).
//! * [`lines`]: line numbers of byte offsets, for errors that name the line.
//! * [`atomic`]: files written whole or not at all (`write_atomic`): the one atomic writer.
//! * [`store`]: data stores are never replaced without `--force` (`put_in_place`).

pub mod atomic;
pub mod compressed;
pub mod lines;
pub mod store;
