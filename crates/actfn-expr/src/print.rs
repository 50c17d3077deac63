//! Writing expressions as text: the canonical form (`Display`, serde), the paper's
//! notation (Unicode or ASCII) and LaTeX.
//!
//! The canonical form is ordinary math with infix `+ - * /`, prefix `-`, postfix `^2`
//! and `^3`, and every other op as a call by its canonical name:
//! `min0(x) * tanh(x)`, `-(atan(x^3) * cos(one(x)))`, `logabs(x) / (x + 1)`. It uses the
//! fewest parentheses that keep the tree, plus some around prefix minus for legibility.
//! Literals print as the shortest decimal that reads back to the same `f64`; a negative
//! literal prints as `-2` (and `neg(2)` as `-(2)`). [`Expr::parse`] reads it back to the
//! identical tree, for every accepted tree (NaN literals other than the canonical NaN
//! come back as the canonical NaN), and reads the paper notation back to a tree with the
//! same values: see [`crate::limits`] for the rule and why it holds. The printers recurse
//! once per tree level, so they are for accepted trees ([`Expr::check_printable`]), which
//! is every tree the crate builds from outside input.

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ast::Expr;
use crate::limits::PRINT_HEIGHT;
use crate::ops::{BinaryOp, UnaryOp};

/// A text notation for expressions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Style {
    /// The canonical form: parses back to the identical tree.
    #[default]
    Canonical,
    /// The paper's notation with Unicode symbols: `max{x, 0}`, `σ(x)`, `e^x`, `(x)^3`,
    /// `|x|`, `log(|x + ε|)`, `x / (x + ε)`, `arctan(x)`. It parses back to a tree that
    /// computes the same values (`id(E)` prints as `E`, `zero(E)` as `0`, `relu(E)` as
    /// `max{E, 0}`, so the tree may differ).
    Paper,
    /// [`Style::Paper`] in ASCII: `sigma(x)`, `eps`, `sqrt(x)`.
    PaperAscii,
    /// LaTeX math (without the surrounding `$`), for the tables and figures.
    Latex,
}

impl Expr {
    /// A `Display` adapter writing `self` in `style`: `e.styled(Style::Paper).to_string()`.
    pub fn styled(&self, style: Style) -> Styled<'_> {
        Styled { expr: self, style }
    }
}

/// An expression paired with a [`Style`], for `Display`.
#[derive(Clone, Copy, Debug)]
pub struct Styled<'a> {
    expr: &'a Expr,
    style: Style,
}

impl fmt::Display for Styled<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only code that builds trees by hand can get here with a taller one; a
        // placeholder (which does not parse) beats a stack overflow.
        let height = self.expr.height();
        if height > PRINT_HEIGHT {
            return write!(f, "<expression {height} levels tall>");
        }
        let mut out = String::new();
        match self.style {
            Style::Canonical => canonical(self.expr, &mut out),
            Style::Paper => paper(self.expr, &mut out, &UNICODE),
            Style::PaperAscii => paper(self.expr, &mut out, &ASCII),
            Style::Latex => latex(self.expr, &mut out),
        }
        f.write_str(&out)
    }
}

/// The canonical form; see the module docs.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.styled(Style::Canonical).fmt(f)
    }
}

/// Serializes as canonical text, so expressions are plain strings in RON, JSON and CSV.
/// A tree past the size limits is an error, so that nothing is written that could not be
/// read back.
impl Serialize for Expr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        self.check_printable().map_err(S::Error::custom)?;
        serializer.collect_str(self)
    }
}

/// Parses any text [`Expr::parse`] accepts.
impl<'de> Deserialize<'de> for Expr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Expr::parse(&text).map_err(D::Error::custom)
    }
}

// Binding strength of what a node prints as, loosest first.
const SUM: u8 = 1;
const PRODUCT: u8 = 2;
const PREFIX: u8 = 3;
const POWER: u8 = 4;
const ATOM: u8 = 5;

fn negative(c: f64) -> bool {
    c.is_sign_negative()
}

/// The shortest text that reads back to `v`, sign included.
pub(crate) fn number(v: f64) -> String {
    let sign = if v.is_sign_negative() { "-" } else { "" };
    let m = v.abs();
    if m.is_nan() {
        format!("{sign}nan")
    } else if m.is_infinite() {
        format!("{sign}inf")
    } else if m == m.trunc() && m < 1e16 {
        format!("{sign}{m}")
    } else {
        format!("{sign}{m:?}")
    }
}

fn canonical_prec(e: &Expr) -> u8 {
    match e {
        Expr::X => ATOM,
        Expr::Const(c) => {
            if negative(c.0) {
                PREFIX
            } else {
                ATOM
            }
        }
        Expr::Unary(UnaryOp::Neg, _) => PREFIX,
        Expr::Unary(UnaryOp::Square | UnaryOp::Cube, _) => POWER,
        Expr::Unary(..) => ATOM,
        Expr::Binary(op, ..) => infix(*op).map_or(ATOM, |(_, p)| p),
    }
}

fn infix(op: BinaryOp) -> Option<(&'static str, u8)> {
    match op {
        BinaryOp::Add => Some((" + ", SUM)),
        BinaryOp::Sub => Some((" - ", SUM)),
        BinaryOp::Mul => Some((" * ", PRODUCT)),
        BinaryOp::Div => Some((" / ", PRODUCT)),
        BinaryOp::Max | BinaryOp::Min => None,
    }
}

/// Whether an operand of an infix operator of strength `op` needs parentheses.
fn operand_needs_parens(child: u8, op: u8, right: bool) -> bool {
    child < op || (right && (child <= op || child == PREFIX))
}

fn canonical(e: &Expr, out: &mut String) {
    let wrapped = |e: &Expr, parens: bool, out: &mut String| {
        if parens {
            out.push('(');
            canonical(e, out);
            out.push(')');
        } else {
            canonical(e, out);
        }
    };
    match e {
        Expr::X => out.push('x'),
        Expr::Const(c) => out.push_str(&number(c.0)),
        Expr::Unary(UnaryOp::Neg, a) => {
            out.push('-');
            // `-(2)`, not `-2`, which would read back as a negative literal.
            let parens = canonical_prec(a) < POWER || matches!(**a, Expr::Const(_));
            wrapped(a, parens, out);
        }
        Expr::Unary(op @ (UnaryOp::Square | UnaryOp::Cube), a) => {
            wrapped(a, canonical_prec(a) < ATOM, out);
            out.push_str(if *op == UnaryOp::Square { "^2" } else { "^3" });
        }
        Expr::Unary(op, a) => {
            out.push_str(op.name());
            out.push('(');
            canonical(a, out);
            out.push(')');
        }
        Expr::Binary(op, a, b) => match infix(*op) {
            Some((symbol, p)) => {
                wrapped(a, operand_needs_parens(canonical_prec(a), p, false), out);
                out.push_str(symbol);
                wrapped(b, operand_needs_parens(canonical_prec(b), p, true), out);
            }
            None => {
                out.push_str(op.name());
                out.push('(');
                canonical(a, out);
                out.push_str(", ");
                canonical(b, out);
                out.push(')');
            }
        },
    }
}

/// The symbols that differ between the Unicode and ASCII paper notations.
struct Symbols {
    sigma: &'static str,
    eps: &'static str,
    sqrt: &'static str,
}

const UNICODE: Symbols = Symbols {
    sigma: "σ",
    eps: "ε",
    sqrt: "√",
};
const ASCII: Symbols = Symbols {
    sigma: "sigma",
    eps: "eps",
    sqrt: "sqrt",
};

fn paper_prec(e: &Expr) -> u8 {
    match e {
        Expr::Unary(UnaryOp::Identity, a) => paper_prec(a),
        Expr::Unary(UnaryOp::Zero | UnaryOp::One, _) => ATOM,
        Expr::Unary(UnaryOp::Exp | UnaryOp::Gaussian, _) => POWER,
        _ => canonical_prec(e),
    }
}

/// Whether `e^E` may omit the braces around `E`.
fn bare_exponent(e: &Expr) -> bool {
    match e {
        Expr::X => true,
        Expr::Const(c) => !negative(c.0),
        Expr::Unary(UnaryOp::Identity, a) => bare_exponent(a),
        _ => false,
    }
}

fn paper(e: &Expr, out: &mut String, s: &Symbols) {
    let wrapped = |e: &Expr, parens: bool, out: &mut String| {
        if parens {
            out.push('(');
            paper(e, out, s);
            out.push(')');
        } else {
            paper(e, out, s);
        }
    };
    let call = |name: &str, a: &Expr, out: &mut String| {
        out.push_str(name);
        out.push('(');
        paper(a, out, s);
        out.push(')');
    };
    match e {
        Expr::X => out.push('x'),
        Expr::Const(c) => out.push_str(&number(c.0)),
        Expr::Unary(op, a) => match op {
            UnaryOp::Zero => out.push('0'),
            UnaryOp::One => out.push('1'),
            UnaryOp::Identity => paper(a, out, s),
            UnaryOp::Neg => {
                out.push('-');
                let parens = paper_prec(a) < POWER || matches!(**a, Expr::Const(_));
                wrapped(a, parens, out);
            }
            UnaryOp::Abs => {
                out.push('|');
                paper(a, out, s);
                out.push('|');
            }
            UnaryOp::Square | UnaryOp::Cube => {
                wrapped(a, true, out);
                out.push_str(if *op == UnaryOp::Square { "^2" } else { "^3" });
            }
            UnaryOp::Sqrt => call(s.sqrt, a, out),
            UnaryOp::Exp => {
                out.push_str("e^");
                wrapped(a, !bare_exponent(a), out);
            }
            UnaryOp::Gaussian => {
                out.push_str("e^(-");
                wrapped(a, !bare_exponent(a), out);
                out.push_str("^2)");
            }
            UnaryOp::Softplus => {
                out.push_str("log(1 + e^");
                wrapped(a, !bare_exponent(a), out);
                out.push(')');
            }
            UnaryOp::LogAbs => {
                out.push_str("log(|");
                paper(a, out, s);
                out.push_str(" + ");
                out.push_str(s.eps);
                out.push_str("|)");
            }
            UnaryOp::Asinh => call("arcsinh", a, out),
            UnaryOp::Atan => call("arctan", a, out),
            UnaryOp::Atanh => call("arctanh", a, out),
            UnaryOp::Sigmoid => call(s.sigma, a, out),
            UnaryOp::Relu | UnaryOp::MinZero => {
                out.push_str(if *op == UnaryOp::Relu { "max{" } else { "min{" });
                paper(a, out, s);
                out.push_str(", 0}");
            }
            _ => call(op.name(), a, out),
        },
        Expr::Binary(op, a, b) => match op {
            BinaryOp::Max | BinaryOp::Min => {
                out.push_str(if *op == BinaryOp::Max { "max{" } else { "min{" });
                paper(a, out, s);
                out.push_str(", ");
                paper(b, out, s);
                out.push('}');
            }
            BinaryOp::Div => {
                wrapped(a, paper_prec(a) < PRODUCT, out);
                out.push_str(" / (");
                paper(b, out, s);
                out.push_str(" + ");
                out.push_str(s.eps);
                out.push(')');
            }
            _ => {
                let (symbol, p) = infix(*op).expect("infix op");
                wrapped(a, operand_needs_parens(paper_prec(a), p, false), out);
                out.push_str(symbol);
                wrapped(b, operand_needs_parens(paper_prec(b), p, true), out);
            }
        },
    }
}

fn latex_number(v: f64) -> String {
    if v.is_nan() {
        r"\mathrm{NaN}".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { r"\infty" } else { r"-\infty" }.to_owned()
    } else {
        number(v)
    }
}

fn latex(e: &Expr, out: &mut String) {
    let wrapped = |e: &Expr, parens: bool, out: &mut String| {
        if parens {
            out.push_str(r"\left(");
            latex(e, out);
            out.push_str(r"\right)");
        } else {
            latex(e, out);
        }
    };
    let call = |name: &str, a: &Expr, out: &mut String| {
        out.push_str(name);
        out.push_str(r"\left(");
        latex(a, out);
        out.push_str(r"\right)");
    };
    let braced = |prefix: &str, a: &Expr, suffix: &str, out: &mut String| {
        out.push_str(prefix);
        latex(a, out);
        out.push_str(suffix);
    };
    match e {
        Expr::X => out.push('x'),
        Expr::Const(c) => out.push_str(&latex_number(c.0)),
        Expr::Unary(op, a) => match op {
            UnaryOp::Zero => out.push('0'),
            UnaryOp::One => out.push('1'),
            UnaryOp::Identity => latex(a, out),
            UnaryOp::Neg => {
                out.push('-');
                let parens = paper_prec(a) < POWER || matches!(**a, Expr::Const(_));
                wrapped(a, parens, out);
            }
            UnaryOp::Abs => braced(r"\left|", a, r"\right|", out),
            UnaryOp::Square | UnaryOp::Cube => {
                wrapped(a, true, out);
                out.push_str(if *op == UnaryOp::Square {
                    "^{2}"
                } else {
                    "^{3}"
                });
            }
            UnaryOp::Sqrt => braced(r"\sqrt{", a, "}", out),
            UnaryOp::Exp => braced("e^{", a, "}", out),
            UnaryOp::Gaussian => {
                out.push_str("e^{-");
                wrapped(a, !bare_exponent(a), out);
                out.push_str("^{2}}");
            }
            UnaryOp::Softplus => braced(r"\log\left(1 + e^{", a, r"}\right)", out),
            UnaryOp::LogAbs => braced(r"\log\left(\left|", a, r" + \epsilon\right|\right)", out),
            UnaryOp::Sin => call(r"\sin", a, out),
            UnaryOp::Sinh => call(r"\sinh", a, out),
            UnaryOp::Cos => call(r"\cos", a, out),
            UnaryOp::Cosh => call(r"\cosh", a, out),
            UnaryOp::Tanh => call(r"\tanh", a, out),
            UnaryOp::Atan => call(r"\arctan", a, out),
            UnaryOp::Asinh => call(r"\operatorname{arcsinh}", a, out),
            UnaryOp::Atanh => call(r"\operatorname{arctanh}", a, out),
            UnaryOp::Sigmoid => call(r"\sigma", a, out),
            UnaryOp::Relu => braced(r"\max\{", a, r", 0\}", out),
            UnaryOp::MinZero => braced(r"\min\{", a, r", 0\}", out),
            UnaryOp::Recip => braced(r"\frac{1}{", a, "}", out),
            UnaryOp::DSinc => call(r"\operatorname{sinc}'", a, out),
            _ => call(&format!(r"\operatorname{{{}}}", op.name()), a, out),
        },
        Expr::Binary(op, a, b) => match op {
            BinaryOp::Max | BinaryOp::Min => {
                out.push_str(if *op == BinaryOp::Max {
                    r"\max\{"
                } else {
                    r"\min\{"
                });
                latex(a, out);
                out.push_str(", ");
                latex(b, out);
                out.push_str(r"\}");
            }
            BinaryOp::Div => {
                braced(r"\frac{", a, "}", out);
                braced("{", b, r" + \epsilon}", out);
            }
            _ => {
                let (symbol, p) = infix(*op).expect("infix op");
                let symbol = if *op == BinaryOp::Mul {
                    r" \cdot "
                } else {
                    symbol
                };
                wrapped(a, operand_needs_parens(paper_prec(a), p, false), out);
                out.push_str(symbol);
                wrapped(b, operand_needs_parens(paper_prec(b), p, true), out);
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Literal;

    fn p(text: &str) -> Expr {
        Expr::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn canonical_text() {
        for text in [
            "x",
            "tanh(x) * min0(x)",
            "-(atan(x^3) * cos(1)) * -(atan(min(x, 0)) * max(abs(x), 0))",
            "x - (x - x)",
            "x - x - x",
            "x * (-x)",
            "-x * x",
            "-(-x)",
            "-(2)",
            "-2 * x",
            "(-2)^2",
            "-2^2",
            "(x^2)^3",
            "(x + 1) / (x * 2)",
            "0.001",
            "1e-7 + 1.5e300",
            "-inf + nan",
            "logabs(x) - softplus(x) + gauss(x) + one(x) + zero(x) + id(x)",
            "max(x, -1)",
            "sign(x) * step(x) + recip(x) * dsinc(x)",
        ] {
            let e = p(text);
            assert_eq!(p(&e.to_string()), e, "{text} -> {e}");
        }
        assert_eq!(p("(x * x) + ((x))").to_string(), "x * x + x");
        assert_eq!(p("x * -x").to_string(), "x * (-x)");
        assert_eq!(p("-(-x)").to_string(), "-(-x)");
        assert_eq!(p("-(1)").to_string(), "-(1)");
        assert_eq!(p("neg(-1)").to_string(), "-(-1)");
        assert_eq!(p("2.50").to_string(), "2.5");
        assert_eq!(p("1e20").to_string(), "1e20");
        assert_eq!(p("1e-7").to_string(), "1e-7");
        assert_eq!(p("e^x").to_string(), "exp(x)");
        assert_eq!(p("log(x)").to_string(), "logabs(x)");
        assert_eq!(p("max{x, 0}").to_string(), "max(x, 0)");
        assert_eq!(p("x / (x + eps)").to_string(), "x / x");
    }

    #[test]
    fn literal_edge_cases_round_trip() {
        for v in [
            0.0,
            -0.0,
            0.1,
            -0.1,
            1e-320,
            f64::MAX,
            f64::MIN,
            1e16,
            123456789.125,
        ] {
            let e = Expr::constant(v);
            let back = p(&e.to_string());
            assert_eq!(back, e, "{v:?} -> {e}");
            let sq = Expr::unary(UnaryOp::Square, e.clone());
            assert_eq!(p(&sq.to_string()), sq);
            let neg = Expr::unary(UnaryOp::Neg, e.clone());
            assert_eq!(p(&neg.to_string()), neg);
            let sub = Expr::binary(BinaryOp::Sub, Expr::X, e);
            assert_eq!(p(&sub.to_string()), sub);
        }
        let nan = p(&Expr::Const(Literal(f64::NAN)).to_string());
        assert_eq!(nan, Expr::constant(f64::NAN));
    }

    #[test]
    fn paper_notation() {
        let figure1 = p("mul(cube(min(one(x), cosh(x))), sigmoid(add(exp(x), atan(x))))");
        assert_eq!(
            figure1.styled(Style::Paper).to_string(),
            "(min{1, cosh(x)})^3 * σ(e^x + arctan(x))"
        );
        assert_eq!(
            figure1.styled(Style::PaperAscii).to_string(),
            "(min{1, cosh(x)})^3 * sigma(e^x + arctan(x))"
        );
        let e = p("mul(tanh(x), min0(x))");
        assert_eq!(e.styled(Style::Paper).to_string(), "tanh(x) * min{x, 0}");
        let e = p("div(logabs(x), relu(id(x))) + softplus(x) - gauss(sin(x)) + sqrt(abs(x))");
        assert_eq!(
            e.styled(Style::Paper).to_string(),
            "log(|x + ε|) / (max{x, 0} + ε) + log(1 + e^x) - e^(-(sin(x))^2) + √(|x|)"
        );
        assert_eq!(
            e.styled(Style::Latex).to_string(),
            r"\frac{\log\left(\left|x + \epsilon\right|\right)}{\max\{x, 0\} + \epsilon} + \log\left(1 + e^{x}\right) - e^{-\left(\sin\left(x\right)\right)^{2}} + \sqrt{\left|x\right|}"
        );
    }

    #[test]
    fn serde_is_canonical_text() {
        let e = p("tanh(x) * min(x, 0)");
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, r#""tanh(x) * min(x, 0)""#);
        assert_eq!(serde_json::from_str::<Expr>(&json).unwrap(), e);
        assert_eq!(
            ron::from_str::<Expr>(&ron::to_string(&e).unwrap()).unwrap(),
            e
        );
        let err = serde_json::from_str::<Expr>(r#""tanh(x""#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("at byte 6"), "{err}");
    }
}
