//! The IDX format of MNIST and Fashion-MNIST (LeCun et al., "The MNIST database",
//! <http://yann.lecun.com/exdb/mnist/>): a big-endian magic `0x0000 08 NN` (`08` = unsigned
//! bytes, `NN` = number of dimensions), `NN` big-endian `u32` sizes, then the bytes. Files may
//! be gzip-compressed (`.gz`), as the Debian package ships them.

use std::io::Read;
use std::path::Path;

use super::{ImageSet, Split};
use crate::{Result, TrainError};

/// Fashion-MNIST's class names, in label order (from the dataset's README).
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

const SETUP_HINT: &str = "`./setup.sh` installs it (step \"dataset fashion-mnist (Debian dataset-fashion-mnist)\"), or `apt-get install dataset-fashion-mnist`";

/// Reads an IDX file (gzip or plain) into `(dims, bytes)`.
pub fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let raw = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
    let data = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| TrainError::malformed(path, format!("gzip stream is corrupt: {e}")))?;
        out
    } else {
        raw
    };
    parse_idx(&data).map_err(|reason| TrainError::malformed(path, reason))
}

fn parse_idx(data: &[u8]) -> Result<(Vec<usize>, Vec<u8>), String> {
    let header = data.get(..4).ok_or("shorter than the 4-byte IDX magic")?;
    if header[0] != 0 || header[1] != 0 || header[2] != 0x08 {
        return Err(format!(
            "not an unsigned-byte IDX file (magic {header:02x?}, expected 00 00 08 NN)"
        ));
    }
    let ndim = header[3] as usize;
    if ndim == 0 || ndim > 4 {
        return Err(format!("{ndim} dimensions; expected 1 to 4"));
    }
    let mut dims = Vec::with_capacity(ndim);
    for d in 0..ndim {
        let at = 4 + 4 * d;
        let b = data
            .get(at..at + 4)
            .ok_or("truncated inside the dimension sizes")?;
        dims.push(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
    }
    let start = 4 + 4 * ndim;
    let want = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or("dimension sizes overflow")?;
    let body = &data[start..];
    if body.len() != want {
        return Err(format!(
            "dimensions {dims:?} need {want} bytes of data, found {}",
            body.len()
        ));
    }
    Ok((dims, body.to_vec()))
}

/// Loads a Fashion-MNIST split from `dir` (`train-*` or `t10k-*` `-images-idx3-ubyte.gz` and
/// `-labels-idx1-ubyte.gz`).
pub fn fashion_mnist(dir: &Path, split: Split) -> Result<ImageSet> {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let find = |kind: &str| {
        let gz = dir.join(format!("{prefix}-{kind}-ubyte.gz"));
        let plain = dir.join(format!("{prefix}-{kind}-ubyte"));
        if gz.is_file() {
            Ok(gz)
        } else if plain.is_file() {
            Ok(plain)
        } else {
            Err(TrainError::MissingData {
                what: format!("Fashion-MNIST {prefix} {kind}"),
                path: gz,
                hint: SETUP_HINT.into(),
            })
        }
    };
    let images_path = find("images-idx3")?;
    let labels_path = find("labels-idx1")?;
    let (dims, pixels) = read_idx(&images_path)?;
    let &[n, height, width] = dims.as_slice() else {
        return Err(TrainError::malformed(
            &images_path,
            format!("images must have 3 dimensions, found {dims:?}"),
        ));
    };
    let (ldims, labels) = read_idx(&labels_path)?;
    if ldims != [n] {
        return Err(TrainError::malformed(
            &labels_path,
            format!("{n} images but labels of shape {ldims:?}"),
        ));
    }
    if let Some(bad) = labels
        .iter()
        .find(|&&l| l as usize >= FASHION_MNIST_CLASSES.len())
    {
        return Err(TrainError::malformed(
            &labels_path,
            format!("label {bad} out of range 0..10"),
        ));
    }
    Ok(ImageSet {
        width,
        height,
        pixels,
        labels: labels.into_iter().map(usize::from).collect(),
        classes: FASHION_MNIST_CLASSES
            .iter()
            .map(|s| s.to_string())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx_bytes(dims: &[u32], body: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn parses_and_rejects() {
        let ok = idx_bytes(&[2, 2, 3], &[7; 12]);
        assert_eq!(parse_idx(&ok).unwrap(), (vec![2, 2, 3], vec![7; 12]));
        let truncated = idx_bytes(&[2, 2, 3], &[7; 11]);
        assert!(parse_idx(&truncated).unwrap_err().contains("need 12 bytes"));
        assert!(parse_idx(&[0, 0, 9, 1]).unwrap_err().contains("magic"));
        assert!(parse_idx(&[0, 0]).is_err());
    }

    #[test]
    fn reads_gzip_and_plain_and_names_missing_files() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let images = idx_bytes(&[2, 2, 2], &[0, 255, 1, 2, 3, 4, 5, 6]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&images).unwrap();
        std::fs::write(
            dir.path().join("t10k-images-idx3-ubyte.gz"),
            gz.finish().unwrap(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("t10k-labels-idx1-ubyte"),
            idx_bytes(&[2], &[9, 0]),
        )
        .unwrap();
        let set = fashion_mnist(dir.path(), Split::Test).unwrap();
        assert_eq!((set.len(), set.width, set.height), (2, 2, 2));
        assert_eq!(set.labels, vec![9, 0]);
        assert_eq!(set.image(0), &[0, 255, 1, 2]);
        let err = fashion_mnist(dir.path(), Split::Train)
            .unwrap_err()
            .to_string();
        assert!(err.contains("setup.sh"), "{err}");
        std::fs::write(
            dir.path().join("t10k-labels-idx1-ubyte"),
            idx_bytes(&[2], &[10, 0]),
        )
        .unwrap();
        assert!(fashion_mnist(dir.path(), Split::Test).is_err());
    }
}
