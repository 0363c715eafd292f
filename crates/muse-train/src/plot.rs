//! A loss curve as a PNG: the raw per-step loss in light grey, its running mean in blue, on a
//! logarithmic y axis with decade grid lines — enough to see warm-up, decay and divergence
//! without a plotting library.

use std::path::Path;

use image::{Rgb, RgbImage};

use crate::{Result, TrainError};

const W: u32 = 640;
const H: u32 = 360;
const MARGIN: u32 = 24;

fn line(img: &mut RgbImage, (x0, y0): (i64, i64), (x1, y1): (i64, i64), color: Rgb<u8>) {
    // Bresenham's line algorithm.
    let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
    let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
    let (mut x, mut y, mut err) = (x0, y0, dx + dy);
    loop {
        if x >= 0 && y >= 0 && (x as u32) < W && (y as u32) < H {
            img.put_pixel(x as u32, y as u32, color);
        }
        if x == x1 && y == y1 {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
}

/// Writes the loss curve of `losses` (one per step) to `path`.
pub fn loss_curve(losses: &[f32], path: &Path) -> Result<()> {
    let mut img = RgbImage::from_pixel(W, H, Rgb([255, 255, 255]));
    let finite: Vec<f32> = losses
        .iter()
        .copied()
        .filter(|l| l.is_finite() && *l > 0.0)
        .collect();
    if finite.len() >= 2 {
        let lo = finite
            .iter()
            .copied()
            .fold(f32::INFINITY, f32::min)
            .log10()
            .floor();
        let hi = finite
            .iter()
            .copied()
            .fold(0.0, f32::max)
            .log10()
            .ceil()
            .max(lo + 1.0);
        let (pw, ph) = ((W - 2 * MARGIN) as f32, (H - 2 * MARGIN) as f32);
        let to_y = |l: f32| (MARGIN as f32 + ph * (hi - l.max(1e-12).log10()) / (hi - lo)) as i64;
        let to_x =
            |i: usize| (MARGIN as f32 + pw * i as f32 / (losses.len() - 1).max(1) as f32) as i64;
        let grid = Rgb([225, 225, 225]);
        let mut decade = lo;
        while decade <= hi {
            let y = to_y(10f32.powf(decade));
            line(&mut img, (MARGIN as i64, y), ((W - MARGIN) as i64, y), grid);
            decade += 1.0;
        }
        let axis = Rgb([0, 0, 0]);
        line(
            &mut img,
            (MARGIN as i64, MARGIN as i64),
            (MARGIN as i64, (H - MARGIN) as i64),
            axis,
        );
        line(
            &mut img,
            (MARGIN as i64, (H - MARGIN) as i64),
            ((W - MARGIN) as i64, (H - MARGIN) as i64),
            axis,
        );
        let raw = Rgb([190, 190, 190]);
        let mean = Rgb([30, 90, 200]);
        let window = (losses.len() / 50).max(1);
        let mut prev: Option<(i64, i64)> = None;
        let mut prev_mean: Option<(i64, i64)> = None;
        let mut acc = std::collections::VecDeque::new();
        let mut sum = 0f32;
        for (i, &l) in losses.iter().enumerate() {
            if !l.is_finite() {
                continue;
            }
            let p = (to_x(i), to_y(l));
            if let Some(q) = prev {
                line(&mut img, q, p, raw);
            }
            prev = Some(p);
            acc.push_back(l);
            sum += l;
            if acc.len() > window {
                sum -= acc.pop_front().unwrap_or(0.0);
            }
            let m = (to_x(i), to_y(sum / acc.len() as f32));
            if let Some(q) = prev_mean {
                line(&mut img, q, m, mean);
            }
            prev_mean = Some(m);
        }
    }
    img.save(path)
        .map_err(|e| TrainError::Image(format!("{}: {e}", path.display())))
}
