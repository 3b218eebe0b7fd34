//! Cache prefetch hints.
//!
//! The engine knows which memory the next few events will touch (their in-flight records,
//! their receivers' state) well before it processes them; a prefetch issued a few events
//! ahead turns a cache miss into a hit. A prefetch is only a hint: it never faults, whatever
//! the address, and never changes what the program computes, so results stay identical with
//! or without it.

/// Asks the CPU to bring the cache line holding `*p` into the cache. No effect on results.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` is a hint; it never faults and never reads into a register, so any
    // address, valid or not, is sound.
    #[allow(unsafe_code)]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Prefetches the object at `p`: the line of its first byte and, when it straddles a line
/// boundary (an object of up to 64 bytes at an address not aligned to its size), the line of
/// its last byte.
#[inline(always)]
pub fn prefetch_obj<T>(p: *const T) {
    let first = p as *const u8;
    let last = first.wrapping_add(std::mem::size_of::<T>().max(1) - 1);
    prefetch(first);
    if (first as usize ^ last as usize) >= 64 {
        prefetch(last);
    }
}

/// Prefetches the lines holding bytes `from..to` of `*r` (at most 16 lines).
#[inline(always)]
pub fn prefetch_range<T>(r: &T, from: usize, to: usize) {
    let base = r as *const T as *const u8;
    let to = to.min(std::mem::size_of::<T>());
    if from >= to {
        return;
    }
    let first = (base as usize + from) & !63;
    let last = (base as usize + to - 1) & !63;
    let lines = ((last - first) / 64 + 1).min(16);
    // The line holding byte `from` (at or below it, possibly below `base`).
    let p = base.wrapping_add(first.wrapping_sub(base as usize));
    for i in 0..lines {
        prefetch(p.wrapping_add(i * 64));
    }
}

/// Prefetches every cache line of `*r` (at most the first 16).
#[inline(always)]
pub fn prefetch_all<T>(r: &T) {
    prefetch_range(r, 0, std::mem::size_of::<T>());
}
