//! Reading expressions from ordinary math text: `tanh(x) * min(x, 0)`,
//! `min(1, cosh(x))^3 * sigmoid(e^x + atan(x))`, `log(|x + eps|)`.
//!
//! # Grammar
//!
//! From loosest to tightest binding, all binary operators left-associative:
//!
//! * `a + b`, `a - b` (add, sub);
//! * `a * b` (also `·`, `×`), `a / b`: `/` is the paper's protected division
//!   [`BinaryOp::Div`], `a / (b + eps)`. Written out with the `eps` symbol,
//!   `a / (b + eps)` is read as that same op `div(a, b)`, so the paper's notation parses;
//! * prefix `-a` ([`UnaryOp::Neg`]; also `−`). A minus directly before a number, `inf`
//!   or `nan` that is not raised to a power makes a negative literal: `-2 * x` holds the
//!   literal `-2`, while `-(2)` is `neg(2)` and `-2^2` is `neg(2^2)`;
//! * postfix `a^2`, `a^3` (square, cube); other exponents are an error, and so is `a^2^3`
//!   (write `(a^2)^3`). `e^E` is `exp(E)`, with `E` a prefix-level operand (`e^-x`,
//!   `e^x^2 = exp(x^2)`, `e^(x + 1)`), and `e^(-E^2)` is the Gaussian op `gauss(E)`;
//! * operands: numbers (`2`, `0.5`, `.5`, `1e-3`, `inf`, `nan`), `x`, `e` (Euler's
//!   number, as a literal), `eps` or `ε` (the literal [`EPS`]), `(a)`, `{a}`, `|a|` (abs),
//!   and calls `name(args)` (or `name{args}`).
//!
//! Call names, case-insensitive: every canonical op name ([`UnaryOp::name`],
//! [`BinaryOp::name`], e.g. `min0`, `gauss`, `logabs`, `add(a, b)`), and the aliases
//! `identity`, `gaussian`, `arcsinh`, `arctan`, `arctanh`, `sigma`, `σ`, `√`; `max(a, b)`
//! and `min(a, b)` are the binary ops (so `max(x, 0)` is a binary node, equal in value to
//! `relu(x)`; see [`SearchSpace::recognize`](crate::SearchSpace::recognize)), and
//! `swish(E)` expands to `E * sigmoid(E)`.
//!
//! ## Logarithms
//!
//! The op set has two logarithms, `logabs(E) = log(|E + EPS|)` and
//! `softplus(E) = log(1 + e^E)`, and no plain `log`. `log(...)` is therefore read as:
//!
//! * `log(1 + exp(E))`, `log(1 + e^E)` → `softplus(E)`;
//! * `log(|E + eps|)`, `log(abs(E + eps))`, `log(E + eps)` → `logabs(E)`, where `eps` is
//!   the symbol or the literal `0.001` (the paper prints `log(|x + ε|)`, and some copies
//!   lose the bars);
//! * any other `log(E)` → `logabs(E)`, the op set's only logarithm of its argument.
//!
//! Nothing else is rewritten: `exp(-x^2)` stays `exp(neg(square(x)))` (equal in value to
//! `gauss(x)`), and the [canonical printer](crate::print) never writes `log`, `e^`, `eps`
//! or `/ (E + eps)`, so canonical text always parses back to the identical tree.
//!
//! # Limits
//!
//! Text nesting deeper than [`MAX_NESTING`] levels (brackets, calls, prefix minus signs,
//! exponents) is refused with [`ExprError::TooDeep`], before the parser's recursion gets
//! any deeper; a tree taller than [`MAX_HEIGHT`] with [`ExprError::TooTall`], and one
//! with too many nodes (`swish` copies its argument) with [`ExprError::TooLarge`]. So
//! every tree the parser returns passes [`Expr::check_printable`], and every printer's
//! text of it parses back (see [`crate::limits`]). No input panics.

use std::str::FromStr;

use crate::ast::Expr;
use crate::error::{shorten, ExprError};
use crate::limits::{check_size, Size, MAX_HEIGHT, MAX_NESTING, MAX_NODES};
use crate::ops::{BinaryOp, UnaryOp, EPS};

/// How far a node being built may exceed the limits before the parser stops at once.
/// Reading `log(1 + e^E)`, `log(|E + eps|)` and `e^(-E^2)` builds a node or two that the
/// final tree does not keep, so only the finished tree is held to the exact limits.
const HEIGHT_SLACK: usize = 2;
const NODE_SLACK: usize = 4;

impl Expr {
    /// Parses math text; see the [module docs](crate::parse) for the grammar.
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        Parser::new(text)?.parse_all()
    }
}

impl FromStr for Expr {
    type Err = ExprError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Expr::parse(s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok<'a> {
    Num(f64),
    Ident(&'a str),
    Plus,
    Minus,
    Star,
    Slash,
    Caret,
    Comma,
    Bar,
    Open(char),
    Close(char),
    End,
}

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    tok: Tok<'a>,
    start: usize,
    end: usize,
}

fn lex(text: &str) -> Result<Vec<Token<'_>>, ExprError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let c = text[i..].chars().next().expect("in bounds");
        let start = i;
        let single = |tok| (tok, c.len_utf8());
        let (tok, len) = match c {
            c if c.is_whitespace() => {
                i += c.len_utf8();
                continue;
            }
            '0'..='9' | '.' => {
                let mut j = i;
                while j < bytes.len() && bytes[j].is_ascii_digit() {
                    j += 1;
                }
                if j < bytes.len() && bytes[j] == b'.' {
                    j += 1;
                    while j < bytes.len() && bytes[j].is_ascii_digit() {
                        j += 1;
                    }
                }
                if j < bytes.len() && (bytes[j] == b'e' || bytes[j] == b'E') {
                    let mut k = j + 1;
                    if k < bytes.len() && (bytes[k] == b'+' || bytes[k] == b'-') {
                        k += 1;
                    }
                    if k < bytes.len() && bytes[k].is_ascii_digit() {
                        while k < bytes.len() && bytes[k].is_ascii_digit() {
                            k += 1;
                        }
                        j = k;
                    }
                }
                let digits = &text[i..j];
                match digits.parse::<f64>() {
                    Ok(v) if digits.bytes().any(|b| b.is_ascii_digit()) => (Tok::Num(v), j - i),
                    _ => {
                        return Err(parse_error(text, start, "a number", quote(digits)));
                    }
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut j = i;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                    j += 1;
                }
                (Tok::Ident(&text[i..j]), j - i)
            }
            'σ' => single(Tok::Ident("sigma")),
            'ε' => single(Tok::Ident("eps")),
            '√' => single(Tok::Ident("sqrt")),
            '+' => single(Tok::Plus),
            '-' | '−' => single(Tok::Minus),
            '*' | '·' | '×' => single(Tok::Star),
            '/' => single(Tok::Slash),
            '^' => single(Tok::Caret),
            ',' => single(Tok::Comma),
            '|' => single(Tok::Bar),
            '(' | '{' => single(Tok::Open(c)),
            ')' | '}' => single(Tok::Close(c)),
            _ => {
                return Err(parse_error(
                    text,
                    start,
                    "a number, a name, an operator or a bracket",
                    quote(&text[i..i + c.len_utf8()]),
                ));
            }
        };
        tokens.push(Token {
            tok,
            start,
            end: start + len,
        });
        i += len;
    }
    tokens.push(Token {
        tok: Tok::End,
        start: text.len(),
        end: text.len(),
    });
    Ok(tokens)
}

fn quote(s: &str) -> String {
    format!("{s:?}")
}

fn parse_error(input: &str, position: usize, expected: &str, found: String) -> ExprError {
    ExprError::Parse {
        input: input.to_owned(),
        position,
        expected: expected.to_owned(),
        found,
    }
}

/// A parsed subtree with what the parser needs to know about how it was written.
struct Node {
    expr: Expr,
    height: usize,
    /// Nodes, counted as [`Size::counted_nodes`] counts them.
    nodes: usize,
    /// Written as the bare symbol `eps`.
    eps_symbol: bool,
    /// Written as `E + eps` with the symbol: `expr` is `add(E, EPS)`.
    plus_eps: bool,
}

impl Node {
    fn leaf(expr: Expr) -> Node {
        Node {
            expr,
            height: 0,
            nodes: 1,
            eps_symbol: false,
            plus_eps: false,
        }
    }

    /// A node for a tree rebuilt from parts, measured afresh.
    fn measured(expr: Expr) -> Node {
        let size = expr.size();
        Node {
            height: size.height,
            nodes: size.counted_nodes(),
            ..Node::leaf(expr)
        }
    }
}

enum Call {
    Unary(UnaryOp),
    Binary(BinaryOp),
    Log,
    Swish,
}

fn lookup(name: &str) -> Option<Call> {
    let lower = name.to_ascii_lowercase();
    let unary = match lower.as_str() {
        "identity" => Some(UnaryOp::Identity),
        "gaussian" => Some(UnaryOp::Gaussian),
        "arcsinh" => Some(UnaryOp::Asinh),
        "arctan" => Some(UnaryOp::Atan),
        "arctanh" => Some(UnaryOp::Atanh),
        "sigma" => Some(UnaryOp::Sigmoid),
        other => UnaryOp::from_name(other),
    };
    if let Some(op) = unary {
        return Some(Call::Unary(op));
    }
    match lower.as_str() {
        "log" => Some(Call::Log),
        "swish" => Some(Call::Swish),
        other => BinaryOp::from_name(other).map(Call::Binary),
    }
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token<'a>>,
    pos: usize,
    depth: usize,
    /// Where a node first went over [`MAX_HEIGHT`], and over [`MAX_NODES`].
    tall_at: Option<usize>,
    large_at: Option<usize>,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Result<Self, ExprError> {
        Ok(Parser {
            text,
            tokens: lex(text)?,
            pos: 0,
            depth: 0,
            tall_at: None,
            large_at: None,
        })
    }

    fn peek(&self) -> Tok<'a> {
        self.tokens[self.pos].tok
    }

    fn peek_at(&self, ahead: usize) -> Tok<'a> {
        self.tokens[(self.pos + ahead).min(self.tokens.len() - 1)].tok
    }

    fn here(&self) -> usize {
        self.tokens[self.pos].start
    }

    fn bump(&mut self) -> Token<'a> {
        let t = self.tokens[self.pos];
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn found(&self) -> String {
        let t = self.tokens[self.pos];
        match t.tok {
            Tok::End => "end of input".to_owned(),
            _ => quote(&self.text[t.start..t.end]),
        }
    }

    fn error<T>(&self, expected: &str) -> Result<T, ExprError> {
        Err(parse_error(self.text, self.here(), expected, self.found()))
    }

    fn too_deep<T>(&self, position: usize) -> Result<T, ExprError> {
        Err(ExprError::TooDeep {
            input: self.text.to_owned(),
            position,
            limit: MAX_NESTING,
        })
    }

    /// The text and a position, for [`ExprError::TooTall`] and [`ExprError::TooLarge`].
    fn subject(&self, position: usize) -> String {
        format!("{} at byte {position}", shorten(self.text))
    }

    /// Checks the size of a new node built at `position`: past the limits and the slack,
    /// the parser stops here; past the limits only, it notes where.
    fn node(
        &mut self,
        expr: Expr,
        height: usize,
        nodes: usize,
        at: usize,
    ) -> Result<Node, ExprError> {
        let size = Size {
            height,
            nodes,
            paper_nodes: nodes,
        };
        if height > MAX_HEIGHT + HEIGHT_SLACK || nodes > MAX_NODES + NODE_SLACK {
            check_size(size, || self.subject(at))?;
        }
        if height > MAX_HEIGHT {
            self.tall_at.get_or_insert(at);
        }
        if nodes > MAX_NODES {
            self.large_at.get_or_insert(at);
        }
        Ok(Node {
            expr,
            height,
            nodes,
            eps_symbol: false,
            plus_eps: false,
        })
    }

    fn unary(&mut self, op: UnaryOp, arg: Node, position: usize) -> Result<Node, ExprError> {
        // The paper notation writes `relu(E)` as `max{E, 0}`: count the node it reads
        // back to.
        let extra = usize::from(matches!(op, UnaryOp::Relu | UnaryOp::MinZero));
        let nodes = arg.nodes + 1 + extra;
        self.node(Expr::unary(op, arg.expr), arg.height + 1, nodes, position)
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        a: Node,
        b: Node,
        position: usize,
    ) -> Result<Node, ExprError> {
        let height = a.height.max(b.height) + 1;
        let nodes = a.nodes + b.nodes + 1;
        self.node(Expr::binary(op, a.expr, b.expr), height, nodes, position)
    }

    /// A node for a tree rebuilt from parts (`log`, `e^(-E^2)`), checked like any other.
    fn rebuilt(&mut self, expr: Expr, position: usize) -> Result<Node, ExprError> {
        let m = Node::measured(expr);
        self.node(m.expr, m.height, m.nodes, position)
    }

    fn parse_all(mut self) -> Result<Expr, ExprError> {
        let node = self.sum()?;
        if self.peek() != Tok::End {
            return self.error("an operator or end of input");
        }
        // Only the finished tree is held to the exact limits (see `HEIGHT_SLACK`).
        let size = Size {
            height: node.height,
            nodes: node.nodes,
            paper_nodes: node.nodes,
        };
        let at = if node.height > MAX_HEIGHT {
            self.tall_at
        } else {
            self.large_at
        };
        check_size(size, || self.subject(at.unwrap_or(0)))?;
        Ok(node.expr)
    }

    fn sum(&mut self) -> Result<Node, ExprError> {
        let mut acc = self.product()?;
        loop {
            let op = match self.peek() {
                Tok::Plus => BinaryOp::Add,
                Tok::Minus => BinaryOp::Sub,
                _ => return Ok(acc),
            };
            let at = self.bump().start;
            let rhs = self.product()?;
            let plus_eps = op == BinaryOp::Add && rhs.eps_symbol;
            acc = self.binary(op, acc, rhs, at)?;
            acc.plus_eps = plus_eps;
        }
    }

    fn product(&mut self) -> Result<Node, ExprError> {
        let mut acc = self.prefix()?;
        loop {
            let op = match self.peek() {
                Tok::Star => BinaryOp::Mul,
                Tok::Slash => BinaryOp::Div,
                _ => return Ok(acc),
            };
            let at = self.bump().start;
            let mut rhs = self.prefix()?;
            if op == BinaryOp::Div && rhs.plus_eps {
                // `a / (b + eps)` is the protected division written out.
                if let Expr::Binary(BinaryOp::Add, b, _) = rhs.expr {
                    rhs = Node::measured(*b);
                }
            }
            acc = self.binary(op, acc, rhs, at)?;
        }
    }

    fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return self.too_deep(self.here());
        }
        Ok(())
    }

    fn prefix(&mut self) -> Result<Node, ExprError> {
        self.enter()?;
        let result = self.prefix_inner();
        self.depth -= 1;
        result
    }

    fn prefix_inner(&mut self) -> Result<Node, ExprError> {
        if self.peek() != Tok::Minus {
            return self.power();
        }
        let at = self.bump().start;
        let literal = match self.peek() {
            Tok::Num(v) => Some(v),
            Tok::Ident("inf") => Some(f64::INFINITY),
            Tok::Ident("nan") => Some(f64::NAN),
            _ => None,
        };
        if let Some(v) = literal {
            if self.peek_at(1) != Tok::Caret {
                self.bump();
                return Ok(Node::leaf(Expr::constant(-v)));
            }
        }
        let arg = self.prefix()?;
        self.unary(UnaryOp::Neg, arg, at)
    }

    fn power(&mut self) -> Result<Node, ExprError> {
        let base = self.atom()?;
        if self.peek() != Tok::Caret {
            return Ok(base);
        }
        let at = self.bump().start;
        let op = match self.peek() {
            Tok::Num(2.0) => UnaryOp::Square,
            Tok::Num(3.0) => UnaryOp::Cube,
            _ => return self.error("the exponent 2 or 3"),
        };
        self.bump();
        if self.peek() == Tok::Caret {
            return self.error("an operator (write (a^2)^3 to raise a power again)");
        }
        self.unary(op, base, at)
    }

    fn atom(&mut self) -> Result<Node, ExprError> {
        let token = self.tokens[self.pos];
        match token.tok {
            Tok::Num(v) => {
                self.bump();
                Ok(Node::leaf(Expr::constant(v)))
            }
            Tok::Open(open) => {
                self.bump();
                let inner = self.sum()?;
                self.close(open)?;
                Ok(inner)
            }
            Tok::Bar => {
                self.bump();
                let inner = self.sum()?;
                if self.peek() != Tok::Bar {
                    return self.error("\"|\"");
                }
                self.bump();
                self.unary(UnaryOp::Abs, inner, token.start)
            }
            Tok::Ident(name) => {
                self.bump();
                self.name(name, token.start)
            }
            _ => self.error("an operand (a number, x, a call, \"(\" or \"|\")"),
        }
    }

    fn close(&mut self, open: char) -> Result<(), ExprError> {
        let want = if open == '(' { ')' } else { '}' };
        if self.peek() == Tok::Close(want) {
            self.bump();
            Ok(())
        } else if want == ')' {
            self.error("\")\"")
        } else {
            self.error("\"}\"")
        }
    }

    fn name(&mut self, name: &'a str, at: usize) -> Result<Node, ExprError> {
        match name {
            "x" => return Ok(Node::leaf(Expr::X)),
            "eps" => {
                return Ok(Node {
                    eps_symbol: true,
                    ..Node::leaf(Expr::constant(EPS))
                })
            }
            "inf" => return Ok(Node::leaf(Expr::constant(f64::INFINITY))),
            "nan" => return Ok(Node::leaf(Expr::constant(f64::NAN))),
            "e" if self.peek() == Tok::Caret => {
                self.bump();
                let exponent = self.prefix()?;
                // e^(-E^2) is the Gaussian op.
                if let Expr::Unary(UnaryOp::Neg, ref inner) = exponent.expr {
                    if let Expr::Unary(UnaryOp::Square, ref arg) = **inner {
                        let arg = (**arg).clone();
                        return self.rebuilt(Expr::unary(UnaryOp::Gaussian, arg), at);
                    }
                }
                return self.unary(UnaryOp::Exp, exponent, at);
            }
            "e" => return Ok(Node::leaf(Expr::constant(std::f64::consts::E))),
            _ => {}
        }
        let Some(call) = lookup(name) else {
            return Err(parse_error(
                self.text,
                at,
                "x, a number or a function name (abs, exp, log, max, relu, sigmoid, tanh, ...)",
                quote(name),
            ));
        };
        let open = match self.peek() {
            Tok::Open(open) => open,
            _ => return self.error(&format!("\"(\" after {name:?}")),
        };
        self.bump();
        let first = self.sum()?;
        let node = match call {
            Call::Unary(op) => {
                self.close(open)?;
                self.unary(op, first, at)?
            }
            Call::Binary(op) => {
                if self.peek() != Tok::Comma {
                    return self.error(&format!("\",\" ({name} takes two arguments)"));
                }
                self.bump();
                let second = self.sum()?;
                self.close(open)?;
                self.binary(op, first, second, at)?
            }
            Call::Log => {
                self.close(open)?;
                let arg = log_argument(first.expr);
                self.rebuilt(Expr::unary(arg.0, arg.1), at)?
            }
            Call::Swish => {
                self.close(open)?;
                // Checked before copying: nested `swish` doubles the tree each level.
                let (height, nodes) = (first.height + 2, 2 * first.nodes + 2);
                self.node(Expr::X, height, nodes, at)?;
                let sig = Expr::unary(UnaryOp::Sigmoid, first.expr.clone());
                self.node(
                    Expr::binary(BinaryOp::Mul, first.expr, sig),
                    height,
                    nodes,
                    at,
                )?
            }
        };
        Ok(node)
    }
}

/// What `log(arg)` means: see "Logarithms" in the module docs.
fn log_argument(arg: Expr) -> (UnaryOp, Expr) {
    let eps = Expr::constant(EPS);
    match arg {
        Expr::Binary(BinaryOp::Add, one, exp)
            if *one == Expr::constant(1.0) && matches!(*exp, Expr::Unary(UnaryOp::Exp, _)) =>
        {
            let Expr::Unary(_, inner) = *exp else {
                unreachable!("matched above")
            };
            (UnaryOp::Softplus, *inner)
        }
        // `log(1 + e^(-E^2))`: the exponential was read as the Gaussian op, but the whole
        // is still `log(1 + e^A)` with `A = -E^2`, i.e. softplus.
        Expr::Binary(BinaryOp::Add, one, gauss)
            if *one == Expr::constant(1.0)
                && matches!(*gauss, Expr::Unary(UnaryOp::Gaussian, _)) =>
        {
            let Expr::Unary(_, inner) = *gauss else {
                unreachable!("matched above")
            };
            let exponent = Expr::unary(UnaryOp::Neg, Expr::unary(UnaryOp::Square, *inner));
            (UnaryOp::Softplus, exponent)
        }
        Expr::Unary(UnaryOp::Abs, inner) => match *inner {
            Expr::Binary(BinaryOp::Add, e, c) if *c == eps => (UnaryOp::LogAbs, *e),
            other => (UnaryOp::LogAbs, Expr::unary(UnaryOp::Abs, other)),
        },
        Expr::Binary(BinaryOp::Add, e, c) if *c == eps => (UnaryOp::LogAbs, *e),
        other => (UnaryOp::LogAbs, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Expr {
        Expr::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn u(op: UnaryOp, a: Expr) -> Expr {
        Expr::unary(op, a)
    }

    fn b(op: BinaryOp, l: Expr, r: Expr) -> Expr {
        Expr::binary(op, l, r)
    }

    fn c(v: f64) -> Expr {
        Expr::constant(v)
    }

    const X: Expr = Expr::X;

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(
            p("x + 1 * x"),
            b(BinaryOp::Add, X, b(BinaryOp::Mul, c(1.0), X))
        );
        assert_eq!(
            p("x - x - 1"),
            b(BinaryOp::Sub, b(BinaryOp::Sub, X, X), c(1.0))
        );
        assert_eq!(
            p("x / x / 2"),
            b(BinaryOp::Div, b(BinaryOp::Div, X, X), c(2.0))
        );
        assert_eq!(p("-x^2"), u(UnaryOp::Neg, u(UnaryOp::Square, X)));
        assert_eq!(p("-x * x"), b(BinaryOp::Mul, u(UnaryOp::Neg, X), X));
        assert_eq!(
            p("(x + 1)^3"),
            u(UnaryOp::Cube, b(BinaryOp::Add, X, c(1.0)))
        );
        assert_eq!(p("x * -x"), b(BinaryOp::Mul, X, u(UnaryOp::Neg, X)));
        assert_eq!(p("--x"), u(UnaryOp::Neg, u(UnaryOp::Neg, X)));
    }

    #[test]
    fn literals() {
        assert_eq!(p("2.5e-3"), c(2.5e-3));
        assert_eq!(p(".5"), c(0.5));
        assert_eq!(p("1E3"), c(1000.0));
        assert_eq!(p("-2 * x"), b(BinaryOp::Mul, c(-2.0), X));
        assert_eq!(p("-(2)"), u(UnaryOp::Neg, c(2.0)));
        assert_eq!(p("-2^2"), u(UnaryOp::Neg, u(UnaryOp::Square, c(2.0))));
        assert_eq!(p("-inf"), c(f64::NEG_INFINITY));
        assert_eq!(p("-0"), c(-0.0));
        assert_ne!(p("-0"), c(0.0));
        assert_eq!(p("eps"), c(EPS));
        assert_eq!(p("e"), c(std::f64::consts::E));
    }

    #[test]
    fn calls_and_aliases() {
        assert_eq!(p("max(x, 0)"), b(BinaryOp::Max, X, c(0.0)));
        assert_eq!(p("max{x, 0}"), b(BinaryOp::Max, X, c(0.0)));
        assert_eq!(p("ReLU(x)"), u(UnaryOp::Relu, X));
        assert_eq!(p("arctan(x)"), u(UnaryOp::Atan, X));
        assert_eq!(p("σ(x)"), u(UnaryOp::Sigmoid, X));
        assert_eq!(p("sigma(x)"), u(UnaryOp::Sigmoid, X));
        assert_eq!(p("|x|"), u(UnaryOp::Abs, X));
        assert_eq!(
            p("||x| - 1|"),
            u(UnaryOp::Abs, b(BinaryOp::Sub, u(UnaryOp::Abs, X), c(1.0)))
        );
        assert_eq!(p("swish(x)"), b(BinaryOp::Mul, X, u(UnaryOp::Sigmoid, X)));
        assert_eq!(
            p("add(x, mul(x, x))"),
            b(BinaryOp::Add, X, b(BinaryOp::Mul, X, X))
        );
        assert_eq!(p("sign(x)"), u(UnaryOp::Sign, X));
        assert_eq!(p("√(x)"), u(UnaryOp::Sqrt, X));
        assert_eq!(p("x · x"), b(BinaryOp::Mul, X, X));
    }

    #[test]
    fn exponentials_and_logs() {
        assert_eq!(p("e^x"), u(UnaryOp::Exp, X));
        assert_eq!(p("e^x + 1"), b(BinaryOp::Add, u(UnaryOp::Exp, X), c(1.0)));
        assert_eq!(p("e^-x"), u(UnaryOp::Exp, u(UnaryOp::Neg, X)));
        assert_eq!(p("e^{-x^2}"), u(UnaryOp::Gaussian, X));
        assert_eq!(
            p("e^(-(sin(x))^2)"),
            u(UnaryOp::Gaussian, u(UnaryOp::Sin, X))
        );
        assert_eq!(
            p("exp(-x^2)"),
            u(UnaryOp::Exp, u(UnaryOp::Neg, u(UnaryOp::Square, X)))
        );
        assert_eq!(p("log(1 + e^x)"), u(UnaryOp::Softplus, X));
        assert_eq!(p("log(1 + exp(x))"), u(UnaryOp::Softplus, X));
        assert_eq!(
            p("log(1 + e^(-(x)^2))"),
            u(UnaryOp::Softplus, u(UnaryOp::Neg, u(UnaryOp::Square, X)))
        );
        assert_eq!(p("log(|x + ε|)"), u(UnaryOp::LogAbs, X));
        assert_eq!(p("log(abs(x + 0.001))"), u(UnaryOp::LogAbs, X));
        assert_eq!(p("log(x + eps)"), u(UnaryOp::LogAbs, X));
        assert_eq!(p("log(x)"), u(UnaryOp::LogAbs, X));
        assert_eq!(p("log(|x|)"), u(UnaryOp::LogAbs, u(UnaryOp::Abs, X)));
        assert_eq!(p("x / (x + ε)"), b(BinaryOp::Div, X, X));
        assert_eq!(
            p("x / (x + 0.001)"),
            b(BinaryOp::Div, X, b(BinaryOp::Add, X, c(EPS)))
        );
        assert_eq!(
            p("x / x + eps"),
            b(BinaryOp::Add, b(BinaryOp::Div, X, X), c(EPS))
        );
    }

    fn err(text: &str) -> String {
        Expr::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_position_and_expectation() {
        assert_eq!(
            err("tanh(x"),
            "cannot parse \"tanh(x\" at byte 6: expected \")\", found end of input"
        );
        assert_eq!(
            err("foo(x)"),
            "cannot parse \"foo(x)\" at byte 0: expected x, a number or a function name \
             (abs, exp, log, max, relu, sigmoid, tanh, ...), found \"foo\""
        );
        assert!(err("x^4").contains("at byte 2: expected the exponent 2 or 3, found \"4\""));
        assert!(err("x^2^2").contains("at byte 3"));
        assert!(err("max(x)").contains("expected \",\" (max takes two arguments), found \")\""));
        assert!(err("sin(x, x)").contains("expected \")\", found \",\""));
        assert!(err("").contains("found end of input"));
        assert!(err("x $ 1").contains("at byte 2"));
        assert!(err("2x").contains("expected an operator or end of input, found \"x\""));
        assert!(err("(x}").contains("expected \")\""));
        assert!(err("sin x").contains("expected \"(\" after \"sin\""));
        assert!(err("σ(x) + é").contains("at byte 8"));
    }

    #[test]
    fn nesting_limit() {
        let ok = format!(
            "{}x{}",
            "(".repeat(MAX_NESTING - 1),
            ")".repeat(MAX_NESTING - 1)
        );
        assert_eq!(p(&ok), X);
        let deep = format!("{}x{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert_eq!(
            Expr::parse(&deep),
            Err(ExprError::TooDeep {
                input: deep.clone(),
                position: MAX_NESTING,
                limit: MAX_NESTING
            })
        );
        for text in [
            format!("{}x{}", "sin(".repeat(100_000), ")".repeat(100_000)),
            format!("{}x", "-".repeat(100_000)),
            format!("{}x", "e^".repeat(100_000)),
            format!("{}x{}", "|".repeat(100_000), "|".repeat(100_000)),
        ] {
            let err = Expr::parse(&text).unwrap_err();
            assert!(matches!(err, ExprError::TooDeep { .. }), "{err}");
        }
    }

    #[test]
    fn height_limit() {
        let chain = vec!["x"; MAX_HEIGHT + 1].join(" + ");
        assert_eq!(p(&chain).height(), MAX_HEIGHT);
        let chain = vec!["x"; MAX_HEIGHT + 2].join(" + ");
        let err = Expr::parse(&chain).unwrap_err();
        assert!(
            matches!(
                err,
                ExprError::TooTall {
                    height: 61,
                    limit: 60,
                    ..
                }
            ),
            "{err}"
        );
        // The 61st `+`, at byte 4 * 60 + 2.
        assert!(
            err.to_string()
                .ends_with("at byte 242 is 61 levels tall, more than the limit of 60"),
            "{err}"
        );
        let minus = format!("{}x", "-".repeat(MAX_HEIGHT + 1));
        assert!(matches!(
            Expr::parse(&minus),
            Err(ExprError::TooTall { .. })
        ));
        let long = vec!["x"; 100_000].join(" + ");
        assert!(matches!(Expr::parse(&long), Err(ExprError::TooTall { .. })));
        // Shapes that read back to a shorter tree are held to the limit only when done.
        let tall = |n: usize| format!("{}x{}", "sin(".repeat(n), ")".repeat(n));
        for (text, height) in [
            (format!("log(1 + e^({}))", tall(59)), 60),
            (format!("log(|{} + eps|)", tall(59)), 60),
            (format!("e^(-({})^2)", tall(59)), 60),
            (format!("x / ({} + eps)", tall(59)), 60),
        ] {
            assert_eq!(p(&text).height(), height, "{text}");
        }
    }

    #[test]
    fn node_limit() {
        // Each `swish` copies its argument: 2^k nodes from 7k bytes.
        let text = format!("{}x{}", "swish(".repeat(25), ")".repeat(25));
        let err = Expr::parse(&text).unwrap_err();
        assert!(
            matches!(
                err,
                ExprError::TooLarge {
                    limit: MAX_NODES,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().contains("more than the limit of 1048576"),
            "{err}"
        );
        let text = format!("{}x{}", "swish(".repeat(15), ")".repeat(15));
        assert_eq!(p(&text).node_count(), 3 * (1 << 15) - 2);
    }
}
