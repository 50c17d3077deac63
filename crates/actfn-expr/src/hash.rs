//! The project's one stable hash: 64-bit FNV-1a, written out so that values never change
//! with the standard library's hasher, the Rust release or the platform.
//!
//! Fingerprints, evaluator configuration hashes, search-directory keys and final-run keys
//! are all stored on disk or used as folder names, so an old search directory resumes and
//! an old run is found again only while these values stay the same.

use std::fmt;
use std::hash::Hasher;

/// The 64-bit FNV-1a offset basis.
const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// The 64-bit FNV-1a prime.
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// The stable 64-bit FNV-1a hash of `bytes`.
///
/// ```
/// assert_eq!(actfn_expr::stable_hash(b"foobar"), 0x8594_4171_f739_67e8);
/// ```
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut hasher = StableHasher::new();
    hasher.write(bytes);
    hasher.finish()
}

/// An incremental [`stable_hash`]: feeding bytes in pieces gives the hash of their
/// concatenation. Also a [`fmt::Write`], to hash formatted text without allocating.
///
/// Only [`Hasher::write`] is stable: the integer methods (`write_u64`, ...) hash
/// native-endian bytes, which differ between platforms.
#[derive(Debug, Clone)]
pub struct StableHasher(u64);

impl StableHasher {
    /// A hasher that has seen no bytes.
    pub fn new() -> Self {
        StableHasher(OFFSET)
    }
}

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher::new()
    }
}

impl Hasher for StableHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(PRIME);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl fmt::Write for StableHasher {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        Hasher::write(self, s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_fnv1a_reference_vectors() {
        assert_eq!(stable_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stable_hash(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn pieces_hash_like_the_whole() {
        let mut h = StableHasher::new();
        h.write(b"foo");
        fmt::Write::write_str(&mut h, "bar").unwrap();
        assert_eq!(h.finish(), stable_hash(b"foobar"));
    }

    /// A value the project stores: the final-run key of `relu(x)` (the folder name of its
    /// final runs under `runs/<preset>/final/`). Changing it orphans every stored run.
    #[test]
    fn pins_a_stored_key() {
        assert_eq!(
            format!("{:016x}", stable_hash(b"relu(x)")),
            "ca47f1151711f396"
        );
    }
}
