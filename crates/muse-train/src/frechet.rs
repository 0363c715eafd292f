//! The Fréchet distance between two Gaussians fitted to feature sets (Dowson & Landau 1982;
//! used for images as FID by Heusel et al., "GANs Trained by a Two Time-Scale Update Rule
//! Converge to a Local Nash Equilibrium", NeurIPS 2017):
//!
//! `d² = ‖μ₁ − μ₂‖² + Tr(Σ₁) + Tr(Σ₂) − 2·Tr((Σ₁ Σ₂)^½)`.
//!
//! `Tr((Σ₁Σ₂)^½)` is computed as `Tr((Σ₁^½ Σ₂ Σ₁^½)^½)` — the same eigenvalues, but of a
//! symmetric positive semi-definite matrix, so two symmetric eigendecompositions (cyclic Jacobi)
//! replace the general matrix square root of the reference implementation (`scipy.linalg.sqrtm`
//! in pytorch-fid) and no complex parts arise. Tested against closed forms (identical sets, pure
//! shifts), the square root's defining identity, and pytorch-fid's formula with scipy on seeded
//! feature sets to 1e-6 relative (`tests/frechet_parity.rs`, `scripts/fixtures/frechet_scipy.py`).

use crate::{Result, TrainError};

/// Mean and (unbiased, `n − 1`) covariance of `rows` feature vectors of length `dim`.
pub fn mean_cov(features: &[f32], dim: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    if dim == 0 || !features.len().is_multiple_of(dim) || features.len() / dim < 2 {
        return Err(TrainError::InvalidParameter {
            name: "features",
            reason: format!(
                "{} values is not at least two rows of {dim}",
                features.len()
            ),
        });
    }
    let n = features.len() / dim;
    let mut mean = vec![0f64; dim];
    for row in features.chunks_exact(dim) {
        for (m, &x) in mean.iter_mut().zip(row) {
            *m += x as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut cov = vec![0f64; dim * dim];
    let mut centred = vec![0f64; dim];
    for row in features.chunks_exact(dim) {
        for ((c, &x), m) in centred.iter_mut().zip(row).zip(&mean) {
            *c = x as f64 - m;
        }
        for i in 0..dim {
            let ci = centred[i];
            for j in i..dim {
                cov[i * dim + j] += ci * centred[j];
            }
        }
    }
    for i in 0..dim {
        for j in i..dim {
            let v = cov[i * dim + j] / (n - 1) as f64;
            cov[i * dim + j] = v;
            cov[j * dim + i] = v;
        }
    }
    Ok((mean, cov))
}

/// Eigenvalues and eigenvectors (columns of the returned row-major matrix) of a symmetric
/// `n × n` matrix, by cyclic Jacobi rotations (Golub & Van Loan, *Matrix Computations*, §8.5).
fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0f64; n * n];
    (0..n).for_each(|i| v[i * n + i] = 1.0);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
        if off <= 1e-26 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let akp = a[k * n + p];
                    let akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = a[p * n + k];
                    let aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let vkp = v[k * n + p];
                    let vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// The symmetric square root `Q diag(√λ) Qᵀ` of a PSD matrix (negative rounding noise → 0).
fn psd_sqrt(a: &[f64], n: usize) -> Vec<f64> {
    let (lambda, q) = symmetric_eigen(a, n);
    let mut out = vec![0f64; n * n];
    for (k, l) in lambda.iter().enumerate() {
        let s = l.max(0.0).sqrt();
        for i in 0..n {
            let qik = q[i * n + k] * s;
            for j in 0..n {
                out[i * n + j] += qik * q[j * n + k];
            }
        }
    }
    out
}

fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0f64; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            for j in 0..n {
                out[i * n + j] += aik * b[k * n + j];
            }
        }
    }
    out
}

/// The squared Fréchet distance between the Gaussians `(mu1, cov1)` and `(mu2, cov2)`.
pub fn frechet_distance(mu1: &[f64], cov1: &[f64], mu2: &[f64], cov2: &[f64]) -> f64 {
    let n = mu1.len();
    let diff: f64 = mu1.iter().zip(mu2).map(|(a, b)| (a - b) * (a - b)).sum();
    let trace = |m: &[f64]| (0..n).map(|i| m[i * n + i]).sum::<f64>();
    let s1 = psd_sqrt(cov1, n);
    let middle = matmul(&matmul(&s1, cov2, n), &s1, n);
    // Symmetrise away rounding before the second decomposition.
    let sym: Vec<f64> = (0..n * n)
        .map(|k| 0.5 * (middle[k] + middle[(k % n) * n + k / n]))
        .collect();
    let (lambda, _) = symmetric_eigen(&sym, n);
    let tr_sqrt: f64 = lambda.iter().map(|l| l.max(0.0).sqrt()).sum();
    diff + trace(cov1) + trace(cov2) - 2.0 * tr_sqrt
}

/// Fréchet distance between two feature sets of width `dim`.
pub fn frechet_distance_of(a: &[f32], b: &[f32], dim: usize) -> Result<f64> {
    let (m1, c1) = mean_cov(a, dim)?;
    let (m2, c2) = mean_cov(b, dim)?;
    Ok(frechet_distance(&m1, &c1, &m2, &c2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_sets_are_at_distance_zero_and_shifts_add_their_square() {
        let a: Vec<f32> = (0..300)
            .map(|i| ((i * 37 % 101) as f32 / 50.0).sin())
            .collect();
        assert!(frechet_distance_of(&a, &a, 3).unwrap().abs() < 1e-8);
        let shifted: Vec<f32> = a.iter().map(|x| x + 2.0).collect();
        // A pure shift by 2 in each of 3 dimensions: d² = 3·4.
        assert!((frechet_distance_of(&a, &shifted, 3).unwrap() - 12.0).abs() < 1e-6);
    }

    #[test]
    fn jacobi_diagonalises() {
        let a = [4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 1.0];
        let (mut l, _) = symmetric_eigen(&a, 3);
        l.sort_by(f64::total_cmp);
        let trace: f64 = l.iter().sum();
        assert!((trace - 8.0).abs() < 1e-12);
        let s = psd_sqrt(&a, 3);
        let back = matmul(&s, &s, 3);
        assert!(back.iter().zip(a).all(|(x, y)| (x - y).abs() < 1e-10));
    }

    #[test]
    fn too_few_rows_is_an_error() {
        assert!(frechet_distance_of(&[1.0, 2.0], &[1.0, 2.0, 3.0, 4.0], 2).is_err());
    }
}
