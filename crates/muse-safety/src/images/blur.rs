//! Obscuring an image that must not be shown as is: a blur strong enough that nothing is
//! recognisable, whatever the image size (sigma is 1/16 of the longer side, at least 8 px).

use image::RgbImage;
use image::imageops::fast_blur;

/// Blurs `img` heavily (box-filter approximation of a Gaussian, linear in the pixel count).
///
/// ```
/// use image::RgbImage;
/// let img = RgbImage::from_fn(64, 64, |x, _| image::Rgb([if x < 32 { 0 } else { 255 }; 3]));
/// let blurred = muse_safety::blur_image(&img);
/// assert_eq!(blurred.dimensions(), (64, 64));
/// ```
#[must_use]
pub fn blur_image(img: &RgbImage) -> RgbImage {
    let longer = img.width().max(img.height());
    let sigma = (longer as f32 / 16.0).max(8.0);
    fast_blur(img, sigma)
}
