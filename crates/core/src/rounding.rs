//! The rounding rules of the study (spec §1.2-1.6), pinned exactly.
//!
//! Two flavours exist and must not be confused:
//! * **strict** ([`next_multiple_of_64_strict`]): always strictly greater than the argument, so an
//!   exact multiple of 64 still gains 64 (the dynamic budget and static-constant);
//! * **non-strict** ([`ceil_multiple_of_64`], [`ceil_power_of_two`]): the smallest value of the
//!   series that is at least the argument (static-64 and static-2^N).

/// `64 * (1 + floor(x / 64))`: the next multiple of 64 strictly above `x` (spec §1.2).
///
/// The argument is a float because the dynamic budget rounds `mean * batch_size`.
pub fn next_multiple_of_64_strict(x: f64) -> usize {
    let x = if x.is_finite() && x > 0.0 { x } else { 0.0 };
    64 * (1 + (x / 64.0).floor() as usize)
}

/// The smallest multiple of 64 that is at least `x`, searching from 64 upwards (spec §1.4).
///
/// `ceil_multiple_of_64(0) == 64` and `ceil_multiple_of_64(128) == 128`.
pub fn ceil_multiple_of_64(x: usize) -> usize {
    x.div_ceil(64).max(1) * 64
}

/// The smallest power of two that is at least `x`, searching from 2 upwards (spec §1.5).
///
/// `ceil_power_of_two(0) == 2`, `ceil_power_of_two(1) == 2` and `ceil_power_of_two(64) == 64`.
pub fn ceil_power_of_two(x: usize) -> usize {
    x.next_power_of_two().max(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_64_gains_a_full_step_on_exact_multiples() {
        assert_eq!(next_multiple_of_64_strict(0.0), 64);
        assert_eq!(next_multiple_of_64_strict(1.0), 64);
        assert_eq!(next_multiple_of_64_strict(63.0), 64);
        assert_eq!(next_multiple_of_64_strict(63.999), 64);
        assert_eq!(next_multiple_of_64_strict(64.0), 128);
        assert_eq!(next_multiple_of_64_strict(64.5), 128);
        assert_eq!(next_multiple_of_64_strict(127.9), 128);
        assert_eq!(next_multiple_of_64_strict(128.0), 192);
        assert_eq!(next_multiple_of_64_strict(575.0), 576);
        assert_eq!(next_multiple_of_64_strict(576.0), 640);
    }

    #[test]
    fn ceil_64_keeps_exact_multiples() {
        assert_eq!(ceil_multiple_of_64(0), 64);
        assert_eq!(ceil_multiple_of_64(1), 64);
        assert_eq!(ceil_multiple_of_64(63), 64);
        assert_eq!(ceil_multiple_of_64(64), 64);
        assert_eq!(ceil_multiple_of_64(65), 128);
        assert_eq!(ceil_multiple_of_64(128), 128);
        assert_eq!(ceil_multiple_of_64(129), 192);
    }

    #[test]
    fn ceil_pow2_keeps_exact_powers_and_starts_at_two() {
        assert_eq!(ceil_power_of_two(0), 2);
        assert_eq!(ceil_power_of_two(1), 2);
        assert_eq!(ceil_power_of_two(2), 2);
        assert_eq!(ceil_power_of_two(3), 4);
        assert_eq!(ceil_power_of_two(64), 64);
        assert_eq!(ceil_power_of_two(65), 128);
        assert_eq!(ceil_power_of_two(1024), 1024);
        assert_eq!(ceil_power_of_two(1025), 2048);
    }
}
