//! Cutting a set of task indices into arrays Slurm accepts.

/// One array: task `offset + a` runs as array index `a`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Added to `SLURM_ARRAY_TASK_ID` to get the task index.
    pub offset: usize,
    /// Task indices (not array indices), ascending.
    pub indices: Vec<usize>,
}

impl Chunk {
    /// The array indices, ascending.
    pub fn array_indices(&self) -> Vec<usize> {
        self.indices.iter().map(|i| i - self.offset).collect()
    }
}

/// Splits `indices` into arrays whose array indices are all below `max_array_size`
/// (Slurm's MaxArraySize bounds the largest index, not only the count). Offsets are
/// multiples of `max_array_size`, so in a run of at most that many tasks the array index
/// is the task index.
pub fn split_indices(indices: &[usize], max_array_size: usize) -> Vec<Chunk> {
    let max = max_array_size.max(1);
    let mut sorted = indices.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut chunks: Vec<Chunk> = Vec::new();
    for i in sorted {
        let offset = i / max * max;
        match chunks.last_mut() {
            Some(c) if c.offset == offset => c.indices.push(i),
            _ => chunks.push(Chunk {
                offset,
                indices: vec![i],
            }),
        }
    }
    chunks
}

/// `--array` text for ascending array indices, runs written as ranges: `0-4,7,9-12`,
/// with `%throttle` appended when given.
pub fn array_spec(array_indices: &[usize], throttle: Option<usize>) -> String {
    let mut parts = Vec::new();
    let mut iter = array_indices.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end = iter.next().unwrap_or(end);
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    let mut spec = parts.join(",");
    if let Some(p) = throttle {
        spec.push_str(&format!("%{p}"));
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_runs_keep_task_indices() {
        let chunks = split_indices(&[4, 0, 1, 2, 3], 1001);
        assert_eq!(
            chunks,
            vec![Chunk {
                offset: 0,
                indices: vec![0, 1, 2, 3, 4]
            }]
        );
        assert_eq!(array_spec(&chunks[0].array_indices(), Some(2)), "0-4%2");
    }

    #[test]
    fn large_runs_are_split_below_the_limit() {
        let all: Vec<usize> = (0..2500).collect();
        let chunks = split_indices(&all, 1001);
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[1].offset, 1001);
        assert_eq!(chunks.iter().map(|c| c.indices.len()).sum::<usize>(), 2500);
        for c in &chunks {
            assert!(c.array_indices().iter().all(|&a| a < 1001));
        }
        assert_eq!(array_spec(&chunks[2].array_indices(), None), "0-497");
    }

    #[test]
    fn retries_of_scattered_indices() {
        let chunks = split_indices(&[7, 3, 2, 9, 3], 4);
        assert_eq!(
            chunks,
            vec![
                Chunk {
                    offset: 0,
                    indices: vec![2, 3]
                },
                Chunk {
                    offset: 4,
                    indices: vec![7]
                },
                Chunk {
                    offset: 8,
                    indices: vec![9]
                },
            ]
        );
        assert_eq!(array_spec(&[0, 1, 2, 5, 7, 8], None), "0-2,5,7-8");
        assert_eq!(array_spec(&[], None), "");
    }
}
