//! Image handling without the model: Pillow-exact resize, bounded decoding with typed errors
//! for non-images, truncated files and decompression bombs, blur and screening.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that meets bad data should fail loudly"
)]

use muse_safety::image::{Rgb, RgbImage};
use muse_safety::{
    DecodeLimits, ImageAction, ImageFilter, ImageVerdict, SafetyError, blur_image, decode,
    preprocess, screen_image,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/nsfw");

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    file: String,
    crop_sha256: String,
    round_trip_sha256: String,
}

const LIMITS: DecodeLimits = DecodeLimits {
    max_bytes: 1 << 20,
    max_pixels: 4_000_000,
};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The 224x224 crop after the 256x256 resize equals Pillow's byte for byte (the reference
/// sha256 comes from `scripts/fixtures/nsfw_onnxruntime.py`) — for JPEG inputs this also
/// checks that the baseline decoder returns libjpeg-turbo's pixels.
#[test]
fn resize_and_crop_match_pillow_exactly() {
    let fx: Fixture = serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURES}/nsfw_onnxruntime.json")).unwrap(),
    )
    .unwrap();
    for case in &fx.cases {
        let bytes = std::fs::read(format!("{FIXTURES}/{}", case.file)).unwrap();
        let img = decode::decode_rgb(&bytes, LIMITS).unwrap();
        let crop = preprocess::resized_crop(&img);
        assert_eq!(crop.dimensions(), (224, 224));
        let sha = hex(&Sha256::digest(crop.as_raw()));
        assert_eq!(sha, case.crop_sha256, "{}", case.file);
    }
}

/// The JPEG round trip equals Pillow's (libjpeg-turbo, quality 75, 4:2:0) byte for byte.
/// Checked on PNG inputs, whose crops are Pillow's exactly, so that only the round trip
/// is under test.
#[test]
fn jpeg_round_trip_matches_libjpeg_turbo_exactly() {
    let fx: Fixture = serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURES}/nsfw_onnxruntime.json")).unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    for case in fx.cases.iter().filter(|c| c.file.ends_with(".png")) {
        let bytes = std::fs::read(format!("{FIXTURES}/{}", case.file)).unwrap();
        let crop = preprocess::resized_crop(&decode::decode_rgb(&bytes, LIMITS).unwrap());
        let trip = muse_safety::jpeg::jpeg_round_trip(&crop);
        assert_eq!(
            hex(&Sha256::digest(trip.as_raw())),
            case.round_trip_sha256,
            "{}",
            case.file
        );
        checked += 1;
    }
    assert!(checked >= 7);
}

#[test]
fn non_images_are_typed_errors() {
    for bytes in [&b"hello, this is text"[..], b"", b"%PDF-1.7\n..."] {
        let e = decode::decode_rgb(bytes, LIMITS).unwrap_err();
        assert!(matches!(e, SafetyError::NotAnImage { .. }), "{e:?}");
    }
}

#[test]
fn truncated_images_are_typed_errors() {
    let bytes = std::fs::read(format!("{FIXTURES}/skin_4.jpg")).unwrap();
    let e = decode::decode_rgb(&bytes[..bytes.len() / 3], LIMITS).unwrap_err();
    assert!(matches!(e, SafetyError::ImageDecode { .. }), "{e:?}");
    let png = std::fs::read(format!("{FIXTURES}/gradient.png")).unwrap();
    let e = decode::decode_rgb(&png[..40], LIMITS).unwrap_err();
    assert!(matches!(e, SafetyError::ImageDecode { .. }), "{e:?}");
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A 69-byte PNG whose header claims `w` x `h` pixels (a decompression bomb's shape).
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    png.extend_from_slice(&[0, 0, 0, 0]);
    png.extend_from_slice(b"IDAT");
    png.extend_from_slice(&crc32(b"IDAT").to_be_bytes());
    png.extend_from_slice(&[0, 0, 0, 0]);
    png.extend_from_slice(b"IEND");
    png.extend_from_slice(&crc32(b"IEND").to_be_bytes());
    png
}

#[test]
fn huge_images_are_refused_before_decoding() {
    let e = decode::decode_rgb(&png_header(100_000, 100_000), LIMITS).unwrap_err();
    match e {
        SafetyError::ImageTooLarge {
            width: 100_000,
            height: 100_000,
            max_pixels: 4_000_000,
        } => {}
        other => panic!("{other:?}"),
    }
    // Within the limit, the same header is just a truncated image.
    let e = decode::decode_rgb(&png_header(100, 100), LIMITS).unwrap_err();
    assert!(matches!(e, SafetyError::ImageDecode { .. }), "{e:?}");
    let big = vec![0u8; (1 << 20) + 1];
    let e = decode::decode_rgb(&big, LIMITS).unwrap_err();
    assert!(matches!(e, SafetyError::ImageFileTooLarge { .. }), "{e:?}");
}

#[test]
fn large_images_are_downscaled() {
    // 3000 x 2000: decoded within the limit, resized to the model's 224 x 224 crop.
    let img = RgbImage::from_fn(3000, 2000, |x, y| {
        Rgb([(x % 256) as u8, (y % 256) as u8, 7])
    });
    let input = preprocess::preprocess(&img);
    assert_eq!(input.len(), 224 * 224 * 3);
}

#[test]
fn blur_obscures_detail() {
    let img = RgbImage::from_fn(128, 128, |x, y| {
        Rgb([if (x / 4 + y / 4) % 2 == 0 { 0 } else { 255 }; 3])
    });
    let b = blur_image(&img);
    assert_eq!(b.dimensions(), img.dimensions());
    let spread = |im: &RgbImage| {
        let v: Vec<u8> = im.pixels().map(|p| p.0[0]).collect();
        v.iter().max().unwrap() - v.iter().min().unwrap()
    };
    assert_eq!(spread(&img), 255);
    assert!(spread(&b) < 40, "{}", spread(&b));
}

/// A stand-in image filter with a fixed action.
struct Fixed(ImageAction);

impl ImageFilter for Fixed {
    fn name(&self) -> &str {
        "fixed"
    }
    fn limits(&self) -> DecodeLimits {
        LIMITS
    }
    fn check_rgb(&self, img: &RgbImage) -> Result<ImageVerdict, SafetyError> {
        Ok(ImageVerdict {
            flagged: self.0 != ImageAction::Allow,
            categories: [("nsfw".to_owned(), 0.9)].into(),
            action: self.0,
            width: img.width(),
            height: img.height(),
        })
    }
}

#[test]
fn screening_applies_the_action() {
    let img = RgbImage::from_fn(64, 64, |x, _| Rgb([if x < 32 { 0 } else { 255 }; 3]));
    let s = screen_image(&Fixed(ImageAction::Allow), img.clone()).unwrap();
    assert_eq!(s.image.as_ref(), Some(&img));
    let s = screen_image(&Fixed(ImageAction::Blur), img.clone()).unwrap();
    assert_ne!(s.image.as_ref(), Some(&img));
    let s = screen_image(&Fixed(ImageAction::Withhold), img).unwrap();
    assert!(s.image.is_none() && s.verdict.flagged);
    let e = Fixed(ImageAction::Allow)
        .check_image(b"not an image")
        .unwrap_err();
    assert!(matches!(e, SafetyError::NotAnImage { .. }));
}

/// Corrupted JPEGs (bytes flipped anywhere, including the headers and Huffman tables) decode
/// or fail with a typed error — never panic.
#[test]
fn corrupted_jpegs_never_panic() {
    let original = std::fs::read(format!("{FIXTURES}/skin_4.jpg")).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..300 {
        let mut bytes = original.clone();
        for _ in 0..4 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let i = (state % bytes.len() as u64) as usize;
            bytes[i] ^= (state >> 32) as u8 | 1;
        }
        match decode::decode_rgb(&bytes, LIMITS) {
            Ok(img) => assert!(img.width() > 0),
            Err(e) => assert!(
                matches!(
                    e,
                    SafetyError::ImageDecode { .. }
                        | SafetyError::NotAnImage { .. }
                        | SafetyError::ImageTooLarge { .. }
                ),
                "{e:?}"
            ),
        }
    }
}
