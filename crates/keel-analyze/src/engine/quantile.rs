//! Exact order statistics without sorting, and numpy-compatible percentiles on top of them.
//!
//! Small columns are copied and partitioned with `select_nth_unstable`. Large columns first
//! count values into 4096 equal-width buckets in parallel (the bucket index is a monotone
//! function of the value, so bucket order is value order), then gather only the buckets that
//! hold a wanted rank and partition those. Typical data leaves a few thousand values to
//! partition; the worst case (everything in one bucket) degenerates to copying the column.

use super::context::{CHUNK, Ctx};
use crate::error::AnalysisError;

const BUCKETS: usize = 4096;
const NO_SLOT: u32 = u32::MAX;

/// Work units [`order_statistics`] advances for a column of `len` values.
pub(crate) fn units(len: usize) -> u64 {
    if len <= CHUNK {
        len as u64
    } else {
        2 * len as u64
    }
}

/// The values at the given 0-based ranks of the sorted column. `ranks` is sorted, unique and
/// below `values.len()`; `min` and `max` are the column's extremes.
pub(crate) fn order_statistics(
    ctx: &Ctx<'_>,
    values: &[f64],
    min: f64,
    max: f64,
    ranks: &[usize],
) -> Result<Vec<f64>, AnalysisError> {
    debug_assert!(ranks.windows(2).all(|w| w[0] < w[1]));
    ctx.check()?;
    if min == max {
        ctx.advance(units(values.len()));
        return Ok(vec![min; ranks.len()]);
    }
    let buckets = Buckets::new(min, max);
    match buckets {
        Some(buckets) if values.len() > CHUNK => bucketed(ctx, values, &buckets, ranks),
        _ => {
            let mut copy = values.to_vec();
            let out = select(&mut copy, ranks);
            ctx.advance(units(values.len()));
            Ok(out)
        }
    }
}

/// Maps values in `[min, max]` to bucket indices, monotonically.
struct Buckets {
    half_min: f64,
    scale: f64,
}

impl Buckets {
    /// Halving keeps `max - min` finite for any finite extremes; `None` when the range is so
    /// narrow that the scale overflows.
    fn new(min: f64, max: f64) -> Option<Self> {
        let half_min = min * 0.5;
        let scale = BUCKETS as f64 / (max * 0.5 - half_min);
        scale.is_finite().then_some(Self { half_min, scale })
    }

    #[inline]
    fn index(&self, x: f64) -> usize {
        // Every operation is monotone (IEEE rounding is), `as` saturates, so a <= b implies
        // index(a) <= index(b).
        (((x * 0.5 - self.half_min) * self.scale) as usize).min(BUCKETS - 1)
    }
}

fn bucketed(
    ctx: &Ctx<'_>,
    values: &[f64],
    buckets: &Buckets,
    ranks: &[usize],
) -> Result<Vec<f64>, AnalysisError> {
    let partial_counts = ctx.map_chunks(values.len(), 1, |range| {
        let mut counts = vec![0u32; BUCKETS];
        for &x in &values[range] {
            counts[buckets.index(x)] += 1;
        }
        counts
    })?;
    let mut counts = vec![0u64; BUCKETS];
    for partial in &partial_counts {
        for (total, &c) in counts.iter_mut().zip(partial) {
            *total += u64::from(c);
        }
    }

    // Locate each rank's bucket and its rank within that bucket.
    let mut slot_of = vec![NO_SLOT; BUCKETS];
    let mut targets: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut below = 0u64;
    let mut wanted = ranks.iter().peekable();
    for (bucket, &count) in counts.iter().enumerate() {
        while let Some(&&rank) = wanted.peek() {
            if (rank as u64) >= below + count {
                break;
            }
            if slot_of[bucket] == NO_SLOT {
                slot_of[bucket] = targets.len() as u32;
                targets.push((bucket, Vec::new()));
            }
            targets
                .last_mut()
                .expect("slot just pushed")
                .1
                .push(rank - below as usize);
            wanted.next();
        }
        below += count;
    }
    debug_assert!(wanted.peek().is_none(), "every rank lies in some bucket");

    let gathered = ctx.map_chunks(values.len(), 1, |range| {
        let mut out: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
        for &x in &values[range] {
            let slot = slot_of[buckets.index(x)];
            if slot != NO_SLOT {
                out[slot as usize].push(x);
            }
        }
        out
    })?;
    let mut result = Vec::with_capacity(ranks.len());
    for (slot, (bucket, local_ranks)) in targets.iter().enumerate() {
        let mut members = Vec::with_capacity(counts[*bucket] as usize);
        for part in &gathered {
            members.extend_from_slice(&part[slot]);
        }
        result.extend(select(&mut members, local_ranks));
    }
    Ok(result)
}

/// Values at sorted, unique `ranks` of `values`, partitioning successively smaller tails.
fn select(values: &mut [f64], ranks: &[usize]) -> Vec<f64> {
    let mut start = 0;
    ranks
        .iter()
        .map(|&rank| {
            let (_, nth, _) = values[start..].select_nth_unstable_by(rank - start, f64::total_cmp);
            start = rank + 1;
            *nth
        })
        .collect()
}

/// numpy's default (`linear`) percentile: the order statistics it needs and how to blend them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Interpolation {
    pub(crate) lower: usize,
    pub(crate) upper: usize,
    pub(crate) weight: f64,
}

impl Interpolation {
    /// Percentile `p` (0 to 100) of `len` values, as `numpy.percentile(..., method="linear")`.
    pub(crate) fn percentile(len: usize, p: f64) -> Self {
        let position = (len - 1) as f64 * (p / 100.0);
        if position >= (len - 1) as f64 {
            return Self {
                lower: len - 1,
                upper: len - 1,
                weight: 0.0,
            };
        }
        let lower = position.floor();
        Self {
            lower: lower as usize,
            upper: lower as usize + 1,
            weight: position - lower,
        }
    }

    /// numpy's `_lerp`, which is exact at both ends and monotone in the weight.
    pub(crate) fn blend(&self, lower: f64, upper: f64) -> f64 {
        let diff = upper - lower;
        if self.weight >= 0.5 {
            upper - diff * (1.0 - self.weight)
        } else {
            lower + diff * self.weight
        }
    }
}

/// numpy's median: the middle value, or the mean of the two middle values.
pub(crate) fn median_ranks(len: usize) -> (usize, usize) {
    if len % 2 == 1 {
        (len / 2, len / 2)
    } else {
        (len / 2 - 1, len / 2)
    }
}

/// Mean of the two middle values, without overflowing for huge ones.
pub(crate) fn midpoint(a: f64, b: f64) -> f64 {
    let mid = (a + b) / 2.0;
    if mid.is_finite() {
        mid
    } else {
        a / 2.0 + b / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::{Interpolation, median_ranks, midpoint, order_statistics};
    use crate::cancel::CancelToken;
    use crate::engine::context::{CHUNK, Ctx};

    fn stats(values: &[f64], ranks: &[usize]) -> Vec<f64> {
        let cancel = CancelToken::new();
        let ctx = Ctx::new(&cancel, &|_, _| {}, super::units(values.len()));
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let out = order_statistics(&ctx, values, min, max, ranks).unwrap();
        ctx.finish();
        out
    }

    fn check_against_sort(values: &[f64]) {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = values.len();
        let mut ranks = vec![
            0,
            1,
            n / 4,
            n / 2,
            n / 2 + 1,
            n * 9 / 10,
            n * 99 / 100,
            n - 2,
            n - 1,
        ];
        ranks.sort_unstable();
        ranks.dedup();
        let expected: Vec<f64> = ranks.iter().map(|&r| sorted[r]).collect();
        assert_eq!(stats(values, &ranks), expected);
    }

    /// Deterministic xorshift values in [0, 1).
    fn uniform(n: usize, seed: u64) -> Vec<f64> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect()
    }

    #[test]
    fn small_columns_match_a_full_sort() {
        check_against_sort(&[5.0, -1.0, 3.0, 3.0, 0.0, -0.0, 8.0, 2.5, 1.0, 4.0]);
        check_against_sort(&uniform(1000, 7));
    }

    #[test]
    fn bucketed_selection_matches_a_full_sort() {
        let n = 4 * CHUNK + 3;
        check_against_sort(&uniform(n, 11));
        // Heavy skew: almost everything lands in the lowest bucket.
        let mut skewed: Vec<f64> = uniform(n, 13).iter().map(|u| u.powi(40)).collect();
        skewed[n / 3] = 1e300;
        skewed[n / 2] = -1e300;
        check_against_sort(&skewed);
        // Few distinct values with many duplicates.
        let dups: Vec<f64> = uniform(n, 17).iter().map(|u| (u * 5.0).floor()).collect();
        check_against_sort(&dups);
        // Extremes whose difference overflows.
        let mut wide = uniform(n, 19);
        wide[0] = f64::MAX;
        wide[1] = f64::MIN;
        check_against_sort(&wide);
    }

    #[test]
    fn constant_column() {
        assert_eq!(stats(&[2.5; 5], &[0, 2, 4]), [2.5, 2.5, 2.5]);
    }

    #[test]
    fn percentiles_match_numpy_linear() {
        // numpy.percentile(a, ps) with numpy 2.x.
        let mut a = [3.1, -2.0, 7.5, 0.25, 10.0, 4.4, 4.4, -8.75, 1.0, 6.0, 2.2];
        a.sort_by(f64::total_cmp);
        let cases = [
            (0.0, -8.75),
            (1.0, -8.075),
            (10.0, -2.0),
            (25.0, 0.625),
            (33.3, 1.3959999999999997),
            (50.0, 3.1),
            (66.6, 4.4),
            (75.0, 5.2),
            (90.0, 7.5),
            (99.0, 9.75),
            (99.9, 9.975000000000005),
            (100.0, 10.0),
        ];
        for (p, expected) in cases {
            let i = Interpolation::percentile(a.len(), p);
            assert_eq!(i.blend(a[i.lower], a[i.upper]), expected, "p{p}");
        }
        let b = [0.1, 0.2, 0.7];
        let i = Interpolation::percentile(3, 10.0);
        assert_eq!(i.blend(b[i.lower], b[i.upper]), 0.12000000000000001);
        let single = Interpolation::percentile(1, 37.0);
        assert_eq!((single.lower, single.upper), (0, 0));
    }

    #[test]
    fn median_conventions() {
        assert_eq!(median_ranks(11), (5, 5));
        assert_eq!(median_ranks(10), (4, 5));
        assert_eq!(midpoint(3.5, 4.0), 3.75);
        assert_eq!(midpoint(f64::MAX, f64::MAX), f64::MAX);
    }
}
