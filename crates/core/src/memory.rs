//! What memory this process can have, to refuse sizes before they are allocated (an allocation
//! that fails aborts the process: no error, no message, results of the run lost).
//!
//! Three limits bind, whichever is lowest: the machine's available memory, the process's
//! address-space limit (`ulimit -v`, less what it has mapped already) and its cgroup's memory
//! limit (a container's or a SLURM job's, less what the cgroup uses already).

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
        .zip(
            read("/proc/self/status")
                .as_deref()
                .and_then(|t| kib_field(t, "VmSize:")),
        )
        .map(|(limit, mapped)| {
            (
                (limit - mapped).max(0.0),
                "this process may still map under its address-space limit (ulimit -v)",
            )
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

/// The room left under the cgroup's memory limit (v2 `memory.max`, v1 `memory.limit_in_bytes`),
/// in bytes; `None` without a limit.
fn cgroup_room(read: impl Fn(&str) -> Option<String>) -> Option<f64> {
    let number = |p: &str| read(p).and_then(|t| t.trim().parse::<f64>().ok());
    let (limit, used) = match number("/sys/fs/cgroup/memory.max") {
        Some(limit) => (limit, number("/sys/fs/cgroup/memory.current")),
        None => (
            number("/sys/fs/cgroup/memory/memory.limit_in_bytes")?,
            number("/sys/fs/cgroup/memory/memory.usage_in_bytes"),
        ),
    };
    // cgroup v1 writes "no limit" as a page-rounded i64::MAX
    (limit < 1e18).then(|| (limit - used.unwrap_or(0.0)).max(0.0))
}

/// `bytes` as GiB, for messages.
pub fn gib(bytes: f64) -> f64 {
    bytes / f64::from(1u32 << 30)
}

/// Refuses `need` bytes (a lower bound of what `what` will allocate) when this process cannot
/// have them ([`memory_limit`]); `what` names the option and its value
/// (`dataset.graphs = 1000000000`).
pub fn check_available(what: &str, need: f64, detail: &str) -> crate::Result<()> {
    match memory_limit() {
        Some((have, which)) if need > have => Err(crate::Error::invalid(format!(
            "{what}: needs at least {:.1} GiB ({detail}), more than the {:.1} GiB {which}",
            gib(need),
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
}
