//! geobatch-datafiles: the data files geobatch reads and writes, apart from the data model so
//! that only what reads them (dataset plugins, the results, the CLI's data commands) depends on
//! them.
//!
//! * [`compressed`]: data files read whatever they are compressed with (gzip, bzip2, xz).
//! * [`lines`]: line numbers of byte offsets, for errors that name the line.
//! * [`atomic`]: files written whole or not at all (`write_atomic`): the one atomic writer.
//! * [`files`]: files a user names opened only when regular; text read whole up to 64 MiB; a
//!   file's content fingerprint.
//! * [`output`]: where a file a user names as an output goes: never an input, never renamed
//!   over what is not a regular file, replaced only when told.
//! * [`pip`]: pinned files downloaded with pip, kept only with their SHA-256.
//! * [`splits`]: splits saved next to the data and read back by graph id.
//! * [`store`]: data stores are never replaced without `--force` (`put_in_place`).

pub mod atomic;
pub mod compressed;
pub mod files;
pub mod lines;
pub mod output;
pub mod parquet_store;
pub mod pip;
pub mod splits;
pub mod store;
