//! The crate's one error type: everything that can go wrong when reading expressions,
//! op names and search-space definitions.

use std::fmt;

/// An error from parsing an expression or an op name, or from building a search space.
///
/// Messages are lowercase and name the offending value and, for text, the byte position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExprError {
    /// The text is not a well-formed expression.
    #[error("cannot parse {} at byte {position}: expected {expected}, found {found}", Quoted(.input))]
    Parse {
        /// The whole text (shortened in the message when long).
        input: String,
        /// Byte offset of the offending token.
        position: usize,
        /// What the parser would have accepted there.
        expected: String,
        /// What it found: a quoted token or `end of input`.
        found: String,
    },
    /// The text nests brackets, calls, prefix minus signs or exponents deeper than the
    /// parser reads.
    #[error("cannot parse {} at byte {position}: expression nests deeper than {limit} levels", Quoted(.input))]
    TooDeep {
        /// The whole text (shortened in the message when long).
        input: String,
        /// Byte offset where the limit was crossed.
        position: usize,
        /// The limit, [`crate::limits::MAX_NESTING`].
        limit: usize,
    },
    /// A tree taller than [`crate::limits::MAX_HEIGHT`]: parsed, derived or built by an
    /// evolution operator.
    #[error("{subject} is {height} levels tall, more than the limit of {limit}")]
    TooTall {
        /// What is too tall: the quoted (shortened) text or expression, with the byte
        /// position for parsed text, or `the derivative of "..."`.
        subject: String,
        /// Its height.
        height: usize,
        /// The limit, [`crate::limits::MAX_HEIGHT`].
        limit: usize,
    },
    /// A tree with more nodes than [`crate::limits::MAX_NODES`] (`relu` and `min0`
    /// counted twice; see [`crate::limits`]).
    #[error("{subject} has {nodes} nodes, more than the limit of {limit} (about 32 bytes each)")]
    TooLarge {
        /// What is too large, as for [`ExprError::TooTall`].
        subject: String,
        /// Its node count, or a count it was known to exceed when building stopped.
        nodes: usize,
        /// The limit, [`crate::limits::MAX_NODES`].
        limit: usize,
    },
    /// A search space deeper than [`crate::limits::MAX_SPACE_DEPTH`].
    #[error("search-space depth {depth} is more than the limit of {limit}: every member of S_d has 4 * 2^d - 3 nodes, {nodes} at depth {limit}, and each level doubles it")]
    SpaceTooDeep {
        /// The depth given.
        depth: usize,
        /// The limit.
        limit: usize,
        /// The node count of a member at the limit.
        nodes: usize,
    },
    /// An op name that is not in the op set (`--unary-ops tanh,foo`).
    #[error("unknown {kind} op {name:?}")]
    UnknownOp {
        /// `unary` or `binary`.
        kind: &'static str,
        /// The name as given.
        name: String,
    },
    /// A search space of depth 0.
    #[error("search-space depth must be at least 1, got {depth}")]
    ZeroDepth {
        /// The depth given.
        depth: usize,
    },
    /// A search space with no unary or no binary ops.
    #[error("search space has no {kind} ops")]
    EmptyOpSet {
        /// `unary` or `binary`.
        kind: &'static str,
    },
    /// A search space listing the same op twice.
    #[error("search space lists the {kind} op {name:?} twice")]
    DuplicateOp {
        /// `unary` or `binary`.
        kind: &'static str,
        /// The op's canonical name.
        name: &'static str,
    },
    /// An op that exists but may not appear in a search space (the derivative helpers).
    #[error("the unary op {name:?} is a derivative helper and cannot be part of a search space")]
    AuxiliaryOp {
        /// The op's canonical name.
        name: &'static str,
    },
}

/// `text` in double quotes, shortened as in messages.
pub(crate) fn shorten(text: &str) -> String {
    Quoted(text).to_string()
}

/// Displays text in double quotes, shortened to its first 60 characters when longer, so
/// that an error about a huge input stays one readable line.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const KEEP: usize = 60;
        match self.0.char_indices().nth(KEEP) {
            None => write!(f, "{:?}", self.0),
            Some((cut, _)) => write!(f, "{:?}...", &self.0[..cut]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_name_the_position() {
        let e = ExprError::Parse {
            input: "tanh(x".into(),
            position: 6,
            expected: "\")\"".into(),
            found: "end of input".into(),
        };
        assert_eq!(
            e.to_string(),
            "cannot parse \"tanh(x\" at byte 6: expected \")\", found end of input"
        );
        let long = "x+".repeat(100);
        let e = ExprError::TooDeep {
            input: long,
            position: 3,
            limit: 256,
        };
        assert!(e.to_string().contains("\"...") && e.to_string().len() < 150);
    }
}
