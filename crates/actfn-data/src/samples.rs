//! [`Samples`]: labelled samples as stored, images `C x H x W` or vectors of `D` features,
//! as bytes or f32; and [`Loaded`], a data set's training and test samples.
//!
//! Samples stay in their stored kind until preprocessing turns them into f32 tensors:
//! 50,000 CIFAR images are 150 MB as bytes, 600 MB as f32.

use std::fmt;

use crate::error::{DataError, Result};

/// The values of all samples, one after the other, in their stored kind.
#[derive(Clone, PartialEq)]
pub enum Values {
    /// Bytes, as pixels are stored in images: `0..=255`, scaled by 1/255 for training.
    U8(Vec<u8>),
    /// Floating-point values, used as they are.
    F32(Vec<f32>),
}

impl fmt::Debug for Values {
    /// The values when there are a few, else their kind and number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Values::U8(v) if v.len() <= 32 => write!(f, "U8({v:?})"),
            Values::F32(v) if v.len() <= 32 => write!(f, "F32({v:?})"),
            other => write!(f, "{} x {}", other.len(), other.kind()),
        }
    }
}

impl Values {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Values::U8(v) => v.len(),
            Values::F32(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// No values of the same kind.
    fn empty_like(&self) -> Values {
        match self {
            Values::U8(_) => Values::U8(Vec::new()),
            Values::F32(_) => Values::F32(Vec::new()),
        }
    }

    /// The kind's name: `u8` or `f32`.
    pub fn kind(&self) -> &'static str {
        match self {
            Values::U8(_) => "u8",
            Values::F32(_) => "f32",
        }
    }

    /// The factor that brings the values to the range training expects: 1/255 for bytes.
    pub fn scale(&self) -> f64 {
        match self {
            Values::U8(_) => 1.0 / 255.0,
            Values::F32(_) => 1.0,
        }
    }
}

/// Labelled samples: sample `i` is values `i * features()..(i + 1) * features()`, laid out
/// as `shape` (channel-major `[C, H, W]` for images, `[D]` for vectors).
#[derive(Clone, PartialEq)]
pub struct Samples {
    /// The values of every sample, one sample after the other.
    pub values: Values,
    /// The shape of one sample: `[C, H, W]` or `[D]`.
    pub shape: Vec<usize>,
    /// One label a sample, in `0..num_classes`.
    pub labels: Vec<u32>,
    /// Number of classes.
    pub num_classes: usize,
}

impl fmt::Debug for Samples {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Samples")
            .field("len", &self.len())
            .field("shape", &self.shape)
            .field("kind", &self.values.kind())
            .field("num_classes", &self.num_classes)
            .finish()
    }
}

impl Samples {
    /// Samples of `shape` from `values` and `labels`, checked: whole samples, one label
    /// each, every label below `num_classes`.
    pub fn new(
        values: Values,
        shape: Vec<usize>,
        labels: Vec<u32>,
        num_classes: usize,
    ) -> Result<Self> {
        let samples = Samples {
            values,
            shape,
            labels,
            num_classes,
        };
        samples.check()?;
        Ok(samples)
    }

    /// No samples of `shape`, bytes.
    pub fn empty(shape: Vec<usize>, num_classes: usize) -> Self {
        Samples {
            values: Values::U8(Vec::new()),
            shape,
            labels: Vec::new(),
            num_classes,
        }
    }

    /// No samples of this shape, kind and classes.
    pub fn none_like(&self) -> Samples {
        Samples {
            values: self.values.empty_like(),
            shape: self.shape.clone(),
            labels: Vec::new(),
            num_classes: self.num_classes,
        }
    }

    /// Checks that the values are whole samples with one label each, in range.
    pub fn check(&self) -> Result<()> {
        let features = self.features();
        if features == 0 || self.shape.is_empty() {
            return Err(DataError::Mismatch(format!(
                "sample shape {:?} has no values",
                self.shape
            )));
        }
        if self.values.len() != self.labels.len() * features {
            return Err(DataError::Mismatch(format!(
                "{} values are not {} samples of shape {:?}",
                self.values.len(),
                self.labels.len(),
                self.shape
            )));
        }
        if let Some((i, l)) = self
            .labels
            .iter()
            .enumerate()
            .find(|(_, &l)| l as usize >= self.num_classes)
        {
            return Err(DataError::Mismatch(format!(
                "sample {i}: label {l} is out of range 0..{}",
                self.num_classes
            )));
        }
        Ok(())
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values of one sample: the product of the shape.
    pub fn features(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the samples are images (`[C, H, W]`) rather than vectors.
    pub fn is_image(&self) -> bool {
        self.shape.len() == 3
    }

    /// The samples at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Samples {
        let d = self.features();
        let values = match &self.values {
            Values::U8(v) => Values::U8(gather(v, d, indices)),
            Values::F32(v) => Values::F32(gather(v, d, indices)),
        };
        Samples {
            values,
            shape: self.shape.clone(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            num_classes: self.num_classes,
        }
    }

    /// Appends the samples of `other`, which must have the same shape, kind and classes.
    pub fn extend(&mut self, other: &Samples) -> Result<()> {
        if self.is_empty() && self.values.is_empty() {
            self.values = other.values.empty_like();
            self.shape.clone_from(&other.shape);
        }
        if other.shape != self.shape || other.num_classes != self.num_classes {
            return Err(DataError::Mismatch(format!(
                "cannot join samples of shape {:?} ({} classes) to samples of shape {:?} ({} classes)",
                other.shape, other.num_classes, self.shape, self.num_classes
            )));
        }
        match (&mut self.values, &other.values) {
            (Values::U8(a), Values::U8(b)) => a.extend_from_slice(b),
            (Values::F32(a), Values::F32(b)) => a.extend_from_slice(b),
            (a, b) => {
                return Err(DataError::Mismatch(format!(
                    "cannot join {} samples to {} samples",
                    b.kind(),
                    a.kind()
                )))
            }
        }
        self.labels.extend_from_slice(&other.labels);
        Ok(())
    }

    /// The samples ordered by label, keeping their order within each class: the order in
    /// which an image folder lists them.
    pub fn grouped_by_class(&self) -> Samples {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by_key(|&i| self.labels[i]);
        self.subset(&order)
    }

    /// Samples per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// The values as bytes: themselves, or each f32 in little-endian order. What a
    /// fingerprint of the samples hashes.
    pub fn value_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        match &self.values {
            Values::U8(v) => std::borrow::Cow::Borrowed(v),
            Values::F32(v) => {
                std::borrow::Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect())
            }
        }
    }

    /// The labels as bytes: one byte a label up to 256 classes (as the CIFAR files store
    /// them), four little-endian bytes a label beyond.
    pub fn label_bytes(&self) -> Vec<u8> {
        if self.num_classes <= 256 {
            self.labels.iter().map(|&l| l as u8).collect()
        } else {
            self.labels.iter().flat_map(|l| l.to_le_bytes()).collect()
        }
    }
}

fn gather<T: Copy>(values: &[T], d: usize, indices: &[usize]) -> Vec<T> {
    let mut out = Vec::with_capacity(indices.len() * d);
    for &i in indices {
        out.extend_from_slice(&values[i * d..(i + 1) * d]);
    }
    out
}

/// A data set as read from its files: training samples, test samples (possibly none) and
/// the class names.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// Every training sample; validation is split off later.
    pub train: Samples,
    /// The test samples, never used for search or preprocessing fits; empty when the data
    /// set has none.
    pub test: Samples,
    /// One name a class: folder names, the names file's lines, or the class numbers.
    pub class_names: Vec<String>,
}

impl Loaded {
    /// Checks both splits, that they agree in shape, kind and classes, that there is one
    /// class name a class, and that the training split is not empty.
    pub fn check(&self) -> Result<()> {
        self.train.check()?;
        self.test.check()?;
        if self.train.is_empty() {
            return Err(DataError::Mismatch("no training samples".into()));
        }
        if !self.test.is_empty()
            && (self.test.shape != self.train.shape
                || self.test.num_classes != self.train.num_classes
                || self.test.values.kind() != self.train.values.kind())
        {
            return Err(DataError::Mismatch(format!(
                "test samples ({:?}, {}, {} classes) differ from training samples ({:?}, {}, {} classes)",
                self.test.shape,
                self.test.values.kind(),
                self.test.num_classes,
                self.train.shape,
                self.train.values.kind(),
                self.train.num_classes
            )));
        }
        if self.class_names.len() != self.train.num_classes {
            return Err(DataError::Mismatch(format!(
                "{} class names for {} classes",
                self.class_names.len(),
                self.train.num_classes
            )));
        }
        Ok(())
    }
}

/// The class numbers as names: "0", "1", ...
pub fn numbered_classes(num_classes: usize) -> Vec<String> {
    (0..num_classes).map(|c| c.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize, shape: Vec<usize>) -> Samples {
        let d: usize = shape.iter().product();
        let values = (0..n * d).map(|v| v as u8).collect();
        let labels = (0..n as u32).map(|i| i % 3).collect();
        Samples::new(Values::U8(values), shape, labels, 3).unwrap()
    }

    #[test]
    fn subset_extend_and_counts() {
        let s = bytes(5, vec![1, 2, 2]);
        let sub = s.subset(&[4, 1]);
        assert_eq!(sub.labels, vec![1, 1]);
        assert_eq!(sub.values, Values::U8(vec![16, 17, 18, 19, 4, 5, 6, 7]));
        let mut all = Samples::empty(vec![1, 2, 2], 3);
        all.extend(&s).unwrap();
        all.extend(&sub).unwrap();
        assert_eq!(all.len(), 7);
        assert_eq!(all.class_counts(), vec![2, 4, 1]);
        let other = bytes(2, vec![4]);
        let err = all.extend(&other).unwrap_err();
        assert!(err.to_string().contains("shape [4]"), "{err}");
    }

    #[test]
    fn new_refuses_ragged_values_and_labels_out_of_range() {
        let err = Samples::new(Values::U8(vec![0; 7]), vec![2], vec![0; 4], 2).unwrap_err();
        assert_eq!(err.to_string(), "7 values are not 4 samples of shape [2]");
        let err = Samples::new(Values::F32(vec![0.0; 4]), vec![2], vec![0, 5], 2).unwrap_err();
        assert_eq!(err.to_string(), "sample 1: label 5 is out of range 0..2");
    }

    #[test]
    fn bytes_for_fingerprints() {
        let s = Samples::new(Values::F32(vec![1.0]), vec![1], vec![1], 300).unwrap();
        assert_eq!(&*s.value_bytes(), &1.0f32.to_le_bytes());
        assert_eq!(s.label_bytes(), vec![1, 0, 0, 0]);
        let s = bytes(2, vec![1]);
        assert_eq!(s.label_bytes(), vec![0, 1]);
    }
}
