//! A hint to the CPU to start loading memory that is read soon: the one `unsafe` line of geobatch-gather (and of the crates below the Python package).
//!
//! A plan's graphs lie at random places in a large store; without a hint the collation waits for
//! each graph's first cache lines in turn (the hardware prefetcher neither starts on runs this
//! short nor crosses a page). Asking for the next graphs' lines while the current one is copied
//! overlaps those misses.
#![allow(unsafe_code)]

/// The most bytes of one block hinted at (a QM9 molecule's stored edges are about 1.2 KiB an
/// array): more would evict what is being copied.
const MOST: usize = 16 << 10;

/// Asks the CPU to load the cache lines of `bytes` (its first 16 KiB); a no-op off x86-64.
#[inline]
pub fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let p = bytes.as_ptr();
        for at in (0..bytes.len().min(MOST)).step_by(64) {
            // SAFETY: a prefetch never faults and changes no memory; the address is inside
            // `bytes` (SSE, which the intrinsic needs, is part of every x86-64 CPU)
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(at).cast()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefetch_reads_nothing_and_accepts_any_slice() {
        let v = vec![7u8; 100_000];
        super::prefetch(&v);
        super::prefetch(&v[..0]);
        super::prefetch(&v[99_999..]);
        assert_eq!(v[50_000], 7);
    }
}
