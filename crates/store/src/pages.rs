//! The pages of mapped memory asked about and asked for: whether one is in memory (`mincore`),
//! and a range read ahead of its use (`madvise(MADV_WILLNEED)`). Both are hints over any
//! address: one the system refuses (not mapped, not from a file) changes nothing. The store's
//! sets use them through their maps, Python's collator over the arrays NumPy maps.
#![allow(unsafe_code)]

use std::sync::OnceLock;

/// The system's page size (a power of two).
fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    // SAFETY: sysconf reads a constant of the system
    *PAGE.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        p if p > 0 && (p as usize).is_power_of_two() => p as usize,
        _ => 4096,
    })
}

/// Whether the page holding address `addr` is in memory; true where the system cannot tell
/// (then nothing is read ahead on its account).
pub fn resident(addr: usize) -> bool {
    let page = page_size();
    let mut state = 0u8;
    // SAFETY: mincore writes one byte per page of the range (one page here) into `state` and
    // reads nothing through the address; an address outside any mapping is an error it returns
    let failed =
        unsafe { libc::mincore((addr & !(page - 1)) as *mut libc::c_void, page, &mut state) } != 0;
    failed || state & 1 == 1
}

/// Asks for the `len` bytes from address `addr` to be read ahead, without waiting.
pub fn will_need(addr: usize, len: usize) {
    if len == 0 {
        return;
    }
    let aligned = addr & !(page_size() - 1);
    // SAFETY: MADV_WILLNEED reads nothing through the pointer and changes no memory's
    // contents; a range that is not mapped is an error it returns
    unsafe {
        libc::madvise(
            aligned as *mut libc::c_void,
            len + (addr - aligned),
            libc::MADV_WILLNEED,
        )
    };
}
