//! Bounded image decoding: the format is recognised from the bytes (never the file name),
//! the dimensions are read from the header and checked against a pixel limit *before* any
//! pixel is decoded (a 100 000 x 100 000 PNG of a few KB cannot allocate 40 GB), and the
//! decoder runs under the same allocation limit.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits, RgbImage};

use crate::SafetyError;

/// Formats this build decodes (the `image` crate features enabled in Cargo.toml).
const SUPPORTED: [ImageFormat; 5] = [
    ImageFormat::Png,
    ImageFormat::Jpeg,
    ImageFormat::Gif,
    ImageFormat::Bmp,
    ImageFormat::WebP,
];

/// Size limits for decoding.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Largest accepted file, in bytes.
    pub max_bytes: usize,
    /// Largest accepted width x height.
    pub max_pixels: u64,
}

/// Reads the format and dimensions from the header.
///
/// # Errors
/// [`SafetyError::ImageFileTooLarge`], [`SafetyError::NotAnImage`],
/// [`SafetyError::ImageDecode`] (unreadable header), [`SafetyError::ImageTooLarge`].
pub fn probe(bytes: &[u8], limits: DecodeLimits) -> Result<(ImageFormat, u32, u32), SafetyError> {
    if bytes.len() > limits.max_bytes {
        return Err(SafetyError::ImageFileTooLarge {
            len: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let format = image::guess_format(bytes).map_err(|e| SafetyError::NotAnImage {
        reason: e.to_string(),
    })?;
    if !SUPPORTED.contains(&format) {
        return Err(SafetyError::NotAnImage {
            reason: format!("{format:?} images are not supported"),
        });
    }
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|e| SafetyError::ImageDecode {
            reason: format!("cannot read the {format:?} header: {e}"),
        })?;
    if u64::from(width) * u64::from(height) > limits.max_pixels || width == 0 || height == 0 {
        return Err(SafetyError::ImageTooLarge {
            width,
            height,
            max_pixels: limits.max_pixels,
        });
    }
    Ok((format, width, height))
}

/// Decodes `bytes` to 8-bit RGB (alpha dropped, grey replicated — what Pillow's
/// `convert("RGB")` does), within `limits`.
///
/// # Errors
/// As [`probe`], and [`SafetyError::ImageDecode`] for truncated or corrupt data.
pub fn decode_rgb(bytes: &[u8], limits: DecodeLimits) -> Result<RgbImage, SafetyError> {
    let (format, width, height) = probe(bytes, limits)?;
    // The JPEG decoder fills a truncated scan with grey instead of failing (Pillow raises
    // "image file is truncated"); a file cut short must not be screened as if whole.
    if format == ImageFormat::Jpeg && !bytes.windows(2).any(|w| w == [0xFF, 0xD9]) {
        return Err(SafetyError::ImageDecode {
            reason: "truncated JPEG (no end-of-image marker)".to_owned(),
        });
    }
    // Baseline JPEGs are decoded as libjpeg-turbo decodes them (Pillow's pixels); other
    // JPEG flavours fall back to the `image` crate's decoder.
    if format == ImageFormat::Jpeg
        && let Some(img) = super::jpeg_decode::decode_baseline(bytes)
    {
        return Ok(img);
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut l = Limits::default();
    l.max_image_width = Some(width);
    l.max_image_height = Some(height);
    // At most 8 bytes a pixel (16-bit RGBA), plus slack for the decoders' own buffers.
    l.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(64 << 20));
    reader.limits(l);
    let img = reader.decode().map_err(|e| SafetyError::ImageDecode {
        reason: format!("{format:?}: {e}"),
    })?;
    Ok(img.to_rgb8())
}
