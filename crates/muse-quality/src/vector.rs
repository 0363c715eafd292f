//! Small vector helpers on embeddings.

/// Cosine similarity; 0 when either vector is zero or the lengths differ.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (*x as f64, *y as f64);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    let d = (aa * bb).sqrt();
    if d > 0.0 && d.is_finite() {
        (ab / d).clamp(-1.0, 1.0)
    } else {
        0.0
    }
}

/// The mean of `vs` (not normalised: [`cosine`] does not need it). Empty for no vectors.
pub fn mean(vs: &[&[f32]]) -> Vec<f32> {
    let Some(first) = vs.first() else {
        return Vec::new();
    };
    let mut m = vec![0.0f32; first.len()];
    for v in vs {
        for (a, b) in m.iter_mut().zip(v.iter()) {
            *a += b;
        }
    }
    let n = vs.len() as f32;
    m.iter_mut().for_each(|a| *a /= n);
    m
}

/// Map `x` linearly so `lo` → 0 and `hi` → 1, clamped to [0, 1]; NaN → 0.
pub fn ramp(x: f64, lo: f64, hi: f64) -> f64 {
    let t = (x - lo) / (hi - lo);
    if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_and_mean() {
        assert!((cosine(&[1.0, 0.0], &[2.0, 0.0]) - 1.0).abs() < 1e-12);
        assert!(cosine(&[1.0, 0.0], &[0.0, 3.0]).abs() < 1e-12);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert_eq!(cosine(&[1.0], &[1.0, 0.0]), 0.0);
        assert_eq!(mean(&[&[1.0, 2.0], &[3.0, 4.0]]), vec![2.0, 3.0]);
        assert_eq!(ramp(0.5, 0.0, 2.0), 0.25);
        assert_eq!(ramp(f64::NAN, 0.0, 1.0), 0.0);
        assert_eq!(ramp(9.0, 0.0, 1.0), 1.0);
    }
}
