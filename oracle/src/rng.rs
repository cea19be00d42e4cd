//! A small deterministic PRNG (SplitMix64): the same seed gives the same cases on
//! every host.

#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`; returns 0 for `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    pub fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> Option<&'a T> {
        xs.get(self.below(xs.len() as u64) as usize)
    }
    /// A value biased towards the edges integer arithmetic cares about.
    pub fn interesting_u64(&mut self) -> u64 {
        match self.below(10) {
            0 => 0,
            1 => self.below(17),
            2 => self.below(16).wrapping_neg(),
            3 => {
                let k = *self.pick(&[7u32, 8, 15, 16, 31, 32, 63]).unwrap_or(&63);
                let b = 1u64 << k;
                let v = match self.below(4) {
                    0 => b,
                    1 => b - 1,
                    2 => b.wrapping_neg(),
                    _ => b.wrapping_add(1),
                };
                if self.chance(2) {
                    v
                } else {
                    v ^ (self.next_u64() << 1 << k)
                }
            }
            4 => {
                // Random in the low byte/word/dword only.
                let bits = *self.pick(&[8u32, 16, 32]).unwrap_or(&32);
                self.next_u64() & ((1u64 << bits) - 1)
            }
            _ => self.next_u64(),
        }
    }
}
