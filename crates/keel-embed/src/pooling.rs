//! Sentence vectors from token states: masked mean pooling, then optional L2 normalization.

use candle_core::{D, DType, Tensor};

/// The smallest norm divided by, as `torch.nn.functional.normalize` uses.
const NORM_EPS: f64 = 1e-12;

/// Averages `states` (`[batch, seq, hidden]`) over the positions where `mask`
/// (`[batch, seq]`, 1 for tokens, 0 for padding) is set, then scales each row to unit
/// length when `normalize` is on. Returns `[batch, hidden]` rows.
pub(crate) fn mean_pool(
    states: &Tensor,
    mask: &Tensor,
    normalize: bool,
) -> candle_core::Result<Vec<Vec<f32>>> {
    let mask = mask.to_dtype(DType::F32)?;
    let summed = states.broadcast_mul(&mask.unsqueeze(D::Minus1)?)?.sum(1)?;
    let counts = mask.sum_keepdim(1)?;
    let mut pooled = summed.broadcast_div(&counts)?;
    if normalize {
        let norms = pooled
            .sqr()?
            .sum_keepdim(1)?
            .sqrt()?
            .clamp(NORM_EPS, f64::MAX)?;
        pooled = pooled.broadcast_div(&norms)?;
    }
    pooled.to_vec2()
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn padding_positions_do_not_count_and_rows_are_unit_length() {
        let states = Tensor::new(
            &[
                [[1.0f32, 0.0], [3.0, 4.0], [100.0, 100.0]],
                [[0.0, 2.0], [0.0, 2.0], [0.0, 2.0]],
            ],
            &Device::Cpu,
        )
        .unwrap();
        let mask = Tensor::new(&[[1u32, 1, 0], [1, 1, 1]], &Device::Cpu).unwrap();
        let raw = mean_pool(&states, &mask, false).unwrap();
        assert_eq!(raw, vec![vec![2.0, 2.0], vec![0.0, 2.0]]);
        let unit = mean_pool(&states, &mask, true).unwrap();
        let s = std::f32::consts::FRAC_1_SQRT_2;
        assert!((unit[0][0] - s).abs() < 1e-6 && (unit[0][1] - s).abs() < 1e-6);
        assert_eq!(unit[1], vec![0.0, 1.0]);
    }

    #[test]
    fn a_zero_vector_stays_zero_instead_of_dividing_by_zero() {
        let states = Tensor::zeros((1, 2, 3), DType::F32, &Device::Cpu).unwrap();
        let mask = Tensor::new(&[[1u32, 1]], &Device::Cpu).unwrap();
        assert_eq!(mean_pool(&states, &mask, true).unwrap(), vec![vec![0.0; 3]]);
    }
}
