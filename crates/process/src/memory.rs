//! What memory this process can have, to refuse sizes before they are allocated (an allocation
//! that fails aborts the process: no error, no message, results of the run lost).
//!
//! Three limits bind, whichever is lowest: the machine's available memory, the process's
//! address-space limit (`ulimit -v`, less the address space it holds: what its writable private
//! mappings really use, and the whole of every other mapping) and its cgroup's memory limit (the
//! cgroup this process is in, v2 or v1, and each of its ancestors: a container's or a SLURM
//! job's, less what it uses already, its page cache of files not counted). A refusal is [`crate::Error::Memory`] (`geobatch_core::Error::Memory`: exit 2 in the CLI),
//! naming the estimate and the limit.

use geobatch_core::{Shape, step_memory::StepMemory};

/// Bytes this process can still allocate, and which limit says so (for messages); `None` where
/// no limit can be read.
pub fn memory_limit() -> Option<(f64, &'static str)> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let machine = read("/proc/meminfo")
        .as_deref()
        .and_then(|t| kib_field(t, "MemAvailable:"))
        .map(|b| (b, "this machine has available"));
    let address = read("/proc/self/limits")
        .as_deref()
        .and_then(address_space_limit)
        .and_then(|limit| {
            let held = read("/proc/self/smaps")
                .as_deref()
                .and_then(address_space_held)
                .or_else(|| {
                    read("/proc/self/status")
                        .as_deref()
                        .and_then(|t| kib_field(t, "VmSize:"))
                })?;
            Some((
                (limit - held).max(0.0),
                "this process may still map under its address-space limit (ulimit -v)",
            ))
        });
    let cgroup = cgroup_room(read).map(|b| (b, "this process's cgroup may still use"));
    [machine, address, cgroup]
        .into_iter()
        .flatten()
        .min_by(|a, b| a.0.total_cmp(&b.0))
}

/// Bytes this process can still allocate (see [`memory_limit`]); `None` where no limit can be
/// read.
pub fn available_memory() -> Option<f64> {
    memory_limit().map(|(b, _)| b)
}

/// A `NAME: N kB` line of `/proc/meminfo` or `/proc/self/status`, in bytes.
fn kib_field(text: &str, name: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// The soft "Max address space" of `/proc/self/limits`, in bytes (`None`: unlimited).
fn address_space_limit(limits: &str) -> Option<f64> {
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))?;
    line["Max address space".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The address space this process holds that a new allocation cannot reuse, in bytes, from
/// `/proc/self/smaps`: what a writable private anonymous mapping really uses (resident or
/// swapped: an allocator's reserved arena is room for what it allocates next), and the whole
/// size of every other mapping (code, files, the `PROT_NONE` reservations of other allocators).
fn address_space_held(smaps: &str) -> Option<f64> {
    let mut held = 0.0;
    let mut reusable = false;
    let mut size = 0.0;
    let mut used = 0.0;
    let mut seen = false;
    let mut close = |reusable: bool, size: f64, used: f64| {
        held += if reusable { used } else { size };
    };
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if first.contains('-') && first.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            if seen {
                close(reusable, size, used);
            }
            seen = true;
            let perms = fields.next().unwrap_or("");
            let inode = fields.nth(2).unwrap_or("0");
            let path = fields.next().unwrap_or("");
            reusable = perms.starts_with("rw")
                && perms.ends_with('p')
                && inode == "0"
                && (path.is_empty() || path == "[heap]");
            size = 0.0;
            used = 0.0;
            continue;
        }
        let kib = || {
            fields
                .clone()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .map(|k| k * 1024.0)
        };
        match first {
            "Size:" => size = kib()?,
            "Rss:" | "Swap:" => used += kib().unwrap_or(0.0),
            _ => {}
        }
    }
    if !seen {
        return None;
    }
    close(reusable, size, used);
    Some(held)
}

/// The room left under the memory limits of this process's own cgroup and its ancestors (v2
/// `memory.max`, v1 `memory.limit_in_bytes`, under the path `/proc/self/cgroup` names), the
/// smallest of them, in bytes; `None` without a limit. A SLURM job's or a container's limit is
/// set on its own cgroup, not on the hierarchy's root.
fn cgroup_room(read: impl Fn(&str) -> Option<String>) -> Option<f64> {
    let number = |p: &str| read(p).and_then(|t| t.trim().parse::<f64>().ok());
    let membership = read("/proc/self/cgroup").unwrap_or_default();
    let own = |v1: bool| {
        membership.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let wanted = if v1 {
                controllers.split(',').any(|c| c == "memory")
            } else {
                controllers.is_empty()
            };
            wanted.then(|| path.to_string())
        })
    };
    // (root of the hierarchy, limit file, usage file, the keys of memory.stat that count the
    // file pages, inactive and active, this process's path in it)
    let hierarchies = [
        (
            "/sys/fs/cgroup",
            "memory.max",
            "memory.current",
            ["inactive_file", "active_file"],
            own(false),
        ),
        (
            "/sys/fs/cgroup/memory",
            "memory.limit_in_bytes",
            "memory.usage_in_bytes",
            ["total_inactive_file", "total_active_file"],
            own(true),
        ),
    ];
    let mut room: Option<f64> = None;
    for (root, limit_file, usage_file, file_keys, path) in hierarchies {
        let path = path.unwrap_or_default();
        let mut dir = path.trim_end_matches('/').to_string();
        loop {
            let at = format!("{root}{dir}");
            if let Some(limit) = number(&format!("{at}/{limit_file}")) {
                // cgroup v1 writes "no limit" as a page-rounded i64::MAX
                if limit < 1e18 {
                    let used = number(&format!("{at}/{usage_file}")).unwrap_or(0.0);
                    // the usage counts the page cache: its file pages (a store just written, a
                    // mapped store's pages read by an earlier job, inactive or active) are given
                    // back under pressure; shared memory and tmpfs are not among them
                    let file: f64 = read(&format!("{at}/memory.stat"))
                        .map(|t| file_keys.iter().filter_map(|k| stat_value(&t, k)).sum())
                        .unwrap_or(0.0);
                    let here = (limit - (used - file).max(0.0)).max(0.0);
                    room = Some(room.map_or(here, |r| r.min(here)));
                }
            }
            match dir.rfind('/') {
                Some(i) => dir.truncate(i),
                None => break,
            }
        }
    }
    room
}

/// The value of `key` in a cgroup's `memory.stat` text (`key value` lines).
fn stat_value(text: &str, key: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// `bytes` as GiB, for messages.
pub fn gib(bytes: f64) -> f64 {
    bytes / f64::from(1u32 << 30)
}

/// Refuses `need` bytes (a lower bound of what `what` will allocate) when this process cannot
/// have them ([`memory_limit`]) with [`crate::Error::Memory`]; `what` names the option and its
/// value (`dataset.graphs = 1000000000`).
pub fn check_available(what: &str, need: f64, detail: &str) -> Result<(), crate::Error> {
    match memory_limit() {
        Some((have, which)) if need > have => Err(crate::Error::Memory(format!(
            "{what}: needs at least {:.1} GiB ({detail}), more than the {:.1} GiB {which}",
            gib(need),
            gib(have)
        ))),
        _ => Ok(()),
    }
}

/// Refuses a training step on a padded batch of `shape` (`what`: where it comes from, for the
/// message) whose memory ([`StepMemory`]) this process cannot have, with [`crate::Error::Memory`].
pub fn check_step(memory: &StepMemory, shape: Shape, what: &str) -> Result<(), crate::Error> {
    let need = memory.bytes(shape);
    match memory_limit() {
        Some((have, which)) if need > have => Err(crate::Error::Memory(format!(
            "{}: a training step on {what} ({} nodes, {} edges) needs about {:.1} GiB \
             (parameters and optimiser state {:.2} GiB, activations {:.1} GiB), more than \
             the {:.1} GiB {which}: choose smaller model sizes, a smaller batch_size, or \
             fewer edges (dataset.graph)",
            memory.sizes,
            shape.nodes,
            shape.edges,
            gib(need),
            gib(memory.fixed),
            gib(need - memory.fixed),
            gib(have)
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_reports_memory_and_refuses_an_exabyte() {
        let have = available_memory().expect("/proc/meminfo on Linux");
        assert!(have > 0.0);
        let e = check_available("dataset.graphs = 9", 1e18, "atoms").unwrap_err();
        let m = e.to_string();
        assert!(m.contains("dataset.graphs = 9") && m.contains("GiB"), "{m}");
        assert!(check_available("x", 1.0, "one byte").is_ok());
    }

    #[test]
    fn the_limits_are_read_as_linux_writes_them() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max data size             unlimited            unlimited            bytes     \n\
                      Max address space         2147483648           unlimited            bytes     \n";
        assert_eq!(address_space_limit(limits), Some(2147483648.0));
        assert_eq!(
            address_space_limit(&limits.replace("2147483648", "unlimited")),
            None
        );
        assert_eq!(
            kib_field("VmSize:\t    3892 kB\n", "VmSize:"),
            Some(3892.0 * 1024.0)
        );
        let v2 = |max: &'static str| {
            move |p: &str| match p {
                "/sys/fs/cgroup/memory.max" => Some(max.to_string()),
                "/sys/fs/cgroup/memory.current" => Some("1000\n".to_string()),
                _ => None,
            }
        };
        assert_eq!(cgroup_room(v2("5000\n")), Some(4000.0));
        assert_eq!(cgroup_room(v2("max\n")), None);
        let v1 = |p: &str| match p {
            "/sys/fs/cgroup/memory/memory.limit_in_bytes" => Some("9223372036854771712".into()),
            _ => None,
        };
        assert_eq!(cgroup_room(v1), None);
    }

    #[test]
    fn the_cgroup_limit_is_read_where_this_process_is_and_above() {
        // a SLURM job's limit sits on its own cgroup, the root has none
        let job = |p: &str| match p {
            "/proc/self/cgroup" => Some("0::/system.slice/slurmstepd.scope/job_7/step_0\n".into()),
            "/sys/fs/cgroup/memory.max" => Some("max\n".into()),
            "/sys/fs/cgroup/system.slice/slurmstepd.scope/job_7/memory.max" => {
                Some("8000\n".into())
            }
            "/sys/fs/cgroup/system.slice/slurmstepd.scope/job_7/memory.current" => {
                Some("3000\n".into())
            }
            "/sys/fs/cgroup/system.slice/slurmstepd.scope/job_7/step_0/memory.max" => {
                Some("max\n".into())
            }
            _ => None,
        };
        assert_eq!(cgroup_room(job), Some(5000.0));
        let v1 = |p: &str| match p {
            "/proc/self/cgroup" => Some("5:cpuacct,cpu:/x\n4:memory:/slurm/uid_0/job_9\n".into()),
            "/sys/fs/cgroup/memory/memory.limit_in_bytes" => Some("9223372036854771712".into()),
            "/sys/fs/cgroup/memory/slurm/uid_0/job_9/memory.limit_in_bytes" => Some("4096".into()),
            "/sys/fs/cgroup/memory/slurm/uid_0/job_9/memory.usage_in_bytes" => Some("96".into()),
            _ => None,
        };
        assert_eq!(cgroup_room(v1), Some(4000.0));
        // the page cache's file pages, inactive and active (a store just written, a mapped
        // store read by an earlier job) are room; shared memory is not
        let cached = |p: &str| match p {
            "/sys/fs/cgroup/memory.max" => Some("5000\n".into()),
            "/sys/fs/cgroup/memory.current" => Some("4500\n".into()),
            "/sys/fs/cgroup/memory.stat" => Some(
                "anon 1000\nfile 3500\nshmem 200\nactive_file 1300\ninactive_file 2000\n".into(),
            ),
            _ => None,
        };
        assert_eq!(cgroup_room(cached), Some(3800.0));
    }

    #[test]
    fn reserved_arenas_are_room_and_other_mappings_are_held() {
        let smaps = "\
55d0c0000000-55d0c0100000 r-xp 00000000 08:01 1234 /usr/bin/geobatch
Size:               1024 kB
Rss:                 512 kB
7f0000000000-7f0040000000 rw-p 00000000 00:00 0 
Size:            1048576 kB
Rss:                2048 kB
Swap:                 16 kB
7f0040000000-7f0044000000 ---p 00000000 00:00 0 
Size:              65536 kB
Rss:                   0 kB
";
        let held = address_space_held(smaps).expect("parsed");
        assert_eq!(held, (1024.0 + 2048.0 + 16.0 + 65536.0) * 1024.0);
        assert_eq!(address_space_held(""), None);
    }
}
