//! Pillow's `Image.resize(size, Image.Resampling.BILINEAR)` for 8-bit RGB, bit for bit.
//!
//! Ported from the algorithm of Pillow's `src/libImaging/Resample.c` (`precompute_coeffs`,
//! `normalize_coeffs_8bpc`, `ImagingResampleHorizontal_8bpc` / `Vertical_8bpc`): a separable
//! convolution whose triangle filter is widened by the scale factor when downscaling (so a
//! large photo is averaged, not point-sampled), weights normalised in `f64`, then turned into
//! 22-bit fixed point (`PRECISION_BITS = 32 - 8 - 2`) and accumulated in `i32` with a
//! rounding half added — which is why a float implementation (e.g. the `image` crate's
//! `Triangle` filter) differs from Pillow by one level on some pixels. Horizontal pass first,
//! then vertical, as Pillow does.

use image::RgbImage;

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Per output position: first input index, number of taps; and the fixed-point taps.
struct Coeffs {
    ksize: usize,
    bounds: Vec<(usize, usize)>,
    kk: Vec<i32>,
}

/// Pillow's `bilinear_filter` (support 1).
fn triangle(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 { 1.0 - x } else { 0.0 }
}

/// `precompute_coeffs` for the whole input range + `normalize_coeffs_8bpc`.
fn coeffs(in_size: usize, out_size: usize) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filterscale; // bilinear support 1.0, widened
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut kk = vec![0i32; out_size * ksize];
    let ss = 1.0 / filterscale;
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        // (int) truncates toward zero, like `as`.
        let xmin = ((center - support + 0.5) as i64).max(0);
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) - xmin;
        let (xmin, xmax) = (xmin as usize, xmax.max(0) as usize);
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(xmax) {
            let w = triangle(((x + xmin) as f64 - center + 0.5) * ss);
            *kx = w;
            ww += w;
        }
        for (x, kx) in k.iter().enumerate().take(xmax) {
            let w = if ww == 0.0 { *kx } else { kx / ww };
            let f = w * f64::from(1u32 << PRECISION_BITS);
            kk[xx * ksize + x] = if f < 0.0 {
                (-0.5 + f) as i32
            } else {
                (0.5 + f) as i32
            };
        }
        bounds.push((xmin, xmax));
    }
    Coeffs { ksize, bounds, kk }
}

fn clip8(v: i32) -> u8 {
    (v >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes `src` to `width` x `height` exactly as Pillow's bilinear resize does.
#[must_use]
pub fn resize_bilinear_pil(src: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (w_in, h_in) = (src.width() as usize, src.height() as usize);
    let (w_out, h_out) = (width as usize, height as usize);
    let input = src.as_raw();
    let half = 1i32 << (PRECISION_BITS - 1);

    // Horizontal pass: h_in rows of w_out pixels.
    let horizontal: Vec<u8> = if w_out == w_in {
        input.clone()
    } else {
        let c = coeffs(w_in, w_out);
        let mut out = vec![0u8; h_in * w_out * 3];
        for y in 0..h_in {
            let row = &input[y * w_in * 3..(y + 1) * w_in * 3];
            for (xx, &(xmin, n)) in c.bounds.iter().enumerate() {
                let k = &c.kk[xx * c.ksize..xx * c.ksize + n];
                let mut ss = [half; 3];
                for (x, &kx) in k.iter().enumerate() {
                    let p = &row[(xmin + x) * 3..(xmin + x) * 3 + 3];
                    for ch in 0..3 {
                        ss[ch] += i32::from(p[ch]) * kx;
                    }
                }
                for ch in 0..3 {
                    out[(y * w_out + xx) * 3 + ch] = clip8(ss[ch]);
                }
            }
        }
        out
    };

    // Vertical pass.
    let vertical: Vec<u8> = if h_out == h_in {
        horizontal
    } else {
        let c = coeffs(h_in, h_out);
        let mut out = vec![0u8; h_out * w_out * 3];
        for (yy, &(ymin, n)) in c.bounds.iter().enumerate() {
            let k = &c.kk[yy * c.ksize..yy * c.ksize + n];
            for xx in 0..w_out {
                let mut ss = [half; 3];
                for (y, &ky) in k.iter().enumerate() {
                    let p = &horizontal
                        [((ymin + y) * w_out + xx) * 3..((ymin + y) * w_out + xx) * 3 + 3];
                    for ch in 0..3 {
                        ss[ch] += i32::from(p[ch]) * ky;
                    }
                }
                for ch in 0..3 {
                    out[(yy * w_out + xx) * 3 + ch] = clip8(ss[ch]);
                }
            }
        }
        out
    };
    // The buffer has exactly width * height * 3 bytes by construction.
    RgbImage::from_raw(width, height, vertical).unwrap_or_else(|| RgbImage::new(width, height))
}
