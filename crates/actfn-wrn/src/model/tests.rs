//! Parameter counts, shapes and gradients of every network.

use super::*;
use crate::activation::ActivationMode;
use tch::{nn::VarStore, Device, Kind};

fn count(name: &str, classes: i64) -> i64 {
    count_parameters(&NetworkConfig::cifar(name.parse().unwrap(), classes)).unwrap()
}

/// The counts of the PyTorch definitions in experiments/parity/networks.py (printed by
/// `cargo xtask parity --counts`, which compares the two directly).
#[test]
fn parameter_counts_equal_the_pytorch_definitions() {
    for (name, classes, expected) in PYTORCH_COUNTS {
        assert_eq!(
            count(name, *classes),
            *expected,
            "{name}, {classes} classes"
        );
    }
}

const PYTORCH_COUNTS: &[(&str, i64, i64)] = &[
    ("resnet-20", 10, 269_722),
    ("resnet-20", 100, 275_572),
    ("resnet-56", 10, 853_018),
    ("vgg-16", 10, 14_728_266),
    ("vgg-16", 100, 14_774_436),
    ("allcnn-c-nobn", 10, 1_369_738),
    ("allcnn-c-nobn", 100, 1_387_108),
    ("allcnn-c", 10, 1_372_254),
    ("allcnn-c", 100, 1_389_804),
    ("mlp-512-3", 10, 2_106_890),
    ("mobilenetv2", 10, 2_236_682),
    ("mobilenetv2", 100, 2_351_972),
];

#[test]
fn every_network_maps_a_batch_to_logits_and_back() {
    for (name, input) in [
        ("wrn-10-1", [2, 3, 32, 32]),
        ("resnet-8", [2, 3, 32, 32]),
        ("resnet-8", [2, 1, 28, 28]),
        ("vgg-11", [2, 3, 32, 32]),
        ("allcnn-c-nobn", [2, 3, 32, 32]),
        ("allcnn-c", [2, 1, 28, 28]),
        ("mlp-16-2", [2, 3, 32, 32]),
        ("mobilenetv2", [2, 3, 32, 32]),
    ] {
        tch::manual_seed(0);
        let vs = VarStore::new(Device::Cpu);
        let cfg = NetworkConfig {
            input: InputShape::of_batch(&input).unwrap(),
            ..NetworkConfig::cifar(name.parse().unwrap(), 7)
        };
        let e: actfn_expr::Expr = "x * sigmoid(x)".parse().unwrap();
        let act = Arc::new(Activation::new(&e, ActivationMode::SymbolicGrad));
        let net = build(&vs.root(), &cfg, &act).unwrap();
        let x = Tensor::randn(input, (Kind::Float, Device::Cpu));
        let logits = net.f_forward_t(&x, true).unwrap();
        assert_eq!(logits.size(), [2, 7], "{name}");
        // Every parameter receives a gradient: the in-place additions and the shortcuts
        // keep the graph whole.
        logits.sum(Kind::Float).backward();
        for (var, t) in vs.variables() {
            if t.requires_grad() {
                let g = t.grad();
                assert!(g.defined(), "{name}: {var} has no gradient");
                let norm = g.abs().sum(Kind::Float).double_value(&[]);
                assert!(norm.is_finite(), "{name}: {var} gradient {norm}");
            }
        }
        let eval = tch::no_grad(|| net.f_forward_t(&x, false)).unwrap();
        assert_eq!(eval.size(), [2, 7], "{name}");
    }
}

#[test]
fn vectors_train_only_in_the_mlp() {
    let vs = VarStore::new(Device::Cpu);
    let input = InputShape::of_batch(&[4, 20]).unwrap();
    let cfg = NetworkConfig {
        input,
        ..NetworkConfig::cifar("mlp-8-2".parse().unwrap(), 3)
    };
    let net = build(&vs.root(), &cfg, &Arc::new(Activation::relu())).unwrap();
    let x = Tensor::randn([4, 20], (Kind::Float, Device::Cpu));
    assert_eq!(net.f_forward_t(&x, true).unwrap().size(), [4, 3]);
    // 20 -> 8 -> 8 -> 3 with biases, two batch norms.
    assert_eq!(
        parameter_count(&vs),
        20 * 8 + 8 + 16 + 8 * 8 + 8 + 16 + 8 * 3 + 3
    );
    let err = count_parameters(&NetworkConfig {
        input,
        ..NetworkConfig::cifar("resnet-20".parse().unwrap(), 3)
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("at least 4x4") && err.contains("1x1"), "{err}");
}

#[test]
fn inputs_too_small_and_empty_classes_are_refused() {
    let small = NetworkConfig {
        input: InputShape {
            channels: 3,
            height: 16,
            width: 16,
        },
        ..NetworkConfig::cifar("vgg-16".parse().unwrap(), 10)
    };
    let err = count_parameters(&small).unwrap_err().to_string();
    assert!(
        err.contains("vgg-16 needs images of at least 32x32"),
        "{err}"
    );
    let none = NetworkConfig::cifar("resnet-20".parse().unwrap(), 0);
    assert!(count_parameters(&none)
        .unwrap_err()
        .to_string()
        .contains("class count 0"));
}

#[test]
fn option_a_shortcut_subsamples_and_pads_with_zeros() {
    // ResNet-8's second stage starts with a block from 16 to 32 channels at stride 2: its
    // shortcut is the input at even pixels, with 8 zero channels on either side.
    let block_input =
        Tensor::arange(2 * 16 * 8 * 8, (Kind::Float, Device::Cpu)).view([2, 16, 8, 8]);
    let shortcut = resnet::option_a_shortcut(&block_input, 2, (8, 8)).unwrap();
    assert_eq!(shortcut.size(), [2, 32, 4, 4]);
    let middle = shortcut.narrow(1, 8, 16);
    let expected = block_input.slice(2, 0, None, 2).slice(3, 0, None, 2);
    assert!(middle.equal(&expected));
    assert_eq!(
        shortcut
            .narrow(1, 0, 8)
            .abs()
            .sum(Kind::Float)
            .double_value(&[]),
        0.0
    );
    assert_eq!(
        shortcut
            .narrow(1, 24, 8)
            .abs()
            .sum(Kind::Float)
            .double_value(&[]),
        0.0
    );
}
