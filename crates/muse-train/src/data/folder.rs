//! A folder of class sub-folders of PNG images (`DIR/<class name>/*.png`), the layout of
//! torchvision's `ImageFolder`. Images are converted to 8-bit grayscale and must all share one
//! size; the class name becomes the caption noun. Every 10th image of each class is the test
//! split.

use std::path::Path;

use super::{ImageSet, Split, every_kth_split, subset};
use crate::{Result, TrainError};

/// Loads `dir`'s class folders in sorted order.
pub fn load(dir: &Path, split: Split) -> Result<ImageSet> {
    let mut classes: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| TrainError::io(dir, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .collect();
    classes.sort_by_key(|e| e.file_name());
    if classes.is_empty() {
        return Err(TrainError::malformed(
            dir,
            "no class sub-folders (expected DIR/<class name>/*.png)",
        ));
    }
    let mut size = None;
    let (mut pixels, mut labels, mut names) = (Vec::new(), Vec::new(), Vec::new());
    for (label, class) in classes.iter().enumerate() {
        names.push(class.file_name().to_string_lossy().replace(['_', '-'], " "));
        let mut files: Vec<_> = std::fs::read_dir(class.path())
            .map_err(|e| TrainError::io(class.path(), e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("png")))
            .collect();
        files.sort();
        for path in files {
            let img = image::open(&path)
                .map_err(|e| TrainError::malformed(&path, format!("not a readable PNG: {e}")))?
                .to_luma8();
            let dims = (img.width() as usize, img.height() as usize);
            match size {
                None => size = Some(dims),
                Some(s) if s != dims => {
                    return Err(TrainError::malformed(
                        &path,
                        format!(
                            "is {}x{}, the first image was {}x{}",
                            dims.0, dims.1, s.0, s.1
                        ),
                    ));
                }
                Some(_) => {}
            }
            pixels.extend_from_slice(img.as_raw());
            labels.push(label);
        }
    }
    let Some((width, height)) = size else {
        return Err(TrainError::malformed(
            dir,
            "the class folders hold no PNG images",
        ));
    };
    let set = ImageSet {
        width,
        height,
        pixels,
        labels,
        classes: names,
    };
    let keep = every_kth_split(&set.labels, 10, split);
    Ok(subset(set, &keep))
}
