//! Accurate summation: pairwise summation inside a chunk (error grows with log n, and the
//! eight-lane base case vectorises), Neumaier compensation across chunks.

/// Slices at most this long are summed directly (numpy uses the same block size).
const BLOCK: usize = 128;

/// Pairwise sum of `f(x)` over `values`.
#[inline]
pub(crate) fn pairwise_by(values: &[f64], f: impl Fn(f64) -> f64 + Copy) -> f64 {
    if values.len() <= BLOCK {
        let mut lanes = [0.0; 8];
        let blocks = values.chunks_exact(8);
        let tail = blocks.remainder();
        for block in blocks {
            for (lane, &x) in lanes.iter_mut().zip(block) {
                *lane += f(x);
            }
        }
        let mut sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
            + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
        for &x in tail {
            sum += f(x);
        }
        sum
    } else {
        let (left, right) = values.split_at(split_point(values.len()));
        pairwise_by(left, f) + pairwise_by(right, f)
    }
}

/// Pairwise sum of `f(a[i], b[i])`; the slices have equal length.
#[inline]
pub(crate) fn pairwise2_by(a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64 + Copy) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    if a.len() <= BLOCK {
        let mut lanes = [0.0; 8];
        let blocks_a = a.chunks_exact(8);
        let blocks_b = b.chunks_exact(8);
        let (tail_a, tail_b) = (blocks_a.remainder(), blocks_b.remainder());
        for (block_a, block_b) in blocks_a.zip(blocks_b) {
            for ((lane, &x), &y) in lanes.iter_mut().zip(block_a).zip(block_b) {
                *lane += f(x, y);
            }
        }
        let mut sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
            + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
        for (&x, &y) in tail_a.iter().zip(tail_b) {
            sum += f(x, y);
        }
        sum
    } else {
        let mid = split_point(a.len());
        let (a_left, a_right) = a.split_at(mid);
        let (b_left, b_right) = b.split_at(mid);
        pairwise2_by(a_left, b_left, f) + pairwise2_by(a_right, b_right, f)
    }
}

/// Half of `len`, rounded down to a multiple of 8 so the halves keep full lanes.
fn split_point(len: usize) -> usize {
    (len / 2) & !7
}

/// Neumaier's improved Kahan summation, for combining per-chunk sums in order.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Compensated {
    sum: f64,
    compensation: f64,
}

impl Compensated {
    pub(crate) fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    pub(crate) fn total(&self) -> f64 {
        self.sum + self.compensation
    }
}

/// Smallest and largest of a non-empty slice.
#[inline]
pub(crate) fn min_max(values: &[f64]) -> (f64, f64) {
    let mut lo = [f64::INFINITY; 8];
    let mut hi = [f64::NEG_INFINITY; 8];
    let blocks = values.chunks_exact(8);
    let tail = blocks.remainder();
    for block in blocks {
        for ((l, h), &x) in lo.iter_mut().zip(hi.iter_mut()).zip(block) {
            *l = if x < *l { x } else { *l };
            *h = if x > *h { x } else { *h };
        }
    }
    let mut min = lo.into_iter().fold(f64::INFINITY, f64::min);
    let mut max = hi.into_iter().fold(f64::NEG_INFINITY, f64::max);
    for &x in tail {
        min = min.min(x);
        max = max.max(x);
    }
    (min, max)
}

#[cfg(test)]
mod tests {
    use super::{Compensated, min_max, pairwise_by, pairwise2_by};

    #[test]
    fn pairwise_matches_exact_integer_sums() {
        for len in [0, 1, 7, 8, 9, 127, 128, 129, 1000, 4099] {
            let values: Vec<f64> = (1..=len).map(f64::from).collect();
            let expected = f64::from(len) * f64::from(len + 1) / 2.0;
            assert_eq!(pairwise_by(&values, |x| x), expected, "len {len}");
            let squares = pairwise2_by(&values, &values, |a, b| a * b);
            let n = f64::from(len);
            assert_eq!(squares, n * (n + 1.0) * (2.0 * n + 1.0) / 6.0, "len {len}");
        }
    }

    #[test]
    fn compensation_recovers_cancelled_digits() {
        let mut sum = Compensated::default();
        for x in [1.0, 1e100, 1.0, -1e100] {
            sum.add(x);
        }
        assert_eq!(sum.total(), 2.0);
        assert_eq!(1.0 + 1e100 + 1.0 - 1e100, 0.0);
    }

    #[test]
    fn min_max_of_every_length() {
        for len in 1..40 {
            let values: Vec<f64> = (0..len)
                .map(|i| f64::from((i * 7919) % 31) - 15.0)
                .collect();
            let expected = (
                values.iter().copied().fold(f64::INFINITY, f64::min),
                values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            );
            assert_eq!(min_max(&values), expected);
        }
    }
}
