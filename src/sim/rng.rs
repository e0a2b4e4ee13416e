//! The simulator's own random numbers: splitmix64, seeded from the command line or the
//! experiment. Same seed, same choices, on every machine; never the wall clock or OS entropy.

/// A splitmix64 generator (Steele, Lea and Flood, 2014): tiny, fast, and good enough for
/// tie-breaking and jitter. Not for anything secret.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed ^ 0x6a09_e667_f3bc_c908)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// A number from the current state without advancing it (`salt` tells uses apart): a
    /// figure added this way leaves every later draw, and so every seed's history, as it was.
    pub(crate) fn derive(&self, salt: u64) -> u64 {
        mix(self.0 ^ mix(salt))
    }

    /// Uniform in `0..n` (`n > 0`); the tiny modulo bias is irrelevant here.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// Shuffles `v` in place (Fisher–Yates, from the back): the same order for the same seed.
    pub(crate) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i as u64 + 1) as usize);
        }
    }

    /// Uniform in `[-1, 1]`.
    pub(crate) fn signed_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

/// The splitmix64 finaliser, also used to hash names reproducibly (ephemeral pod choice).
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A stable hash of a string (FNV-1a then mixed): the same on every platform and release,
/// unlike `std`'s `DefaultHasher`.
pub(crate) fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

#[cfg(test)]
mod tests;
