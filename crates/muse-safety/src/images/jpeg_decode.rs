//! A baseline JPEG decoder that returns the pixels Pillow (libjpeg-turbo, default settings)
//! returns, so that JPEG inputs score as in the reference package.
//!
//! The lossy stages are the ones of [`jpeg`](super::jpeg) (integer IDCT `jidctint.c`, fancy
//! 2x2 upsampling, `jdcolor.c` YCbCr→RGB), already checked byte for byte against Pillow; this
//! file adds only the lossless part — markers, quantisation and Huffman tables, the
//! entropy-coded scan (ITU T.81 Annex F, with restart intervals). It handles what cameras and
//! Pillow write by default: 8-bit baseline/extended Huffman, one interleaved scan, greyscale or
//! YCbCr with 4:4:4 or 4:2:0 sampling. Anything else (progressive, arithmetic coding, 4:2:2,
//! CMYK or Adobe RGB, several scans) returns `None`, and the caller falls back to the `image`
//! crate's decoder (`zune-jpeg`), whose output can differ by a few levels.

use image::RgbImage;

use super::jpeg::{Dct, Plane, upsample, ycc_to_rgb};

/// Position in zig-zag order → natural (row-major) index (`jpeg_natural_order`).
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// A Huffman table in the `maxcode` / `valptr` form of T.81 F.2.2.3.
#[derive(Clone)]
struct Huffman {
    mincode: [i32; 17],
    maxcode: [i32; 18],
    valptr: [usize; 17],
    values: Vec<u8>,
}

impl Huffman {
    fn new(counts: &[u8; 16], values: Vec<u8>) -> Option<Self> {
        let mut mincode = [0i32; 17];
        let mut maxcode = [-1i32; 18];
        let mut valptr = [0usize; 17];
        let (mut code, mut k) = (0i32, 0usize);
        for l in 1..=16 {
            let n = usize::from(counts[l - 1]);
            if n > 0 {
                valptr[l] = k;
                mincode[l] = code;
                code += i32::try_from(n).ok()?;
                k += n;
                maxcode[l] = code - 1;
            }
            code <<= 1;
        }
        maxcode[17] = i32::MAX;
        (k <= values.len()).then_some(Self {
            mincode,
            maxcode,
            valptr,
            values,
        })
    }
}

/// Reads the entropy-coded segment bit by bit, removing stuffed zero bytes; at a marker it
/// feeds zeros (as libjpeg does) and remembers that it stopped.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u32,
    n: u32,
    at_marker: bool,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            acc: 0,
            n: 0,
            at_marker: false,
        }
    }

    fn bit(&mut self) -> u32 {
        if self.n == 0 {
            let mut byte = 0u8;
            if !self.at_marker {
                match self.data.get(self.pos) {
                    None => self.at_marker = true,
                    Some(&0xFF) => {
                        if self.data.get(self.pos + 1) == Some(&0x00) {
                            byte = 0xFF;
                            self.pos += 2;
                        } else {
                            self.at_marker = true;
                        }
                    }
                    Some(&b) => {
                        byte = b;
                        self.pos += 1;
                    }
                }
            }
            self.acc = u32::from(byte);
            self.n = 8;
        }
        self.n -= 1;
        (self.acc >> self.n) & 1
    }

    fn bits(&mut self, count: u32) -> i32 {
        let mut v = 0i32;
        for _ in 0..count {
            v = (v << 1) | i32::try_from(self.bit()).unwrap_or(0);
        }
        v
    }

    fn decode(&mut self, h: &Huffman) -> Option<u8> {
        let mut code = 0i32;
        for l in 1..=16 {
            code = (code << 1) | i32::try_from(self.bit()).unwrap_or(0);
            if code <= h.maxcode[l] {
                let i = h.valptr[l] + usize::try_from(code - h.mincode[l]).ok()?;
                return h.values.get(i).copied();
            }
        }
        None
    }

    /// Skips to the next RST marker after a restart interval; resets the bit buffer.
    fn restart(&mut self) -> Option<()> {
        self.n = 0;
        self.at_marker = false;
        while self.pos + 1 < self.data.len() {
            if self.data[self.pos] == 0xFF && (0xD0..=0xD7).contains(&self.data[self.pos + 1]) {
                self.pos += 2;
                return Some(());
            }
            self.pos += 1;
        }
        None
    }
}

/// T.81 F.2.2.1 `EXTEND`.
fn extend(v: i32, t: u32) -> i32 {
    if t == 0 {
        0
    } else if v < (1 << (t - 1)) {
        v - (1 << t) + 1
    } else {
        v
    }
}

struct Component {
    id: u8,
    h: usize,
    v: usize,
    tq: usize,
    td: usize,
    ta: usize,
}

fn u16_at(d: &[u8], i: usize) -> Option<usize> {
    Some(usize::from(*d.get(i)?) << 8 | usize::from(*d.get(i + 1)?))
}

/// Decodes a baseline JPEG the way libjpeg-turbo does with Pillow's settings, or `None` when
/// the file uses a feature outside this decoder's scope (or is malformed).
#[must_use]
pub fn decode_baseline(d: &[u8]) -> Option<RgbImage> {
    if d.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut pos = 2;
    let mut qt = [[0i32; 64]; 4];
    let mut dc: [Option<Huffman>; 4] = [None, None, None, None];
    let mut ac: [Option<Huffman>; 4] = [None, None, None, None];
    let mut comps: Vec<Component> = Vec::new();
    let (mut width, mut height, mut restart) = (0usize, 0usize, 0usize);
    loop {
        while *d.get(pos)? != 0xFF {
            pos += 1;
        }
        while *d.get(pos)? == 0xFF {
            pos += 1;
        }
        let marker = *d.get(pos)?;
        pos += 1;
        if marker == 0xD8 || (0xD0..=0xD7).contains(&marker) {
            continue;
        }
        if marker == 0xD9 {
            return None;
        }
        let len = u16_at(d, pos)?;
        let seg = d.get(pos + 2..pos + len)?;
        match marker {
            0xC0 | 0xC1 => {
                if seg.first() != Some(&8) {
                    return None;
                }
                height = u16_at(seg, 1)?;
                width = u16_at(seg, 3)?;
                let n = usize::from(*seg.get(5)?);
                for i in 0..n {
                    let c = seg.get(6 + 3 * i..9 + 3 * i)?;
                    comps.push(Component {
                        id: c[0],
                        h: usize::from(c[1] >> 4),
                        v: usize::from(c[1] & 15),
                        tq: usize::from(c[2] & 3),
                        td: 0,
                        ta: 0,
                    });
                }
            }
            0xC2..=0xCF if marker != 0xC4 && marker != 0xC8 && marker != 0xCC => return None,
            0xC4 => {
                let mut i = 0;
                while i < seg.len() {
                    let (class, id) = (seg[i] >> 4, usize::from(seg[i] & 3));
                    let counts: [u8; 16] = seg.get(i + 1..i + 17)?.try_into().ok()?;
                    let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
                    let values = seg.get(i + 17..i + 17 + total)?.to_vec();
                    let table = Huffman::new(&counts, values)?;
                    if class == 0 {
                        dc[id] = Some(table);
                    } else {
                        ac[id] = Some(table);
                    }
                    i += 17 + total;
                }
            }
            0xDB => {
                let mut i = 0;
                while i < seg.len() {
                    let (pq, tq) = (seg[i] >> 4, usize::from(seg[i] & 3));
                    for k in 0..64 {
                        qt[tq][ZIGZAG[k]] = if pq == 0 {
                            i32::from(*seg.get(i + 1 + k)?)
                        } else {
                            // 16-bit tables belong to 12-bit JPEGs; keep products in i32.
                            i32::try_from(u16_at(seg, i + 1 + 2 * k)?).ok()?.min(32767)
                        };
                    }
                    i += 1 + if pq == 0 { 64 } else { 128 };
                }
            }
            0xDD => restart = u16_at(seg, 0)?,
            // Adobe APP14: may announce RGB or CMYK data; leave those to the fallback.
            0xEE => return None,
            0xDA => {
                let n = usize::from(*seg.first()?);
                if n != comps.len() {
                    return None;
                }
                for i in 0..n {
                    let (id, t) = (*seg.get(1 + 2 * i)?, *seg.get(2 + 2 * i)?);
                    let c = comps.iter_mut().find(|c| c.id == id)?;
                    c.td = usize::from(t >> 4 & 3);
                    c.ta = usize::from(t & 3);
                }
                return scan(d, pos + len, width, height, &comps, &qt, &dc, &ac, restart);
            }
            _ => {}
        }
        pos += len;
    }
}

/// Decodes the one interleaved scan starting at `start` and converts it to RGB.
#[expect(
    clippy::too_many_arguments,
    reason = "the frame's parsed tables, used once"
)]
fn scan(
    d: &[u8],
    start: usize,
    width: usize,
    height: usize,
    comps: &[Component],
    qt: &[[i32; 64]; 4],
    dc: &[Option<Huffman>; 4],
    ac: &[Option<Huffman>; 4],
    restart: usize,
) -> Option<RgbImage> {
    if width == 0 || height == 0 {
        return None;
    }
    let hmax = comps.iter().map(|c| c.h).max()?;
    let vmax = comps.iter().map(|c| c.v).max()?;
    let layout_ok = match comps {
        [_] => true,
        [y, cb, cr] => {
            (y.id, cb.id, cr.id) != (b'R', b'G', b'B')
                && [cb, cr].iter().all(|c| c.h == 1 && c.v == 1)
                && ((y.h, y.v) == (1, 1) || (y.h, y.v) == (2, 2))
        }
        _ => false,
    };
    if !layout_ok {
        return None;
    }
    // A single-component scan is not interleaved: its MCU is one block.
    let (mcu_w, mcu_h) = if comps.len() == 1 {
        (8, 8)
    } else {
        (8 * hmax, 8 * vmax)
    };
    let (mcus_x, mcus_y) = (width.div_ceil(mcu_w), height.div_ceil(mcu_h));
    let dct = Dct::new();
    let mut planes: Vec<Plane> = comps
        .iter()
        .map(|c| {
            let (bh, bv) = if comps.len() == 1 { (1, 1) } else { (c.h, c.v) };
            let w = mcus_x * bh * 8;
            let h = mcus_y * bv * 8;
            Plane {
                w,
                h,
                data: vec![0; w * h],
            }
        })
        .collect();
    let mut bits = Bits::new(d, start);
    let mut pred = vec![0i32; comps.len()];
    let mut todo = restart;
    for my in 0..mcus_y {
        for mx in 0..mcus_x {
            if restart > 0 {
                if todo == 0 {
                    bits.restart()?;
                    pred.iter_mut().for_each(|p| *p = 0);
                    todo = restart;
                }
                todo -= 1;
            }
            for (ci, c) in comps.iter().enumerate() {
                let (bh, bv) = if comps.len() == 1 { (1, 1) } else { (c.h, c.v) };
                let (dct_t, act_t) = (dc[c.td].as_ref()?, ac[c.ta].as_ref()?);
                for by in 0..bv {
                    for bx in 0..bh {
                        let mut coef = [0i32; 64];
                        let t = u32::from(bits.decode(dct_t)?);
                        if t > 11 {
                            return None;
                        }
                        // libjpeg keeps the DC sum in an int and stores it as a 16-bit JCOEF.
                        pred[ci] = pred[ci].wrapping_add(extend(bits.bits(t), t));
                        coef[0] = i32::from(pred[ci] as i16) * qt[c.tq][0];
                        let mut k = 1;
                        while k < 64 {
                            let rs = bits.decode(act_t)?;
                            let (r, s) = (usize::from(rs >> 4), u32::from(rs & 15));
                            if s == 0 {
                                if r == 15 {
                                    k += 16;
                                    continue;
                                }
                                break;
                            }
                            k += r;
                            let z = *ZIGZAG.get(k)?;
                            coef[z] = extend(bits.bits(s), s) * qt[c.tq][z];
                            k += 1;
                        }
                        let samples = dct.idct(&coef);
                        let plane = &mut planes[ci];
                        let (x0, y0) = ((mx * bh + bx) * 8, (my * bv + by) * 8);
                        for (i, &s) in samples.iter().enumerate() {
                            plane.data[(y0 + i / 8) * plane.w + x0 + i % 8] = s;
                        }
                    }
                }
            }
        }
    }
    // Crop each plane to its real (downsampled) size, as libjpeg's upsampler sees it.
    let crop = |p: &Plane, w: usize, h: usize| Plane {
        w,
        h,
        data: (0..h)
            .flat_map(|y| p.data[y * p.w..y * p.w + w].iter().copied())
            .collect(),
    };
    let y = crop(&planes[0], width, height);
    if comps.len() == 1 {
        let neutral = Plane {
            w: width,
            h: height,
            data: vec![128; width * height],
        };
        return Some(ycc_to_rgb(&y, &neutral, &neutral));
    }
    let (cw, ch) = (width.div_ceil(hmax), height.div_ceil(vmax));
    let chroma = |p: &Plane| {
        let small = crop(p, cw, ch);
        if hmax == 1 {
            small
        } else {
            upsample(&small, width, height)
        }
    };
    Some(ycc_to_rgb(&y, &chroma(&planes[1]), &chroma(&planes[2])))
}
