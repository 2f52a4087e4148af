//! `geobatch data fetch aflow`: pages through an AFLUX query for the study's fields (spec §4.2)
//! into `data/aflow/aflow.jsonl`.
//!
//! Pages are appended to `aflow.jsonl.part`; after each page a state file records the next page
//! and the part file's length, so an interrupted fetch resumes where it stopped (a half-written
//! page is cut off). Every page is validated (JSON, one of AFLUX's answer shapes, objects with an
//! `auid` or `aurl`) before it is kept. The finished file is renamed into place.
//!
//! A server that ignores the paging (a page larger than asked, or a page of records already
//! fetched), an answer with no records at all, and a resume with another page size or address
//! than the fetch under way (or with an unreadable state, or a part file shorter than its state
//! records) stop with an error: never a loop, a silently discarded part file or an empty
//! dataset. A store already at `aflow.jsonl` is replaced only with `--force`
//! (`geobatch_datafiles::store`, the rule of every import and fetch).

use crate::reader::records_of;
use geobatch_core::registry::FetchArgs;
use geobatch_core::{Error, Result};
use geobatch_datafiles::store::{self, Placed};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// AFLOW's AFLUX endpoint.
pub const DEFAULT_URL: &str = "https://aflow.org/API/aflux/v1.0/";
/// The study's keywords (`scripts/data/get_aflow_csv.py`).
pub const FIELDS: &str = "enthalpy_formation_atom(*),Egap(*),Egap_type(*),dft_type(*),ldau_type(*),energy_cutoff(*),energy_atom(*),density(*),geometry,positions_fractional,compound";
/// Records per page unless told otherwise.
pub const DEFAULT_PAGE_SIZE: usize = 10_000;

/// Progress of a fetch, saved after every page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FetchState {
    /// The endpoint.
    pub url: String,
    /// Records per page.
    pub page_size: usize,
    /// Next page to ask for (AFLUX pages count from 1).
    pub next_page: usize,
    /// Length of the part file after the last complete page.
    pub bytes: u64,
    /// Records kept so far.
    pub records: usize,
}

/// The request for one page.
pub fn page_url(base: &str, page: usize, size: usize) -> String {
    format!("{base}?{FIELDS},$paging({page},{size})")
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::invalid(format!("{}: {e}", path.display()))
}

fn get(agent: &ureq::Agent, url: &str) -> Result<String> {
    let mut resp = agent
        .get(url)
        .call()
        .map_err(|e| Error::invalid(format!("GET {url}: {e}")))?;
    resp.body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .map_err(|e| Error::invalid(format!("GET {url}: reading the answer: {e}")))
}

/// One page's records as JSON lines with their keys, after checking them.
fn page_lines(body: &str, url: &str) -> Result<Vec<(String, String)>> {
    let value: serde_json::Value = serde_json::from_str(body).map_err(|e| {
        Error::invalid(format!(
            "{url}: the answer is not JSON ({e}); the page is not kept, run again to retry"
        ))
    })?;
    let records = records_of(value, url)?;
    records
        .iter()
        .map(|r| {
            let Some(key) = r.dedup_key() else {
                return Err(Error::invalid(format!(
                    "{}: record without auid or aurl; the page is not kept",
                    r.origin
                )));
            };
            let line =
                serde_json::to_string(&r.fields).map_err(|e| Error::invalid(e.to_string()))?;
            Ok((key, line))
        })
        .collect()
}

/// How to replace a store that is already there.
const HOW: &str = "`geobatch data fetch aflow --force` fetches again and replaces it once the new \
               fetch is complete";

/// The files of one fetch: the store, the part file its pages are appended to and the state file.
struct Files {
    out: PathBuf,
    part: PathBuf,
    state_file: PathBuf,
}

/// What the pages fetched so far left: the progress, the keys of the records kept and the part
/// file, open at its end.
struct Kept {
    state: FetchState,
    seen: HashSet<String>,
    file: BufWriter<File>,
}

/// One fetch: its arguments, its files and the query's address and page size.
struct Fetch<'a> {
    args: &'a FetchArgs,
    files: Files,
    url: String,
    page_size: usize,
}

/// Fetches (or resumes fetching) the AFLUX query into `<data_dir>/aflow/aflow.jsonl`.
pub fn fetch(args: &FetchArgs) -> Result<String> {
    let f = Fetch::new(args);
    if let Some(done) = f.check_store()? {
        return Ok(done);
    }
    if let Some(dir) = f.files.out.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let kept_bytes = std::fs::metadata(&f.files.part).map_or(0, |m| m.len());
    let saved = f.saved_state(kept_bytes)?;
    let state = f.state_to_resume(saved, kept_bytes)?;
    let resumed = state.next_page > 1;
    let seen = if resumed {
        f.kept_keys(state.bytes)?
    } else {
        HashSet::new()
    };
    let file = f.open_part(state.bytes)?;
    let mut kept = Kept { state, seen, file };
    if let Some(stopped) = f.fetch_pages(&mut kept)? {
        return Ok(stopped);
    }
    let Kept { state, file, .. } = kept;
    drop(file);
    f.finish(&state, resumed)
}

impl<'a> Fetch<'a> {
    /// The fetch `args` ask for, with the default address and page size filled in.
    fn new(args: &'a FetchArgs) -> Self {
        let out = args.data_dir.join(crate::DEFAULT_FILE);
        let files = Files {
            part: out.with_extension("jsonl.part"),
            state_file: out.with_extension("fetch.json"),
            out,
        };
        Fetch {
            args,
            files,
            url: args.url.clone().unwrap_or_else(|| DEFAULT_URL.to_string()),
            page_size: args.page_size.unwrap_or(DEFAULT_PAGE_SIZE).max(1),
        }
    }

    /// A store already in place: `Some` report when there is nothing to do, an error when a
    /// fetch under way would replace it unasked; `None` when the fetch goes on.
    fn check_store(&self) -> Result<Option<String>> {
        let Files {
            out,
            part,
            state_file,
        } = &self.files;
        if out.exists() && !self.args.force {
            if !part.is_file() {
                return Ok(Some(format!(
                    "{} exists: nothing to do ({HOW})",
                    out.display()
                )));
            }
            // a fetch under way would rename its pages over the store when it completes
            return Err(store::refusal(
                out,
                &format!(
                    "exists, and the fetch under way in {} would replace it when complete",
                    part.display()
                ),
                &format!(
                    "add --force to finish that fetch and replace the store, or delete {} and {} to \
                     keep the store",
                    part.display(),
                    state_file.display()
                ),
            ));
        }
        Ok(None)
    }

    /// The state saved beside a part file of `kept_bytes` bytes, if any.
    fn saved_state(&self, kept_bytes: u64) -> Result<Option<FetchState>> {
        let Files {
            part, state_file, ..
        } = &self.files;
        Ok(match std::fs::read_to_string(state_file) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            // without a state the part file holds no page recorded as complete
            _ if kept_bytes == 0 => None,
            Err(e) => return Err(unreadable_state(state_file, part, &e.to_string())),
            Ok(t) => Some(
                serde_json::from_str(&t)
                    .map_err(|e| unreadable_state(state_file, part, &e.to_string()))?,
            ),
        })
    }

    /// The state to go on from: the saved one when it is this fetch's, else a fresh start.
    /// A fetch under way with other settings, and a part file shorter than its state records,
    /// are refused.
    fn state_to_resume(&self, saved: Option<FetchState>, kept_bytes: u64) -> Result<FetchState> {
        let Files {
            part, state_file, ..
        } = &self.files;
        let (url, page_size) = (&self.url, self.page_size);
        let state = match saved {
            Some(s) if s.url == *url && s.page_size == page_size && part.is_file() => s,
            // a fetch under way with other settings: its pages are not thrown away unasked
            Some(s) if part.is_file() && s.records > 0 => {
                return Err(Error::Refused(format!(
                    "{} holds a fetch under way from {} with page size {} ({} records in {} pages): \
                     resume it with the same --url and --page-size, or delete {} and {} to start over",
                    part.display(),
                    s.url,
                    s.page_size,
                    s.records,
                    s.next_page - 1,
                    part.display(),
                    state_file.display()
                )));
            }
            _ => FetchState {
                url: url.clone(),
                page_size,
                next_page: 1,
                bytes: 0,
                records: 0,
            },
        };
        if state.bytes > kept_bytes {
            // zeros would fill the gap: a part file changed outside the fetch is not resumed
            return Err(Error::Refused(format!(
                "{}: {kept_bytes} bytes, but the fetch under way recorded {} bytes of complete pages \
                 in {}: the file was changed outside the fetch; delete both to start over",
                part.display(),
                state.bytes,
                state_file.display()
            )));
        }
        Ok(state)
    }

    /// The keys of the records in the part file's first `bytes` bytes (its complete pages).
    fn kept_keys(&self, bytes: u64) -> Result<HashSet<String>> {
        let part = &self.files.part;
        // the keys of the records kept so far: a page of records already fetched means the server
        // ignores the paging and would be fetched forever
        let mut seen: HashSet<String> = HashSet::new();
        let kept = std::fs::read_to_string(part).map_err(io(part))?;
        let kept = kept.get(..bytes as usize).unwrap_or(&kept);
        for (key, _) in page_lines(
            &format!("[{}]", kept.lines().collect::<Vec<_>>().join(",")),
            &part.display().to_string(),
        )? {
            seen.insert(key);
        }
        Ok(seen)
    }

    /// The part file cut to its first `bytes` bytes and open for appending.
    fn open_part(&self, bytes: u64) -> Result<BufWriter<File>> {
        let part = &self.files.part;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(part)
            .map_err(io(part))?;
        file.set_len(bytes).map_err(io(part))?; // drop a half-written page
        let mut file = BufWriter::new(file);
        use std::io::Seek;
        file.seek(std::io::SeekFrom::End(0)).map_err(io(part))?;
        Ok(file)
    }

    /// Fetches and keeps pages until a short page ends the query (`None`) or `--max-pages` pages
    /// were fetched (`Some` report).
    fn fetch_pages(&self, kept: &mut Kept) -> Result<Option<String>> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .into();
        let bar = if self.args.progress {
            indicatif::ProgressBar::new_spinner()
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_message(format!("AFLUX pages from {}", self.url));
        let mut pages = 0usize;
        loop {
            if self.args.max_pages.is_some_and(|m| pages >= m) {
                bar.finish_and_clear();
                return Ok(Some(format!(
                    "stopped after {pages} pages as asked: {} records so far in {}; run again to continue",
                    kept.state.records,
                    self.files.part.display()
                )));
            }
            let lines = self.page(&agent, kept)?;
            self.keep_page(kept, &lines)?;
            pages += 1;
            bar.set_message(format!(
                "page {} ({} records)",
                kept.state.next_page - 1,
                kept.state.records
            ));
            bar.tick();
            if lines.len() < self.page_size {
                break;
            }
        }
        bar.finish_and_clear();
        Ok(None)
    }

    /// The next page's records, refused when the server ignores the paging (a page larger than
    /// asked, or one of records already kept).
    fn page(&self, agent: &ureq::Agent, kept: &Kept) -> Result<Vec<(String, String)>> {
        let page_size = self.page_size;
        let page_url = page_url(&self.url, kept.state.next_page, page_size);
        let body = get(agent, &page_url)?;
        let lines = page_lines(&body, &page_url)?;
        if lines.len() > page_size {
            return Err(Error::invalid(format!(
                "{page_url}: {} records in a page of {page_size}: the server ignores the paging \
                 ($paging); the page is not kept",
                lines.len()
            )));
        }
        if !lines.is_empty() && lines.iter().all(|(key, _)| kept.seen.contains(key)) {
            return Err(Error::invalid(format!(
                "{page_url}: every record of this page was fetched before (page {} repeats an \
                 earlier one): the server ignores the paging; stopped instead of fetching forever",
                kept.state.next_page
            )));
        }
        Ok(lines)
    }

    /// Appends a page to the part file and saves the state that records it as complete.
    fn keep_page(&self, kept: &mut Kept, lines: &[(String, String)]) -> Result<()> {
        let part = &self.files.part;
        for (key, l) in lines {
            writeln!(kept.file, "{l}").map_err(io(part))?;
            kept.seen.insert(key.clone());
        }
        kept.file.flush().map_err(io(part))?;
        kept.state.bytes = kept.file.get_ref().metadata().map_err(io(part))?.len();
        kept.state.records += lines.len();
        kept.state.next_page += 1;
        save_state(&self.files.state_file, &kept.state)
    }

    /// Puts the complete part file in place of the store (none is written for a query without
    /// records) and reports what was fetched.
    fn finish(&self, state: &FetchState, resumed: bool) -> Result<String> {
        let Files {
            out,
            part,
            state_file,
        } = &self.files;
        if state.records == 0 {
            let _ = std::fs::remove_file(part);
            let _ = std::fs::remove_file(state_file);
            return Err(Error::invalid(format!(
                "{}: the server answered with no records at all; nothing is written (check --url)",
                page_url(&self.url, 1, self.page_size)
            )));
        }
        let placed = store::put_in_place(part, out, self.args.force, HOW)?;
        let _ = std::fs::remove_file(state_file);
        Ok(format!(
            "fetched {} AFLOW records in {} pages{} into {}{}",
            state.records,
            state.next_page - 1,
            if resumed { " (resumed)" } else { "" },
            out.display(),
            match placed {
                Placed::New => "",
                Placed::Same => " (the same records as the store there: left as it is)",
                Placed::Replaced => " (the store that was there is replaced, as --force asked)",
            }
        ))
    }
}

/// A state file that cannot be read beside a part file of pages: resuming would discard them.
fn unreadable_state(state_file: &Path, part: &Path, why: &str) -> Error {
    Error::Refused(format!(
        "{}: cannot be read ({why}), so the pages in {} cannot be resumed: delete both to start \
         over",
        state_file.display(),
        part.display()
    ))
}

fn save_state(path: &Path, state: &FetchState) -> Result<()> {
    let text = serde_json::to_string(state).map_err(|e| Error::invalid(e.to_string()))?;
    geobatch_datafiles::atomic::write_atomic(path, |f| {
        std::io::Write::write_all(f, text.as_bytes())
    })
    .map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_asks_for_the_study_fields_page_by_page() {
        let u = page_url("http://h/API/aflux/v1.0/", 3, 500);
        assert!(u.starts_with("http://h/API/aflux/v1.0/?enthalpy_formation_atom(*),Egap(*)"));
        assert!(u.ends_with("geometry,positions_fractional,compound,$paging(3,500)"));
    }

    #[test]
    fn pages_are_validated() {
        assert!(page_lines("[{\"auid\": \"a\"}]", "u").is_ok());
        assert!(page_lines("{\"1 of 2\": {\"aurl\": \"x\"}}", "u").is_ok());
        let e = page_lines("[{\"Egap\": 1}]", "u").unwrap_err().to_string();
        assert!(e.contains("without auid or aurl"), "{e}");
        let e = page_lines("<html>", "u").unwrap_err().to_string();
        assert!(e.contains("not JSON"), "{e}");
    }
}
