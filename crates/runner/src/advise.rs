//! `geobatch advise` as a runner job ([`job::run`]): the candidates' configs, their probes (short
//! real runs of the config's model), their planned N steps, and the ranked prediction of
//! [`geobatch_advice`] written as `advice.md` and Parquet ([`files`]), checked with
//! validation runs when asked (docs/advise.md).

pub mod files;
pub mod job;
