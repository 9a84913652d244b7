//! SplitMix64 (Steele, Lea, Flood), all arithmetic modulo 2^64, and the draws the workload
//! specification defines on it.

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
const STREAM_MULTIPLIER: u64 = 0xD1B5_4A32_D192_ED03;

/// A SplitMix64 generator.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// Stream `k` of `seed`: an independent generator per kind of draw.
    pub fn stream(seed: u64, k: u64) -> Self {
        SplitMix64 {
            state: seed.wrapping_add(k.wrapping_mul(STREAM_MULTIPLIER)),
        }
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `next_u64() % n` (the specification accepts the modulo bias).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A float in [0, 1): the top 53 bits, exactly.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_splitmix64() {
        // The first outputs of SplitMix64 seeded with 0, as every implementation gives them.
        let mut rng = SplitMix64 { state: 0 };
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert!((0.0..1.0).contains(&SplitMix64::stream(42, 3).unit()));
    }
}
