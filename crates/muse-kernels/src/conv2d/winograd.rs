//! Stride-1 3×3 convolution by Winograd's minimal filtering F(2×2, 3×3), after Lavin & Gray,
//! "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016), §4.1:
//! `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A` for each 4×4 input tile `d` and 2×2 output tile `Y`.
//!
//! Summed over input channels, the element-wise product becomes 16 independent GEMMs,
//! `M_ξ (c_out × P) = U_ξ (c_out × c_in) · V_ξ (c_in × P)` over the `P` tiles of an image, which
//! needs 16 multiplies per 2×2 outputs against im2col's 36: 2.25× fewer. That is what the
//! UNets' 3×3 convolutions at 32² and 16² spend most of their time on (docs/benchmarks.md).
//!
//! Layout, chosen so the transform loops run over contiguous memory and vectorise:
//! * `U [16][c_out][c_in]` — the filter transforms, one pass over the filters; a caller whose
//!   weights do not change keeps them ([`WinogradWeights`]) instead of redoing them per call;
//! * `V [c_in][16][P]` — one channel's tiles per parallel task, `P` covering all the images a
//!   task holds (up to ≈ 1024 tiles, so 16×16 maps still give wide GEMMs); the GEMM reads
//!   plane ξ with a row stride of `16·P`. The input rows are first split into even and odd
//!   columns, so a tile row `(d[2t], d[2t+1], d[2t+2], d[2t+3])` is
//!   `(even[t], odd[t], even[t+1], odd[t+1])`;
//! * `M [16][c_out][P]`, folded back by the output transform one output channel per task.
//!
//! F(2, 3) is the variant with small, exact coefficients (0, ±1, ½), so its rounding error stays
//! at the level of the direct sum; larger tiles (F(4, 3)) save more multiplies but lose digits.

use rayon::prelude::*;

use super::{Conv2dShape, MatRef, gemm_into, split, with_scratch};
use crate::KernelError;

/// Transformed elements per tile (4 × 4).
const XI: usize = 16;

/// Whether the Winograd path is taken for `s`: 3×3, stride 1, enough channels for the GEMMs to
/// dominate the transforms, and enough tiles per image for them to run at speed.
pub(super) fn applies(s: &Conv2dShape) -> bool {
    enabled()
        && s.kh == 3
        && s.kw == 3
        && s.stride == 1
        && s.c_in >= 16
        && s.c_out >= 16
        && s.out_h() >= 16
        && s.out_w() >= 16
}

/// False when `MUSE_NO_WINOGRAD` is set to anything but empty or `0`: im2col + GEMM for every
/// convolution, for A/B measurements.
fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("MUSE_NO_WINOGRAD").map_or(true, |v| v.is_empty() || v == "0"))
}

/// Tiles per column and per row of the output.
fn tiles(s: &Conv2dShape) -> (usize, usize) {
    (s.out_h().div_ceil(2), s.out_w().div_ceil(2))
}

/// `G·(a, b, c)` for the filter transform: G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1].
fn filter_1d(a: f32, b: f32, c: f32) -> [f32; 4] {
    [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c]
}

/// `U [16][c_out·c_in]` from OIHW 3×3 weights: `G g Gᵀ` per filter.
fn transform_weights(c_out: usize, c_in: usize, w: &[f32]) -> Vec<f32> {
    let kc = c_out * c_in;
    let mut u = vec![0f32; XI * kc];
    for (e, g) in w.chunks_exact(9).enumerate() {
        // Columns of G g: the filter's three columns through G.
        let cols: [[f32; 4]; 3] = [0, 1, 2].map(|j| filter_1d(g[j], g[3 + j], g[6 + j]));
        for (i, row) in (0..4)
            .map(|i| filter_1d(cols[0][i], cols[1][i], cols[2][i]))
            .enumerate()
        {
            for (k, v) in row.into_iter().enumerate() {
                u[(i * 4 + k) * kc + e] = v;
            }
        }
    }
    u
}

/// The filter transforms of one weight tensor, computed once and reused for every call while
/// the weights do not change (inference): at batch 1 the transform costs as much as the
/// products it saves.
#[derive(Clone)]
pub struct WinogradWeights {
    c_out: usize,
    c_in: usize,
    u: Vec<f32>,
}

impl std::fmt::Debug for WinogradWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WinogradWeights({}x{}x3x3)", self.c_out, self.c_in)
    }
}

impl WinogradWeights {
    /// Bytes the transforms of a `[c_out, c_in, 3, 3]` weight take (`None` on overflow), so a
    /// cache can budget them before computing them.
    pub fn bytes_for(c_out: usize, c_in: usize) -> Option<usize> {
        c_out
            .checked_mul(c_in)?
            .checked_mul(XI * std::mem::size_of::<f32>())
    }

    /// Transforms OIHW 3×3 weights `[c_out, c_in, 3, 3]`.
    ///
    /// # Errors
    /// [`KernelError::Shape`] when `weight` does not hold `c_out · c_in · 9` values.
    pub fn new(c_out: usize, c_in: usize, weight: &[f32]) -> Result<Self, KernelError> {
        let values = c_out.checked_mul(c_in).and_then(|n| n.checked_mul(9));
        if values != Some(weight.len()) || c_out == 0 || c_in == 0 {
            return Err(KernelError::Shape(format!(
                "winograd: {} weight values for {c_out}x{c_in}x3x3",
                weight.len()
            )));
        }
        Ok(Self {
            c_out,
            c_in,
            u: transform_weights(c_out, c_in, weight),
        })
    }

    pub(super) fn fits(&self, s: &Conv2dShape) -> bool {
        self.c_out == s.c_out && self.c_in == s.c_in && s.kh == 3 && s.kw == 3
    }
}

/// `Bᵀx` element-wise over four rows: Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1].
fn input_1d(d: [&[f32]; 4], out: &mut [Vec<f32>; 4]) {
    let [o0, o1, o2, o3] = out;
    let n = o0.len();
    let (o0, o1, o2, o3) = (&mut o0[..n], &mut o1[..n], &mut o2[..n], &mut o3[..n]);
    let [d0, d1, d2, d3] = d.map(|x| &x[..n]);
    for i in 0..n {
        o0[i] = d0[i] - d2[i];
        o1[i] = d1[i] + d2[i];
        o2[i] = d2[i] - d1[i];
        o3[i] = d1[i] - d3[i];
    }
}

/// Splits input row `src` (zero outside) into `even[j] = src[2j − pad]` and
/// `odd[j] = src[2j + 1 − pad]`.
fn deinterleave(src: &[f32], pad: usize, even: &mut [f32], odd: &mut [f32]) {
    let at = |x: usize| -> f32 {
        x.checked_sub(pad)
            .and_then(|i| src.get(i))
            .copied()
            .unwrap_or(0.0)
    };
    // Interior: whole pairs (2j − pad, 2j + 1 − pad) inside the row, when pad is even the pairs
    // are the row's own pairs; the edges go through `at`.
    let first = pad.div_ceil(2);
    let inner_end = ((src.len() + pad) / 2).min(even.len()).max(first);
    for j in (0..first).chain(inner_end..even.len()) {
        even[j] = at(2 * j);
        odd[j] = at(2 * j + 1);
    }
    let start = 2 * first - pad;
    let pairs = src[start.min(src.len())..].chunks_exact(2);
    for ((e, o), pair) in even[first..inner_end]
        .iter_mut()
        .zip(&mut odd[first..inner_end])
        .zip(pairs)
    {
        *e = pair[0];
        *o = pair[1];
    }
}

/// Per-task buffers of the input transform: four input rows split into even / odd columns,
/// and their row transforms.
struct InputRows {
    even: [Vec<f32>; 4],
    odd: [Vec<f32>; 4],
    t_even: [Vec<f32>; 4],
    t_odd: [Vec<f32>; 4],
}

impl InputRows {
    fn new(len: usize) -> Self {
        let v = || [0; 4].map(|_| vec![0f32; len]);
        Self {
            even: v(),
            odd: v(),
            t_even: v(),
            t_odd: v(),
        }
    }
}

/// Transforms one input channel `plane [h][w]` into its 16 tile planes: plane ξ of `v` is
/// `v[ξ·stride..]`, and this image's tiles start at `offset` in it (several images share the
/// planes, so one GEMM covers them all).
fn transform_channel(
    s: &Conv2dShape,
    plane: &[f32],
    v: &mut [f32],
    (offset, stride): (usize, usize),
    rows: &mut InputRows,
) {
    let (th, tw) = tiles(s);
    let pad = s.padding as isize;
    for ty in 0..th {
        for i in 0..4 {
            let y = (2 * ty + i) as isize - pad;
            let (even, odd) = (&mut rows.even[i], &mut rows.odd[i]);
            if y < 0 || y >= s.h as isize {
                even.fill(0.0);
                odd.fill(0.0);
                continue;
            }
            let src = &plane[y as usize * s.w..(y as usize + 1) * s.w];
            deinterleave(src, s.padding, even, odd);
        }
        let e = &rows.even;
        input_1d([&e[0], &e[1], &e[2], &e[3]], &mut rows.t_even);
        let o = &rows.odd;
        input_1d([&o[0], &o[1], &o[2], &o[3]], &mut rows.t_odd);
        for r in 0..4 {
            let (te, to) = (&rows.t_even[r], &rows.t_odd[r]);
            let base = offset + ty * tw;
            let mut planes = v.chunks_exact_mut(stride).skip(4 * r);
            let mut next = || planes.next().map(|pl| &mut pl[base..base + tw]);
            let (Some(v0), Some(v1), Some(v2), Some(v3)) = (next(), next(), next(), next()) else {
                // `v` holds 16 planes by construction; fail loudly in tests if that ever breaks.
                debug_assert!(false, "winograd: fewer than 16 tile planes");
                return;
            };
            input_columns(v0, v1, v2, v3, te, to);
        }
    }
}

/// The column half of the input transform for one tile row: tile `t` is
/// `(even[t], odd[t], even[t+1], odd[t+1])` through Bᵀ, into `v0..v3[t]`. A function of its
/// own so the output slices are arguments, which LLVM knows do not alias the inputs: inlined
/// into the caller this loop stayed scalar.
#[inline(never)]
fn input_columns(
    v0: &mut [f32],
    v1: &mut [f32],
    v2: &mut [f32],
    v3: &mut [f32],
    even: &[f32],
    odd: &[f32],
) {
    let n = v0.len();
    let (v1, v2, v3) = (&mut v1[..n], &mut v2[..n], &mut v3[..n]);
    let (e0, e1) = (&even[..n], &even[1..=n]);
    let (o0, o1) = (&odd[..n], &odd[1..=n]);
    for t in 0..n {
        v0[t] = e0[t] - e1[t];
        v1[t] = o0[t] + e1[t];
        v2[t] = e1[t] - o0[t];
        v3[t] = o0[t] - o1[t];
    }
}

/// Folds one output channel's 16 tile planes into `out [oh][ow]`: `m` is all of `M`
/// (`[16][c_out][stride]`), `k` the channel, `offset` where this image's tiles start.
fn output_channel(
    s: &Conv2dShape,
    m: &[f32],
    k: usize,
    (offset, stride): (usize, usize),
    out: &mut [f32],
    s_buf: &mut [Vec<f32>; 8],
) {
    let (th, tw) = tiles(s);
    let (oh, ow) = (s.out_h(), s.out_w());
    let plane = |xi: usize, ty: usize| -> &[f32] {
        let at = (xi * s.c_out + k) * stride + offset + ty * tw;
        &m[at..at + tw]
    };
    for ty in 0..th {
        // Rows through Aᵀ = [1 1 1 0; 0 1 −1 −1]: s_buf[row·4 + col].
        for col in 0..4 {
            let (m0, m1, m2, m3) = (
                plane(col, ty),
                plane(4 + col, ty),
                plane(8 + col, ty),
                plane(12 + col, ty),
            );
            let (lo, hi) = s_buf.split_at_mut(4);
            output_rows(&mut lo[col], &mut hi[col], m0, m1, m2, m3);
        }
        for row in 0..2 {
            let y = 2 * ty + row;
            if y >= oh {
                break;
            }
            let q = &s_buf[row * 4..row * 4 + 4];
            output_columns(&mut out[y * ow..(y + 1) * ow], &q[0], &q[1], &q[2], &q[3]);
        }
    }
}

/// The row half of the output transform (Aᵀ = [1 1 1 0; 0 1 −1 −1]) over one tile row's
/// planes. Slices as arguments, so LLVM knows they do not alias and vectorises.
#[inline(never)]
fn output_rows(s0: &mut [f32], s1: &mut [f32], m0: &[f32], m1: &[f32], m2: &[f32], m3: &[f32]) {
    let n = s0.len();
    let (s1, m0, m1, m2, m3) = (&mut s1[..n], &m0[..n], &m1[..n], &m2[..n], &m3[..n]);
    for t in 0..n {
        s0[t] = m0[t] + m1[t] + m2[t];
        s1[t] = m1[t] - m2[t] - m3[t];
    }
}

/// The column half: tile `t`'s two outputs into `dst[2t]` and `dst[2t + 1]` (the last one
/// dropped when the width is odd).
#[inline(never)]
fn output_columns(dst: &mut [f32], q0: &[f32], q1: &[f32], q2: &[f32], q3: &[f32]) {
    let pairs = dst.len() / 2;
    let (a, b, c, d) = (&q0[..pairs], &q1[..pairs], &q2[..pairs], &q3[..pairs]);
    let (body, tail) = dst.split_at_mut(2 * pairs);
    for t in 0..pairs {
        body[2 * t] = a[t] + b[t] + c[t];
        body[2 * t + 1] = b[t] - c[t] - d[t];
    }
    if let ([last], Some(x0), Some(x1), Some(x2)) =
        (tail, q0.get(pairs), q1.get(pairs), q2.get(pairs))
    {
        *last = x0 + x1 + x2;
    }
}

/// Forward convolution through F(2×2, 3×3), with the filter transforms of `pre` when they fit;
/// the caller has checked the slices and [`applies`].
pub(super) fn forward(
    s: &Conv2dShape,
    x: &[f32],
    weight: &[f32],
    pre: Option<&WinogradWeights>,
) -> Vec<f32> {
    let (th, tw) = tiles(s);
    let p = th * tw;
    let (c, k) = (s.c_in, s.c_out);
    let img_len = c * s.h * s.w;
    let out_plane = s.out_h() * s.out_w();
    let out_len = k * out_plane;
    let fresh;
    let u: &[f32] = match pre {
        Some(w) if w.fits(s) => &w.u,
        _ => {
            fresh = transform_weights(k, c, weight);
            &fresh
        }
    };
    let mut out = vec![0f32; s.batch * out_len];
    let (per_task, threads) = split(s.batch);
    // Few images: each image's transforms and GEMMs are spread over the threads; many: one task
    // per run of images, in one piece (`with_min_len` past the count keeps rayon from splitting).
    let inner = if threads > 1 { 1 } else { usize::MAX };
    // A task's images share the tile planes, up to ≈ 1024 tiles: wider GEMMs (16×16 maps have
    // only 64 tiles an image) and one packing of U_ξ for all of them.
    let group = (1024 / p).clamp(1, per_task);
    out.par_chunks_mut(per_task * out_len)
        .zip(x.par_chunks(per_task * img_len))
        .for_each(|(outs, imgs)| {
            for (o, img) in outs
                .chunks_mut(group * out_len)
                .zip(imgs.chunks(group * img_len))
            {
                let n_img = img.len() / img_len;
                let pt = n_img * p;
                with_scratch(c * XI * pt, XI * k * pt, |v, m| {
                    v.par_chunks_mut(XI * pt)
                        .enumerate()
                        .with_min_len(inner)
                        .for_each_init(
                            || InputRows::new(tw + 1),
                            |rows, (ci, vc)| {
                                for i in 0..n_img {
                                    let at = (i * c + ci) * s.h * s.w;
                                    let plane = &img[at..at + s.h * s.w];
                                    transform_channel(s, plane, vc, (i * p, pt), rows);
                                }
                            },
                        );
                    let v_ptr = v.as_ptr() as usize;
                    m.par_chunks_mut(k * pt)
                        .enumerate()
                        .with_min_len(inner)
                        .for_each(|(xi, dst)| {
                            let a = MatRef {
                                ptr: u[xi * k * c..].as_ptr(),
                                row_stride: c as isize,
                                col_stride: 1,
                            };
                            let b = MatRef {
                                ptr: (v_ptr as *const f32).wrapping_add(xi * pt),
                                row_stride: (XI * pt) as isize,
                                col_stride: 1,
                            };
                            // SAFETY: U_ξ is k × c (row stride c) inside u; V_ξ is c × pt with row
                            // stride 16·pt inside v, which nothing writes during the GEMMs; dst is
                            // this task's own k × pt block of m.
                            unsafe { gemm_into(k, pt, c, dst.as_mut_ptr(), false, a, b, 1) };
                        });
                    let m = &*m;
                    o.par_chunks_mut(out_plane)
                        .enumerate()
                        .with_min_len(inner)
                        .for_each_init(
                            || [0; 8].map(|_| vec![0f32; tw]),
                            |buf, (j, dst)| {
                                let (i, kk) = (j / k, j % k);
                                output_channel(s, m, kk, (i * p, pt), dst, buf);
                            },
                        );
                });
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_only_to_large_stride_1_3x3() {
        let base = Conv2dShape {
            batch: 1,
            c_in: 32,
            h: 32,
            w: 32,
            c_out: 32,
            kh: 3,
            kw: 3,
            stride: 1,
            padding: 1,
        };
        assert!(applies(&base));
        assert!(!applies(&Conv2dShape { stride: 2, ..base }));
        assert!(!applies(&Conv2dShape {
            kh: 1,
            kw: 1,
            padding: 0,
            ..base
        }));
        assert!(!applies(&Conv2dShape { c_in: 3, ..base }));
        assert!(!applies(&Conv2dShape { h: 8, w: 8, ..base }));
    }
}
