//! Batch formation: which queued texts run together, under a token budget.
//!
//! A batch costs `longest text × texts` positions, because every text is padded to the
//! longest one. Like text-embeddings-inference, keel bounds that product (the token
//! budget) and the number of texts; unlike a plain first-in-first-out cut, it groups
//! texts of similar length so one long text does not pad thirty short ones.

/// The texts picked for one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Formed {
    /// Positions in the queue, ascending.
    pub(crate) indices: Vec<usize>,
    /// Whether the batch is as large as the limits allow: it holds `max_batch` texts, or
    /// a queued text was left out because the budget had no room for it.
    pub(crate) full: bool,
}

/// Picks a batch from queued texts of token lengths `lens` (queue order, oldest first).
///
/// The oldest text is always taken, so nothing waits forever. The others are taken in
/// order of how close their length is to its length (shorter first on ties, since they
/// never raise the padded width), while `longest × count ≤ budget` and
/// `count ≤ max_batch`. A lone text over the budget still runs, alone.
pub(crate) fn form_batch(lens: &[usize], max_batch: usize, budget: usize) -> Formed {
    let Some(&seed_len) = lens.first() else {
        return Formed {
            indices: Vec::new(),
            full: false,
        };
    };
    let mut order: Vec<usize> = (0..lens.len()).collect();
    order.sort_by_key(|&i| (lens[i], i));
    // Ties sort by queue position, so the oldest text comes first among equals.
    let seed = lens.iter().filter(|&&len| len < seed_len).count();

    // Grow the window [lo, hi] of `order` around the seed.
    let (mut lo, mut hi) = (seed, seed);
    let mut longest = seed_len;
    let mut count = 1;
    let mut blocked = false;
    while count < max_batch.max(1) {
        let shorter = lo.checked_sub(1).map(|j| (j, lens[order[j]]));
        let longer = (hi + 1 < order.len()).then(|| (hi + 1, lens[order[hi + 1]]));
        let fits = |len: usize| longest.max(len) * (count + 1) <= budget;
        let next = match (shorter, longer) {
            (None, None) => break,
            (Some(s), None) => Some(s).filter(|s| fits(s.1)),
            (None, Some(l)) => Some(l).filter(|l| fits(l.1)),
            (Some(s), Some(l)) => {
                let (near, far) = if seed_len - s.1 <= l.1 - seed_len {
                    (s, l)
                } else {
                    (l, s)
                };
                [near, far].into_iter().find(|c| fits(c.1))
            }
        };
        let Some((j, len)) = next else {
            blocked = true;
            break;
        };
        if j < lo {
            lo = j;
        } else {
            hi = j;
        }
        longest = longest.max(len);
        count += 1;
    }
    let mut indices = order[lo..=hi].to_vec();
    indices.sort_unstable();
    Formed {
        full: blocked || count >= max_batch,
        indices,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(lens: &[usize], f: &Formed) -> usize {
        f.indices.iter().map(|&i| lens[i]).max().unwrap_or(0) * f.indices.len()
    }

    #[test]
    fn takes_everything_that_fits_and_is_not_full() {
        let f = form_batch(&[10, 12, 9], 8, 100);
        assert_eq!(
            f,
            Formed {
                indices: vec![0, 1, 2],
                full: false
            }
        );
    }

    #[test]
    fn stops_at_the_batch_size() {
        let f = form_batch(&[5; 10], 4, 1000);
        assert_eq!(
            f,
            Formed {
                indices: vec![0, 1, 2, 3],
                full: true
            }
        );
    }

    #[test]
    fn groups_by_length_so_short_texts_are_not_padded_to_a_long_one() {
        // Oldest is long: it goes with the other long text, not with the short ones.
        let lens = [50, 8, 8, 8, 50, 8];
        let f = form_batch(&lens, 8, 120);
        assert_eq!(
            f,
            Formed {
                indices: vec![0, 4],
                full: true
            }
        );
        // Oldest is short: the short ones go together, the long ones wait.
        let lens = [8, 50, 8, 8, 50, 8];
        let f = form_batch(&lens, 8, 120);
        assert_eq!(f.indices, vec![0, 2, 3, 5]);
        assert!(f.full, "the budget left the long texts out");
    }

    #[test]
    fn never_exceeds_the_budget_unless_alone() {
        let lens = [256, 7, 300, 3, 40, 40, 41, 256, 2, 90, 12, 12, 13];
        for budget in [256, 300, 512, 1000, 4096] {
            let f = form_batch(&lens, 32, budget);
            assert!(f.indices.contains(&0));
            assert!(
                f.indices.len() == 1 || cost(&lens, &f) <= budget,
                "{budget}: {f:?}"
            );
        }
        let f = form_batch(&[500, 1], 8, 256);
        assert_eq!(
            f,
            Formed {
                indices: vec![0],
                full: true
            }
        );
    }

    #[test]
    fn empty_queue_forms_nothing() {
        assert_eq!(form_batch(&[], 8, 100).indices, Vec::<usize>::new());
    }
}
