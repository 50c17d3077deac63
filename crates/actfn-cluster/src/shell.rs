//! Quoting for the batch scripts this crate writes.

use std::ffi::OsStr;

use crate::{ClusterError, Result};

/// `value` as one POSIX shell word: single quotes, with each `'` written as `'\''`.
/// Fails on text that is not UTF-8 (a batch script is text).
pub(crate) fn quote(value: &OsStr, index: usize, what: &str) -> Result<String> {
    let text = value.to_str().ok_or_else(|| ClusterError::InvalidTask {
        index,
        why: format!("{what} {value:?} is not valid UTF-8"),
    })?;
    Ok(quote_str(text))
}

pub(crate) fn quote_str(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_single_quotes() {
        assert_eq!(quote_str("it's"), r"'it'\''s'");
        assert_eq!(quote_str("$HOME `x`"), "'$HOME `x`'");
    }
}
