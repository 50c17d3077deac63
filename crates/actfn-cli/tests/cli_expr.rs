//! End-to-end tests of `actfn expr`: the real binary, checked on its exact output, its
//! one-line error messages and its exit codes.

use std::process::{Command, Output};

/// Runs `actfn expr` with `args`.
fn expr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_actfn"))
        .arg("expr")
        .args(args)
        .output()
        .expect("the actfn binary runs")
}

/// The stdout of a successful run.
fn ok(args: &[&str]) -> String {
    let out = expr(args);
    assert!(
        out.status.success(),
        "actfn expr {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The stderr of a failed run, which must be exactly one line and exit code 2.
fn fails(args: &[&str]) -> String {
    let out = expr(args);
    assert_eq!(out.status.code(), Some(2), "actfn expr {args:?}");
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    err.trim_end().to_owned()
}

#[test]
fn count_prints_exact_sizes() {
    assert_eq!(ok(&["count", "--depth", "1"]), "3456\n");
    assert_eq!(ok(&["count", "--depth", "2"]), "41278242816\n");
    assert_eq!(
        ok(&["count", "--depth", "3"]),
        "5888655348399321787662336\n" // 6 * (24 * 41,278,242,816)^2
    );
    assert_eq!(
        ok(&[
            "count",
            "--depth",
            "2",
            "--unary-ops",
            "tanh,relu,sin",
            "--binary-ops",
            "add,mul"
        ]),
        "5832\n" // 2 * (3 * 18)^2
    );
}

#[test]
fn eval_prints_one_full_precision_value_per_line() {
    let out = ok(&["eval", "tanh(x) * min(x, 0)", "--at", "-1,0,2.5"]);
    let expected = format!("{}\n{}\n{}\n", -(-1f64).tanh(), 0.0, 0.0);
    assert_eq!(out, expected);
    assert_eq!(
        ok(&["eval", "sqrt(x)", "--at", "-1,4,inf"]),
        "NaN\n2\ninf\n"
    );
    assert_eq!(ok(&["eval", "-x", "--at", "0.1"]), "-0.1\n");
    assert_eq!(ok(&["eval", "logabs(x)", "--at", "-0.001"]), "-inf\n");
}

#[test]
fn grad_uses_the_symbolic_derivative() {
    assert_eq!(ok(&["grad", "relu(x)", "--at", "-1,0,1"]), "0\n0\n1\n");
    assert_eq!(ok(&["grad", "max(x, 0)", "--at", "0"]), "0.5\n");
    assert_eq!(ok(&["grad", "x^3", "--at", "2"]), "12\n");
    let s = ok(&["grad", "sin(x)", "--at", "1"]);
    assert_eq!(s, format!("{}\n", 1f64.cos()));
}

#[test]
fn print_styles() {
    let f = "min(1, cosh(x))^3 * sigmoid(exp(x) + atan(x))";
    assert_eq!(
        ok(&["print", f]),
        "min(1, cosh(x))^3 * sigmoid(exp(x) + atan(x))\n"
    );
    assert_eq!(
        ok(&["print", f, "--style", "paper"]),
        "(min{1, cosh(x)})^3 * σ(e^x + arctan(x))\n"
    );
    assert_eq!(
        ok(&["print", f, "--style", "paper-ascii"]),
        "(min{1, cosh(x)})^3 * sigma(e^x + arctan(x))\n"
    );
    assert_eq!(
        ok(&["print", "relu(x) / x", "--style", "latex"]),
        "\\frac{\\max\\{x, 0\\}}{x + \\epsilon}\n"
    );
    assert_eq!(ok(&["print", "log(1 + e^x)"]), "softplus(x)\n");
}

#[test]
fn sample_is_seeded_and_canonical() {
    let a = ok(&["sample", "--depth", "2", "--count", "5", "--seed", "7"]);
    let b = ok(&["sample", "--depth", "2", "--count", "5", "--seed", "7"]);
    let c = ok(&["sample", "--depth", "2", "--count", "5", "--seed", "8"]);
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.lines().count(), 5);
    for line in a.lines() {
        // Canonical text prints itself.
        assert_eq!(ok(&["print", line]).trim_end(), line);
        assert!(
            ok(&["check", line]).contains("search space: S_2\n"),
            "{line}"
        );
    }
}

#[test]
fn enumerate_lists_s1() {
    let out = ok(&["enumerate", "--depth", "1"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3456);
    assert_eq!(lines[0], "zero(x) + zero(x)");
    assert_eq!(lines[1], "zero(x) + one(x)");
    assert_eq!(lines[3455], "min(sinc(x), sinc(x))");
    let unique: std::collections::HashSet<_> = lines.iter().collect();
    assert_eq!(unique.len(), 3456);
    assert_eq!(
        ok(&["enumerate", "--depth", "3", "--limit", "2"])
            .lines()
            .count(),
        2
    );
}

#[test]
fn check_reports_fingerprint_degeneracy_and_membership() {
    let out = ok(&["check", "tanh(x) * min(x, 0)"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "canonical: tanh(x) * min(x, 0)");
    assert_eq!(lines[1], "paper: tanh(x) * min{x, 0}");
    assert!(lines[2].starts_with("fingerprint: ") && lines[2].len() == "fingerprint: ".len() + 16);
    assert_eq!(lines[3], "degenerate: no");
    assert_eq!(lines[4], "search space: S_1 as tanh(x) * min0(x)");
    // The same function written as a member has the same fingerprint.
    let member = ok(&["check", "mul(tanh(x), min0(x))"]);
    assert!(member.contains(lines[2]));
    assert!(member.contains("search space: S_1\n"));

    let out = ok(&["check", "sqrt(x) + x"]);
    assert!(out.contains("degenerate: non-finite at x = -10\n"), "{out}");
    assert!(
        out.contains("search space: S_1 as sqrt(x) + id(x)\n"),
        "{out}"
    );
    let out = ok(&["check", "sin(x) - sin(x)"]);
    assert!(
        out.contains("degenerate: constant 0 on every probe\n"),
        "{out}"
    );
    assert!(ok(&["check", "sin(sin(x))"]).contains("search space: none\n"));
}

#[test]
fn bad_input_is_one_clear_line() {
    assert_eq!(
        fails(&["eval", "tanh(x", "--at", "1"]),
        "actfn: cannot parse \"tanh(x\" at byte 6: expected \")\", found end of input"
    );
    assert_eq!(
        fails(&["print", "x^4"]),
        "actfn: cannot parse \"x^4\" at byte 2: expected the exponent 2 or 3, found \"4\""
    );
    assert!(fails(&["check", "tanh(x) +* 1"]).contains("at byte 9"));
    assert!(fails(&["grad", "foo(x)", "--at", "0"]).contains("found \"foo\""));
    assert_eq!(
        fails(&["count", "--depth", "1", "--unary-ops", "tanh,tanh"]),
        "actfn: search space lists the unary op \"tanh\" twice"
    );
    assert_eq!(
        fails(&["count", "--depth", "0"]),
        "actfn: search-space depth must be at least 1, got 0"
    );
    let deep = format!("{}x{}", "(".repeat(1000), ")".repeat(1000));
    assert!(fails(&["print", &deep]).contains("nests deeper than 256 levels"));
}

#[test]
fn bad_flags_are_rejected_by_clap() {
    let out = expr(&["count", "--depth", "1", "--unary-ops", "tanh,foo"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown unary op \"foo\""));
    let out = expr(&["eval", "x", "--at", "1,abc"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("abc"));
}

#[test]
fn torch_backend_agrees_with_f64_values_and_derivatives() {
    let f = "(-(atan(x^3) * cos(1))) * (-(atan(min(x, 0)) * max(abs(x), 0))) + sinc(x) + logabs(x)";
    let at = "-3,-1.5,-0.2,0,0.3,1,2.5";
    let parse =
        |text: String| -> Vec<f64> { text.lines().map(|l| l.parse::<f64>().unwrap()).collect() };
    for command in ["eval", "grad"] {
        let exact = parse(ok(&[command, f, "--at", at]));
        let torch = parse(ok(&[command, f, "--at", at, "--backend", "torch"]));
        assert_eq!(exact.len(), 7);
        assert_eq!(torch.len(), 7);
        for (e, t) in exact.iter().zip(&torch) {
            assert!(
                (e - t).abs() <= 1e-4 * e.abs().max(1.0),
                "{command}: f64 {e} vs torch {t}"
            );
        }
    }
}
