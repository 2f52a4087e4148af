//! `geobatch predict --run RUN_DIR --serve`: a trained potential kept open, answering requests on
//! standard input with predictions on standard output, one JSON line each: what
//! `geobatch.ase.Calculator` talks to (the model is loaded once, however many calls follow).
//!
//! A request is `{"structures": [{"numbers": [...], "positions": [[x, y, z], ...], "cell":
//! [[...], [...], [...]] or null, "pbc": [bool, bool, bool]}, ...]}`; its answer `{"predictions":
//! [{"energy": e, "forces": [[...], ...], "stress": [9 values] or null}, ...]}`, or `{"error":
//! "..."}` for a request that cannot be answered (the server goes on). Positions are wrapped into
//! the cell along its periodic directions, as `predict` and the datasets do. The end of the input
//! ends the server.

use geobatch_catalog::dataset_extxyz::structures::Structure;
use geobatch_potential_run::predict::{Potential, Prediction};
use geobatch_runner::RunError;
use serde::Deserialize;
use std::io::{BufRead, Write};
use std::path::Path;

/// One structure of a request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Asked {
    numbers: Vec<u8>,
    positions: Vec<[f64; 3]>,
    #[serde(default)]
    cell: Option<[[f64; 3]; 3]>,
    #[serde(default)]
    pbc: Option<[bool; 3]>,
}

/// A request: the structures to predict.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    structures: Vec<Asked>,
}

/// The answer to one request line: the predictions, or why there are none.
fn answer(potential: &mut Potential, line: &str) -> Result<Vec<Prediction>, String> {
    let request: Request = serde_json::from_str(line).map_err(|e| format!("not a request: {e}"))?;
    let structures: Vec<Structure> = request
        .structures
        .into_iter()
        .enumerate()
        .map(|(i, a)| Structure {
            id: format!("structure {i}"),
            origin: format!("structure {i} of the request"),
            pbc: a.pbc.unwrap_or([a.cell.is_some(); 3]),
            numbers: a.numbers,
            positions: a.positions,
            lattice: a.cell,
            forces: None,
            stress: None,
        })
        .collect();
    crate::predict_cmd::predict_structures(potential, &structures).map_err(|e| e.to_string())
}

/// Serves the potential of `run` until the input ends, or until nobody reads the answers (a
/// closed standard output ends the serving quietly, as a Unix tool's closed pipe does).
pub fn serve(run: &Path) -> Result<(), RunError> {
    let mut potential = Potential::open(run)?;
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.map_err(|source| RunError::Io {
            path: "standard input".into(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let reply = match answer(&mut potential, &line) {
            Ok(predictions) => serde_json::json!({ "predictions": predictions }),
            Err(error) => serde_json::json!({ "error": error }),
        };
        let mut text = reply.to_string();
        text.push('\n');
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(source) => {
                return Err(RunError::Io {
                    path: "standard output".into(),
                    source,
                });
            }
        }
    }
    Ok(())
}
