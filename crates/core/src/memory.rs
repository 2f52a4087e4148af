//! What memory this process can have, to refuse sizes before they are allocated (an allocation
//! that fails aborts the process: no error, no message, results of the run lost).

/// Bytes this machine has available now (`MemAvailable` of `/proc/meminfo`); `None` where that
/// cannot be read.
pub fn available_memory() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// `bytes` as GiB, for messages.
pub fn gib(bytes: f64) -> f64 {
    bytes / f64::from(1u32 << 30)
}

/// Refuses `need` bytes (a lower bound of what `what` will allocate) when the machine has fewer
/// available; `what` names the option and its value (`dataset.graphs = 1000000000`).
pub fn check_available(what: &str, need: f64, detail: &str) -> crate::Result<()> {
    match available_memory() {
        Some(have) if need > have => Err(crate::Error::invalid(format!(
            "{what}: needs at least {:.1} GiB ({detail}), more than the {:.1} GiB this machine \
             has available",
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
}
