//! The Python worker process: started with the user's interpreter, fed one JSON request per line
//! on its stdin, answering one JSON line each on its stdout. Its stderr is passed through to
//! geobatch's and its tail kept for error messages, so a crash names what Python printed.
//!
//! The worker moves the protocol to private descriptors and gives the module `/dev/null` as
//! stdin (`input()` or `breakpoint()` end with an error, they cannot read the protocol). Replies
//! are read by a thread; the caller waits for them in ticks, checking between ticks whether the
//! worker is still alive, so its death is noticed even when a child it forked (a DataLoader
//! worker) keeps its pipes open. Every call has a time limit ([`DEFAULT_TIMEOUT`] unless the
//! config's `model.timeout` says otherwise); a worker that passes it is stopped with its whole
//! process group. The worker runs in a process group of its own, and when it ends (failed or
//! closed) that group is killed before the worker is reaped: the children it left behind go
//! with it, and the group's id cannot have been taken by another process meanwhile.

use geobatch_core::{Error, Result};
use geobatch_process::leftovers::{self, Leftover};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The worker script and the helper module the user's module imports (`geobatch_bridge`),
/// embedded so that a built geobatch needs no files beside it.
const WORKER: &str = include_str!("../../../python/geobatch/worker.py");
const BRIDGE: &str = include_str!("../../../python/geobatch/bridge.py");

/// How much of the worker's error output an error message quotes.
const TAIL_BYTES: usize = 4000;

/// The time limit of one call when the config sets none: long enough for a large model's
/// compile on a slow machine, short of waiting forever.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// How often a wait for a reply checks that the worker is still alive.
const TICK: Duration = Duration::from_millis(100);

/// A running worker.
pub struct Worker {
    child: Child,
    /// Whether [`Worker::end`] has reaped the worker (its process id may be reused since).
    reaped: bool,
    stdin: Option<ChildStdin>,
    replies: Receiver<String>,
    limit: Duration,
    /// Whether `limit` is the config's `model.timeout` (else [`DEFAULT_TIMEOUT`]).
    limit_set: bool,
    tail: Arc<Mutex<VecDeque<u8>>>,
    pump: Option<JoinHandle<()>>,
    python: String,
    module: String,
    /// The worker's process group, to be killed if geobatch ends at once (a second Ctrl-C);
    /// dropped once the worker is reaped (its id may then be another process's).
    group: Option<Leftovers>,
    /// Holds the worker script and bridge module while the worker runs (registered too).
    _dir: (tempfile::TempDir, Leftovers),
}

/// A registration of [`geobatch_process::leftovers`].
type Leftovers = geobatch_process::leftovers::Registration;

/// Reads the worker's reply lines in a thread, into a channel that closes at the end of the
/// output (which a child holding the pipe can delay forever: see [`Worker::read`]).
fn reply_lines(stdout: ChildStdout) -> Receiver<String> {
    let (send, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout)
            .lines()
            .map_while(std::result::Result::ok)
        {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

impl Worker {
    /// Starts `python` on the worker script and waits until it has imported NumPy; every call
    /// (this start too) that takes longer than `timeout` ([`DEFAULT_TIMEOUT`] when `None`)
    /// stops the worker and is an error.
    pub fn start(python: &str, module: &str, timeout: Option<Duration>) -> Result<Worker> {
        let dir = tempfile::Builder::new()
            .prefix("geobatch-python-")
            .tempdir()
            .map_err(|e| {
                Error::invalid(format!("python model: cannot make a temporary folder: {e}"))
            })?;
        for (name, text) in [
            ("geobatch_worker.py", WORKER),
            ("geobatch_bridge.py", BRIDGE),
        ] {
            std::fs::write(dir.path().join(name), text)
                .map_err(|e| Error::invalid(format!("python model: cannot write {name}: {e}")))?;
        }
        let folder = leftovers::register(Leftover::Folder(dir.path().to_path_buf()));
        let mut child = Command::new(python)
            .arg("-u")
            .arg(dir.path().join("geobatch_worker.py"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            // a geobatch killed with SIGKILL cleans up nothing: the worker watches for its
            // parent's end and then removes its folder and segment and ends its process group
            .env("GEOBATCH_PARENT", std::process::id().to_string())
            .env("GEOBATCH_WORKER_DIR", dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // its own process group: Ctrl-C stops geobatch's run (which checkpoints through the
            // worker), not the worker under it
            .process_group(0)
            .spawn()
            .map_err(|e| {
                Error::invalid(format!(
                    "model.python = \"{python}\": cannot start it ({e}); name a Python 3 \
                     interpreter, e.g. a virtual environment's bin/python"
                ))
            })?;
        let group = leftovers::register(Leftover::ProcessGroup(child.id()));
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let pump = child.stderr.take().map(|err| {
            let tail = Arc::clone(&tail);
            std::thread::spawn(move || pump_stderr(err, &tail))
        });
        let (stdin, stdout) = match (child.stdin.take(), child.stdout.take()) {
            (Some(i), Some(o)) => (i, o),
            _ => {
                return Err(Error::invalid(
                    "python model: the worker's pipes are missing",
                ));
            }
        };
        let mut worker = Worker {
            child,
            reaped: false,
            stdin: Some(stdin),
            replies: reply_lines(stdout),
            limit: timeout.unwrap_or(DEFAULT_TIMEOUT),
            limit_set: timeout.is_some(),
            tail,
            pump,
            python: python.to_string(),
            module: module.to_string(),
            group: Some(group),
            _dir: (dir, folder),
        };
        let hello = worker.read("start")?;
        if let Some(missing) = hello.get("missing").and_then(Value::as_str) {
            return Err(Error::invalid(format!(
                "model.python = \"{python}\" has no {missing}: the python model needs NumPy in \
                 that environment (install it with `{python} -m pip install numpy`)"
            )));
        }
        if hello.get("ready").is_none() {
            return Err(worker.refused("start", &hello));
        }
        Ok(worker)
    }

    /// Sends `request` (an object with `op`) and returns the worker's `ok` value.
    pub fn call(&mut self, what: &str, request: &Value) -> Result<Value> {
        let mut line = serde_json::to_vec(request)
            .map_err(|e| Error::invalid(format!("python model: {what}: {e}")))?;
        line.push(b'\n');
        let sent = match self.stdin.as_mut() {
            Some(stdin) => stdin.write_all(&line).and_then(|()| stdin.flush()),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        };
        if sent.is_err() {
            return Err(self.died(what));
        }
        let reply = self.read(what)?;
        match reply.get("ok") {
            Some(v) => Ok(v.clone()),
            None => Err(self.refused(what, &reply)),
        }
    }

    /// Reads one reply line. The end of the output, or the worker's exit (seen between ticks,
    /// even while a child of it holds the pipe), means it is gone; no line within the limit
    /// stops it.
    fn read(&mut self, what: &str) -> Result<Value> {
        let start = Instant::now();
        let line = loop {
            match self.replies.recv_timeout(TICK) {
                Ok(line) => break line,
                Err(RecvTimeoutError::Disconnected) => return Err(self.died(what)),
                Err(RecvTimeoutError::Timeout) => {}
            }
            if self.exited() {
                // a reply written just before the exit is still a reply
                match self.replies.recv_timeout(TICK) {
                    Ok(line) => break line,
                    Err(_) => return Err(self.died(what)),
                }
            }
            if start.elapsed() >= self.limit {
                return Err(self.timed_out(what, self.limit));
            }
        };
        serde_json::from_str(&line).map_err(|e| {
            Error::invalid(format!(
                "python model: the worker answered {what} with something that is not its \
                 protocol ({e}): {}",
                line.trim_end()
            ))
        })
    }

    /// Stops a worker that did not answer `what` within `limit`; the error says so and quotes
    /// its last output.
    fn timed_out(&mut self, what: &str, limit: Duration) -> Error {
        self.stdin = None;
        self.end(Duration::ZERO);
        self.settle_pump();
        let tail = self.tail_text();
        Error::invalid(format!(
            "python model {}: {what} did not return within {} s ({}), so the Python worker ({}) \
             was stopped{}",
            self.module,
            limit.as_secs_f64(),
            if self.limit_set {
                "model.timeout"
            } else {
                "the default limit when model.timeout is not set"
            },
            self.python,
            if tail.is_empty() {
                String::new()
            } else {
                format!("; its last output:\n{tail}")
            }
        ))
    }

    /// The error for a reply that carries `error` (a Python traceback or a protocol breach).
    fn refused(&self, what: &str, reply: &Value) -> Error {
        let message = reply
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no reply")
            .to_string();
        let hint = match reply.get("missing").and_then(Value::as_str) {
            Some(name) => format!(
                "\n(the interpreter {} has no module `{name}`: install it in that environment, \
                 or name another interpreter with model.python)",
                self.python
            ),
            None => String::new(),
        };
        Error::invalid(format!(
            "python model {}: {what} failed:\n{message}{hint}",
            self.module
        ))
    }

    /// The error for a worker that exited or was killed: its exit status and last output.
    fn died(&mut self, what: &str) -> Error {
        self.stdin = None;
        let status = self.end(Duration::from_secs(5));
        self.settle_pump();
        let tail = self.tail_text();
        let status = match status {
            Some(s) => describe(s),
            None => "it stopped answering".to_string(),
        };
        Error::invalid(format!(
            "python model {}: the Python worker ({}) died during {what}: {status}{}",
            self.module,
            self.python,
            if tail.is_empty() {
                String::new()
            } else {
                format!("; its last output:\n{tail}")
            }
        ))
    }

    /// Whether the worker has exited, without reaping it: while it is not reaped its process
    /// id, which is its group's id, cannot be given to another process.
    fn exited(&self) -> bool {
        if self.reaped {
            return true;
        }
        let Some(pid) = i32::try_from(self.child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            return true;
        };
        use rustix::process::WaitIdOptions as W;
        match rustix::process::waitid(
            rustix::process::WaitId::Pid(pid),
            W::EXITED | W::NOHANG | W::NOWAIT,
        ) {
            Ok(status) => status.is_some(),
            // interrupted: ask again at the next tick
            Err(rustix::io::Errno::INTR) => false,
            // no such child: gone
            Err(_) => true,
        }
    }

    /// Ends the worker: waits up to `grace` for it to exit by itself, then kills its process
    /// group (the worker if still running, and every child it forked that stayed in its group:
    /// data loaders, a `subprocess` left running), and only then reaps it. Returns its exit
    /// status when it exited within `grace`.
    fn end(&mut self, grace: Duration) -> Option<ExitStatus> {
        if self.reaped {
            return None;
        }
        let start = Instant::now();
        while !self.exited() && start.elapsed() < grace {
            std::thread::sleep(Duration::from_millis(10));
        }
        let exited = self.exited();
        // the worker leads its own group (started with `process_group(0)`); unreaped, it keeps
        // the group's id reserved, so the signal reaches no other process
        if let Some(pgid) = i32::try_from(self.child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
        self.group = None;
        let status = self.child.wait().ok();
        self.reaped = true;
        if exited { status } else { None }
    }

    /// Lets the stderr copier finish (up to a second: a child holding the pipe would keep it
    /// going), so the error quotes the worker's last words.
    fn settle_pump(&mut self) {
        let start = Instant::now();
        while self
            .pump
            .as_ref()
            .is_some_and(|p| !p.is_finished() && start.elapsed() < Duration::from_secs(1))
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(pump) = self.pump.take_if(|p| p.is_finished()) {
            let _ = pump.join();
        }
    }

    fn tail_text(&self) -> String {
        let tail = match self.tail.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        let bytes: Vec<u8> = tail.iter().copied().collect();
        String::from_utf8_lossy(&bytes).trim_end().to_string()
    }

    /// The worker's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The module this worker runs.
    pub fn module(&self) -> &str {
        &self.module
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"{\"op\":\"close\"}\n");
        }
        // a worker already ended (it died, or timed out) has nothing left to end
        if !self.reaped {
            self.end(Duration::from_secs(10));
        }
        self.settle_pump();
    }
}

/// Copies the worker's stderr to ours and keeps its last [`TAIL_BYTES`].
fn pump_stderr(mut err: impl Read, tail: &Mutex<VecDeque<u8>>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = err.read(&mut buf) {
        if n == 0 {
            break;
        }
        let _ = std::io::stderr().write_all(&buf[..n]);
        let mut t = match tail.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        t.extend(&buf[..n]);
        let excess = t.len().saturating_sub(TAIL_BYTES);
        t.drain(..excess);
    }
}

/// "exit status 3" or "killed by signal 9".
fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("it exited with status {code}"),
        (None, Some(sig)) => format!("it was killed by signal {sig}"),
        _ => format!("it ended ({status})"),
    }
}

/// A request object for `op` with `fields` merged in.
pub fn request(op: &str, fields: Value) -> Value {
    let mut r = json!({ "op": op });
    if let (Some(obj), Value::Object(extra)) = (r.as_object_mut(), fields) {
        obj.extend(extra);
    }
    r
}

/// Whether `path` names a Python file (rather than a dotted module name).
pub fn is_file(module: &str) -> bool {
    module.ends_with(".py") || Path::new(module).components().count() > 1
}
