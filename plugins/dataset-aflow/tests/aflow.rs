//! The `aflow` dataset on the committed fixture (records written by hand in AFLOW's formats), on
//! the real AFLOW records in `../shared/data/crystals` when present, and `fetch` against a
//! loopback HTTP server serving recorded pages.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::registry::FetchArgs;
use geobatch_core::{DatasetContext, DatasetSpec, SplitName};
use geobatch_dataset_aflow::{AflowSpec, fetch};
use geobatch_testkit::edges;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture() -> PathBuf {
    repo().join("data/fixtures/aflow-sample.jsonl")
}

fn shared() -> Option<PathBuf> {
    geobatch_testkit::shared_data(&repo().join("../shared/data/crystals/aflow_samples"))
}

fn spec(path: &Path, f: impl FnOnce(&mut AflowSpec)) -> AflowSpec {
    let mut s = AflowSpec {
        path: Some(path.to_path_buf()),
        // all graphs in the training split, so tests can look them up by id
        split: toml::from_str("train = 1.0\nvalidation = 0.0\ntest = 0.0").unwrap(),
        ..AflowSpec::default()
    };
    f(&mut s);
    s
}

fn ctx(dir: &Path) -> DatasetContext {
    DatasetContext {
        seed: 42,
        data_dir: dir.to_path_buf(),
    }
}

#[test]
fn fixture_loads_with_every_skip_counted() {
    let dir = tempfile::tempdir().unwrap();
    let ds = spec(&fixture(), |_| {}).load(&ctx(dir.path())).unwrap();
    let train = ds.split(SplitName::Train);
    // 9 records: 1 duplicate aurl, 1 without Ef -> 7 kept (LiO2 is PAW_GGA, kept without filter)
    assert_eq!(train.len(), 7);
    let src = ds.source();
    assert!(src.contains("9 records read, 7 kept"), "{src}");
    assert!(
        src.contains("1 duplicate aurl") && src.contains("1 without Ef"),
        "{src}"
    );
    assert_eq!(ds.target_units(), vec!["eV/atom".to_string()]);
    // element classes in first-seen order: Cl, Na, Cs, Si, B, N, Li, O, Mg, F
    assert_eq!(ds.species_classes(), &[17, 11, 55, 14, 5, 7, 3, 8, 12, 9]);
    // the legacy string record and the JSON Lines legacy page read like typed ones
    let bn = edges::graph_index(train, "aflow:fixture-004").unwrap();
    assert_eq!(train.targets(bn), &[-1.2]);
    let lif = edges::graph_index(train, "aflow:fixture-009").unwrap();
    assert_eq!(train.targets(lif), &[-3.1]);

    // filters: dft_type and target range
    let ds = spec(&fixture(), |s| {
        s.dft_type = Some("PAW_PBE".into());
        s.target_range = Some([-2.5, 0.5]);
    })
    .load(&ctx(dir.path()))
    .unwrap();
    let src = ds.source();
    assert!(
        src.contains("1 other dft_type") && src.contains("2 outside target_range"),
        "{src}"
    );
    assert_eq!(ds.split(SplitName::Train).len(), 4);

    // Egap as the target: the record without Ef now counts
    let ds = spec(&fixture(), |s| s.targets = vec!["Egap".into()])
        .load(&ctx(dir.path()))
        .unwrap();
    assert_eq!(ds.split(SplitName::Train).len(), 8);
    assert_eq!(ds.target_units(), vec!["eV".to_string()]);
}

#[test]
fn knn_graphs_of_the_fixture_match_hand_calculations() {
    let dir = tempfile::tempdir().unwrap();
    let ds = spec(&fixture(), |_| {}).load(&ctx(dir.path())).unwrap();
    let train = ds.split(SplitName::Train);
    for g in 0..train.len() {
        assert!(
            edges::in_degrees(train, g).iter().all(|&d| d == 12),
            "{}",
            train.id(g)
        );
    }
    // CsCl, a = 4.12: 8 unlike neighbours at a sqrt(3)/2 = 3.5680, then 4 of the 6 own images at a
    let g = edges::graph_index(train, "aflow:fixture-002").unwrap();
    let mut d: Vec<f64> = edges::of(train, g)
        .iter()
        .filter(|e| e.0 == 0)
        .map(|e| e.2)
        .collect();
    d.sort_by(f64::total_cmp);
    assert!(
        d[..8]
            .iter()
            .all(|x| (x - 4.12 * 3f64.sqrt() / 2.0).abs() < 1e-4),
        "{d:?}"
    );
    assert!(d[8..].iter().all(|x| (x - 4.12).abs() < 1e-4), "{d:?}");
    // rock salt from the fcc primitive cell (a_prim = 3.988 = a_conv / sqrt 2): 6 unlike
    // neighbours at a_conv / 2 = 2.8199, then 6 of the 12 like ones at a_prim = 3.988
    let g = edges::graph_index(train, "aflow:fixture-001").unwrap();
    let mut d: Vec<f64> = edges::of(train, g)
        .iter()
        .filter(|e| e.0 == 1)
        .map(|e| e.2)
        .collect();
    d.sort_by(f64::total_cmp);
    let half = 3.988 * 2f64.sqrt() / 2.0;
    assert!(d[..6].iter().all(|x| (x - half).abs() < 1e-4), "{d:?}");
    assert!(d[6..].iter().all(|x| (x - 3.988).abs() < 1e-4), "{d:?}");
}

#[test]
fn bad_records_are_named_or_skipped_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    let good = std::fs::read_to_string(fixture()).unwrap();
    let mut text = good.lines().next().unwrap().to_string();
    text.push('\n');
    text.push_str(r#"{"auid": "aflow:broken", "compound": "Na1Cl1", "geometry": [4, 4, 90, 90, 90], "positions_fractional": [[0,0,0],[0.5,0.5,0.5]], "enthalpy_formation_atom": -1}"#);
    text.push('\n');
    text.push_str(r#"{"auid": "aflow:nopos", "compound": "Na1Cl1", "geometry": [4, 4, 4, 90, 90, 90], "enthalpy_formation_atom": -1}"#);
    text.push('\n');
    std::fs::write(&bad, &text).unwrap();
    let err = spec(&bad, |_| {})
        .load(&ctx(dir.path()))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("aflow:broken") && err.contains("bad.jsonl:2") && err.contains("six numbers"),
        "{err}"
    );
    let ds = spec(&bad, |s| s.skip_bad = true)
        .load(&ctx(dir.path()))
        .unwrap();
    assert!(ds.source().contains("2 bad structure"), "{}", ds.source());
    assert_eq!(ds.split(SplitName::Train).len(), 1);
    // a target that is there but not a number is an error, not "without Ef"
    std::fs::write(
        &bad,
        format!(
            "{}\n{}\n",
            good.lines().next().unwrap(),
            r#"{"auid": "aflow:text", "compound": "Na1Cl1", "geometry": [4, 4, 4, 90, 90, 90], "positions_fractional": [[0,0,0],[0.5,0.5,0.5]], "enthalpy_formation_atom": "abc"}"#
        ),
    )
    .unwrap();
    let err = spec(&bad, |_| {})
        .load(&ctx(dir.path()))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("aflow:text")
            && err.contains("bad.jsonl:2")
            && err.contains("enthalpy_formation_atom is \"abc\", not a finite number"),
        "{err}"
    );
    // a line that is not JSON names the file and line
    std::fs::write(
        &bad,
        format!("{}\n{{not json\n", good.lines().next().unwrap()),
    )
    .unwrap();
    let err = spec(&bad, |_| {})
        .load(&ctx(dir.path()))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("bad.jsonl:2") && err.contains("not JSON"),
        "{err}"
    );
    // a missing file says how to get data
    let err = spec(&dir.path().join("none.jsonl"), |_| {})
        .load(&ctx(dir.path()))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("geobatch data fetch aflow"), "{err}");
}

#[test]
fn real_aflow_records_from_the_shared_data() {
    let Some(folder) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    // six aflowlib.json entries and two legacy AFLUX pages (20 entries each, no structures)
    let ds = spec(&folder, |_| {}).load(&ctx(dir.path())).unwrap();
    let src = ds.source();
    // Ef is missing in LIB3 and in every legacy entry
    assert!(src.contains("46 records read, 5 kept"), "{src}");
    assert!(src.contains("41 without Ef"), "{src}");
    let train = ds.split(SplitName::Train);
    let ac = edges::graph_index(train, "aflow:fc70fda6652015cb").unwrap();
    assert_eq!(train.targets(ac), &[-2.13553]);
    assert_eq!(train.sizes()[ac].nodes, 8);
    // LIB1: fcc Ac in its primitive cell (a = b = c = 3.995793, angles 60): the 12 nearest
    // neighbours all lie at the primitive vector length
    let lib1 = (0..train.len())
        .find(|&g| train.sizes()[g].nodes == 1)
        .unwrap();
    let d: Vec<f64> = edges::of(train, lib1).iter().map(|e| e.2).collect();
    assert_eq!(d.len(), 12);
    assert!(d.iter().all(|x| (x - 3.995793).abs() < 1e-4), "{d:?}");
    // Egap as target: the legacy entries have it but no structure: a clear error, or counted
    let err = spec(&folder, |s| s.targets = vec!["Egap".into()])
        .load(&ctx(dir.path()))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("no geometry") && err.contains("1 of 912"),
        "{err}"
    );
    let ds = spec(&folder, |s| {
        s.targets = vec!["Egap".into()];
        s.skip_bad = true;
    })
    .load(&ctx(dir.path()))
    .unwrap();
    assert!(ds.source().contains("40 bad structure"), "{}", ds.source());
}

/// A loopback HTTP server answering AFLUX page requests from `pages` (page n -> pages[n-1],
/// past the end an empty list); `fail_once` pages answer 500 the first time. Returns the address
/// and the log of requested pages.
fn serve(pages: Vec<String>, fail_once: Vec<usize>) -> (String, Arc<Mutex<Vec<usize>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}/API/aflux/v1.0/", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    std::thread::spawn(move || {
        let mut failed = Vec::new();
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
            let page: usize = path
                .rsplit_once("$paging(")
                .or_else(|| path.rsplit_once("%24paging("))
                .and_then(|(_, rest)| rest.split(',').next())
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            seen.lock().unwrap().push(page);
            let (status, body) = if fail_once.contains(&page) && !failed.contains(&page) {
                failed.push(page);
                ("500 Internal Server Error", "busy".to_string())
            } else {
                (
                    "200 OK",
                    pages
                        .get(page.wrapping_sub(1))
                        .cloned()
                        .unwrap_or_else(|| "[]".into()),
                )
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, log)
}

#[test]
fn fetch_pages_resumes_after_a_failure_and_loads() {
    // recorded pages: the fixture's typed records, two per page, as AFLUX lists; the last page
    // is a legacy answer
    let lines: Vec<String> = std::fs::read_to_string(fixture())
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"auid\": \"aflow:fixture-00") && !l.starts_with("{\"1 of"))
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 7);
    let mut pages: Vec<String> = lines
        .chunks(2)
        .map(|c| format!("[{}]", c.join(",")))
        .collect();
    pages.pop(); // the 7th record goes into a legacy page below
    pages.push(format!("{{\"1 of 1\": {}}}", lines[6]));
    // page 4 holds one record: fewer than the page size ends the fetch
    let (url, log) = serve(pages, vec![3]);
    let dir = tempfile::tempdir().unwrap();
    let args = FetchArgs {
        data_dir: dir.path().to_path_buf(),
        progress: false,
        url: Some(url),
        page_size: Some(2),
        max_pages: None,
        force: false,
    };
    let err = fetch::fetch(&args).unwrap_err().to_string();
    assert!(err.contains("500"), "{err}");
    let out = dir.path().join("aflow/aflow.jsonl");
    assert!(!out.exists());
    let report = fetch::fetch(&args).unwrap();
    assert!(
        report.contains("fetched 7 AFLOW records in 4 pages (resumed)"),
        "{report}"
    );
    assert_eq!(
        *log.lock().unwrap(),
        vec![1, 2, 3, 3, 4],
        "page 1 and 2 are not fetched again"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 7);
    assert!(fetch::fetch(&args).unwrap().contains("nothing to do"));
    // the fetched file is a dataset
    let ds = AflowSpec {
        split: toml::from_str("train = 1.0\nvalidation = 0.0\ntest = 0.0").unwrap(),
        ..AflowSpec::default()
    }
    .load(&ctx(dir.path()))
    .unwrap();
    assert!(
        ds.source().contains("7 records read, 5 kept"),
        "{}",
        ds.source()
    );
}

#[test]
fn a_stopped_fetch_continues_and_a_bad_page_is_not_kept() {
    let good = std::fs::read_to_string(fixture()).unwrap();
    let first: Vec<&str> = good.lines().take(2).collect();
    let pages = vec![
        format!("[{}]", first.join(",")),
        "<html>maintenance</html>".to_string(),
    ];
    let (url, _) = serve(pages, vec![]);
    let dir = tempfile::tempdir().unwrap();
    let mut args = FetchArgs {
        data_dir: dir.path().to_path_buf(),
        progress: false,
        url: Some(url),
        page_size: Some(2),
        max_pages: Some(1),
        force: false,
    };
    let r = fetch::fetch(&args).unwrap();
    assert!(
        r.contains("stopped after 1 pages") && r.contains("2 records so far"),
        "{r}"
    );
    args.max_pages = None;
    let err = fetch::fetch(&args).unwrap_err().to_string();
    assert!(
        err.contains("$paging(2,2)") && err.contains("not JSON"),
        "{err}"
    );
    let part = dir.path().join("aflow/aflow.jsonl.part");
    assert_eq!(std::fs::read_to_string(part).unwrap().lines().count(), 2);
}

/// Two fixture records as one AFLUX page.
fn two_records() -> String {
    let good = std::fs::read_to_string(fixture()).unwrap();
    let first: Vec<&str> = good
        .lines()
        .filter(|l| l.contains("\"auid\": \"aflow:fixture-00"))
        .take(2)
        .collect();
    format!("[{}]", first.join(","))
}

fn fetch_args(dir: &std::path::Path, url: String, page_size: usize) -> FetchArgs {
    FetchArgs {
        data_dir: dir.to_path_buf(),
        progress: false,
        url: Some(url),
        page_size: Some(page_size),
        max_pages: None,
        force: false,
    }
}

/// A server that answers every page with the same records (it ignores `$paging`) stops the
/// fetch with an error instead of fetching forever; so does a page larger than asked.
#[test]
fn a_server_that_ignores_paging_is_an_error_not_a_loop() {
    let (url, log) = serve(vec![two_records(); 50], vec![]);
    let dir = tempfile::tempdir().unwrap();
    let err = fetch::fetch(&fetch_args(dir.path(), url, 2))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ignores the paging") && err.contains("page 2"),
        "{err}"
    );
    assert_eq!(*log.lock().unwrap(), vec![1, 2]);
    assert!(!dir.path().join("aflow/aflow.jsonl").exists());

    let (url, _) = serve(vec![two_records()], vec![]);
    let dir = tempfile::tempdir().unwrap();
    let err = fetch::fetch(&fetch_args(dir.path(), url, 1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("2 records in a page of 1"), "{err}");
}

/// An answer with no records at all writes no dataset.
#[test]
fn an_empty_answer_is_an_error_and_writes_nothing() {
    let (url, _) = serve(vec![], vec![]);
    let dir = tempfile::tempdir().unwrap();
    let err = fetch::fetch(&fetch_args(dir.path(), url, 2))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no records at all"), "{err}");
    assert!(!dir.path().join("aflow/aflow.jsonl").exists());
    assert!(!dir.path().join("aflow/aflow.jsonl.part").exists());
}

/// A resume with another page size than the fetch under way keeps its pages and says how to
/// go on, instead of discarding them.
#[test]
fn a_resume_with_another_page_size_keeps_the_fetch_under_way() {
    let (url, _) = serve(vec![two_records(), two_records()], vec![]);
    let dir = tempfile::tempdir().unwrap();
    let mut args = fetch_args(dir.path(), url, 2);
    args.max_pages = Some(1);
    fetch::fetch(&args).unwrap();
    let part = dir.path().join("aflow/aflow.jsonl.part");
    let before = std::fs::read(&part).unwrap();
    args.max_pages = None;
    args.page_size = Some(3);
    let err = fetch::fetch(&args).unwrap_err();
    assert!(matches!(err, geobatch_core::Error::Refused(_)), "{err:?}");
    let err = err.to_string();
    assert!(
        err.contains("page size 2") && err.contains("--page-size"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&part).unwrap(),
        before,
        "the part file is kept"
    );
}

/// A store already at `aflow.jsonl` is not fetched over without `--force` (no request is made);
/// with it the fetch replaces the store once complete.
#[test]
fn a_store_is_replaced_by_a_fetch_only_with_force() {
    let (url, log) = serve(vec![two_records()], vec![]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("aflow/aflow.jsonl");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(&out, "{\"auid\": \"mine\"}\n").unwrap();
    let mut args = fetch_args(dir.path(), url, 2);
    let r = fetch::fetch(&args).unwrap();
    assert!(r.contains("nothing to do") && r.contains("--force"), "{r}");
    assert!(log.lock().unwrap().is_empty(), "no request without --force");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "{\"auid\": \"mine\"}\n"
    );
    args.force = true;
    let r = fetch::fetch(&args).unwrap();
    assert!(
        r.contains("fetched 2 AFLOW records") && r.contains("replaced"),
        "{r}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 2);
    let names: Vec<String> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["aflow.jsonl".to_string()],
        "nothing left beside it"
    );
}

/// A store that appears beside a fetch under way (an import while it was stopped) is not
/// replaced when the fetch completes: refused (bad input) with the part file kept, finished and
/// replaced with `--force`.
#[test]
fn a_fetch_under_way_does_not_replace_a_store_unasked() {
    let (url, _) = serve(vec![two_records()], vec![]);
    let dir = tempfile::tempdir().unwrap();
    let mut args = fetch_args(dir.path(), url, 2);
    args.max_pages = Some(1);
    fetch::fetch(&args).unwrap();
    let part = dir.path().join("aflow/aflow.jsonl.part");
    let pages = std::fs::read(&part).unwrap();
    let out = dir.path().join("aflow/aflow.jsonl");
    std::fs::write(&out, "{\"auid\": \"mine\"}\n").unwrap();
    args.max_pages = None;
    let err = fetch::fetch(&args).unwrap_err();
    assert!(matches!(err, geobatch_core::Error::Refused(_)), "{err:?}");
    let err = err.to_string();
    assert!(
        err.contains("aflow.jsonl exists, and the fetch under way") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "{\"auid\": \"mine\"}\n"
    );
    assert_eq!(std::fs::read(&part).unwrap(), pages, "the pages are kept");
    args.force = true;
    let r = fetch::fetch(&args).unwrap();
    assert!(r.contains("(resumed)") && r.contains("replaced"), "{r}");
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 2);
}

/// A fetch under way whose state file cannot be read, or whose part file is shorter than its
/// state records, is refused with the pages kept: never restarted over them, never resumed
/// with a gap of zeros.
#[test]
fn an_unreadable_state_or_a_shortened_part_file_is_not_resumed() {
    let (url, log) = serve(vec![two_records(), two_records()], vec![]);
    let dir = tempfile::tempdir().unwrap();
    let mut args = fetch_args(dir.path(), url, 2);
    args.max_pages = Some(1);
    fetch::fetch(&args).unwrap();
    args.max_pages = None;
    let part = dir.path().join("aflow/aflow.jsonl.part");
    let state = dir.path().join("aflow/aflow.fetch.json");
    let (pages, saved) = (
        std::fs::read(&part).unwrap(),
        std::fs::read(&state).unwrap(),
    );
    std::fs::write(&state, "{\"url\": ").unwrap();
    let err = fetch::fetch(&args).unwrap_err();
    assert!(matches!(err, geobatch_core::Error::Refused(_)), "{err:?}");
    let err = err.to_string();
    assert!(
        err.contains("aflow.fetch.json: cannot be read") && err.contains("delete both"),
        "{err}"
    );
    assert_eq!(std::fs::read(&part).unwrap(), pages, "the pages are kept");
    std::fs::write(&state, &saved).unwrap();
    std::fs::write(&part, &pages[..pages.len() / 2]).unwrap();
    let err = fetch::fetch(&args).unwrap_err().to_string();
    assert!(
        err.contains("changed outside the fetch")
            && err.contains(&format!("{} bytes", pages.len() / 2)),
        "{err}"
    );
    assert_eq!(std::fs::read(&part).unwrap(), pages[..pages.len() / 2]);
    assert_eq!(
        *log.lock().unwrap(),
        vec![1],
        "no page asked for after the first"
    );
}
