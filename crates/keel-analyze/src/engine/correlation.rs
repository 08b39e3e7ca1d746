//! Pearson correlation matrix by the two-pass method: co-moments of values centred on the
//! means from the moments pass, summed pairwise per chunk and compensated across chunks.

use super::context::Ctx;
use super::moments::Moments;
use super::sum::{Compensated, pairwise2_by};
use crate::error::AnalysisError;

/// One column as the correlation pass sees it.
pub(crate) struct Series<'a> {
    pub(crate) values: &'a [f64],
    pub(crate) moments: Moments,
}

/// The correlation matrix of equally long columns; `None` where a column is constant.
pub(crate) fn matrix(
    ctx: &Ctx<'_>,
    series: &[Series<'_>],
) -> Result<Vec<Vec<Option<f64>>>, AnalysisError> {
    let k = series.len();
    let rows = series[0].values.len();
    let pairs: Vec<(usize, usize)> = (0..k).flat_map(|i| (i..k).map(move |j| (i, j))).collect();
    let partials = ctx.map_chunks(rows, k as u64, |range| {
        pairs
            .iter()
            .map(|&(i, j)| {
                let (a, b) = (&series[i], &series[j]);
                let (mean_a, mean_b) = (a.moments.mean, b.moments.mean);
                pairwise2_by(
                    &a.values[range.clone()],
                    &b.values[range.clone()],
                    |x, y| (x - mean_a) * (y - mean_b),
                )
            })
            .collect::<Vec<f64>>()
    })?;
    let mut co = vec![Compensated::default(); pairs.len()];
    for partial in partials {
        for (sum, value) in co.iter_mut().zip(partial) {
            sum.add(value);
        }
    }
    let mut comoment = vec![vec![0.0; k]; k];
    for (&(i, j), sum) in pairs.iter().zip(&co) {
        comoment[i][j] = sum.total();
        comoment[j][i] = sum.total();
    }
    let constant: Vec<bool> = series
        .iter()
        .map(|s| s.moments.min == s.moments.max)
        .collect();
    Ok((0..k)
        .map(|i| {
            (0..k)
                .map(|j| {
                    if constant[i] || constant[j] {
                        None
                    } else if i == j {
                        Some(1.0)
                    } else {
                        let (sii, sjj) = (comoment[i][i], comoment[j][j]);
                        let product = sii * sjj;
                        let scale = if product.is_finite() && product > 0.0 {
                            product.sqrt()
                        } else {
                            sii.sqrt() * sjj.sqrt()
                        };
                        Some((comoment[i][j] / scale).clamp(-1.0, 1.0))
                    }
                })
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::{Series, matrix};
    use crate::cancel::CancelToken;
    use crate::engine::context::Ctx;
    use crate::engine::moments::moments;

    fn correlate(columns: &[&[f64]]) -> Vec<Vec<Option<f64>>> {
        let cancel = CancelToken::new();
        let ctx = Ctx::new(&cancel, &|_, _| {}, 0);
        let series: Vec<Series<'_>> = columns
            .iter()
            .map(|values| Series {
                values,
                moments: moments(&ctx, values).unwrap(),
            })
            .collect();
        matrix(&ctx, &series).unwrap()
    }

    #[test]
    fn known_coefficients() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let up = [2.0, 4.0, 6.0, 8.0, 10.0];
        let down = [5.0, 4.0, 3.0, 2.0, 1.0];
        let noisy = [2.0, 1.0, 4.0, 3.0, 5.0];
        let m = correlate(&[&x, &up, &down, &noisy]);
        assert_eq!(m[0][1], Some(1.0));
        assert_eq!(m[0][2], Some(-1.0));
        // numpy.corrcoef([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])[0, 1] == 0.8
        assert!((m[0][3].unwrap() - 0.8).abs() < 1e-15);
        assert_eq!(m[3][0], m[0][3]);
        assert!((0..4).all(|i| m[i][i] == Some(1.0)));
    }

    #[test]
    fn constant_columns_have_no_coefficient() {
        let m = correlate(&[&[1.0, 2.0, 3.0], &[0.1, 0.1, 0.1]]);
        assert_eq!(m, [[Some(1.0), None], [None, None]]);
    }
}
