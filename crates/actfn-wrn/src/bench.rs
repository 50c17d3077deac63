//! Benchmark of one training step (forward in train mode, cross-entropy, backward, SGD
//! update) of a WRN on random data: median seconds per step and the process's peak
//! resident memory.
//!
//! The peak (`VmHWM` in `/proc/self/status`) is the whole process's high-water mark, so
//! compare peaks of configurations each measured in a fresh process. Times are best
//! compared side by side in one process ([`bench_steps`]), interleaved step by step.

use std::sync::Arc;
use std::time::Instant;

use actfn_expr::Expr;
use serde::{Deserialize, Serialize};
use tch::nn;
use tch::{Device, Kind, Reduction, Tensor};

use crate::activation::{Activation, ActivationMode};
use crate::error::Result;
use crate::model::{self, parameter_count, Network, NetworkConfig};
use crate::train::Sgd;

/// What to measure.
#[derive(Debug, Clone)]
pub struct StepBenchConfig {
    /// The activation.
    pub activation: Expr,
    /// How its gradient is computed.
    pub mode: ActivationMode,
    /// The network.
    pub model: NetworkConfig,
    /// Images per step.
    pub batch_size: i64,
    /// Measured steps (after the warm-up).
    pub steps: usize,
    /// Unmeasured steps first.
    pub warmup: usize,
    /// libtorch threads; `None` leaves the default.
    pub threads: Option<usize>,
    /// Device; `None` picks CUDA when available.
    pub device: Option<Device>,
}

/// What was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepBench {
    /// The activation, printed canonically.
    pub activation: String,
    /// `autograd` or `symbolic`.
    pub mode: String,
    /// Whether the activation ran as ReLU's fast path.
    pub relu_fast_path: bool,
    /// The network's name (`wrn-10-1`, `resnet-20`, ...).
    pub network: String,
    /// Batch size.
    pub batch_size: i64,
    /// libtorch intra-op threads in use.
    pub threads: i64,
    /// Trainable parameters.
    pub parameters: i64,
    /// Measured steps.
    pub steps: usize,
    /// Median seconds per step.
    pub median_seconds: f64,
    /// Fastest step.
    pub min_seconds: f64,
    /// Slowest step.
    pub max_seconds: f64,
    /// Median CPU seconds per step over all threads of the process (user + system), where
    /// the OS reports it: unlike wall time, barely affected by other processes.
    pub median_cpu_seconds: Option<f64>,
    /// Peak resident memory of the process in bytes (`VmHWM`), where the OS reports it.
    pub peak_rss_bytes: Option<u64>,
}

/// The process's peak resident set size in bytes, from `/proc/self/status` (Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU seconds (user + system) used so far by all threads of the process, from
/// `/proc/self/stat` (Linux; clock ticks of 1/100 s).
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

/// Measures training steps of `config.model` with `config.activation` on random data.
pub fn bench_step(config: &StepBenchConfig) -> Result<StepBench> {
    let mut all = bench_steps(std::slice::from_ref(config))?;
    Ok(all.pop().expect("one configuration"))
}

/// One network under measurement.
struct Subject {
    /// Owns the parameters for as long as they are trained.
    _vs: nn::VarStore,
    net: Network,
    sgd: Sgd,
    act: Arc<Activation>,
    parameters: i64,
    times: Vec<f64>,
    cpu_times: Vec<f64>,
}

/// Measures several configurations side by side: every network is built first, then
/// each round runs one step of each in turn, so that a change in the machine's load
/// touches all of them alike and their ratios stay meaningful on a busy machine. The
/// thread count and device are the first configuration's; the peak memory reported is
/// the whole process's (the same for all).
pub fn bench_steps(configs: &[StepBenchConfig]) -> Result<Vec<StepBench>> {
    let Some(first) = configs.first() else {
        return Ok(Vec::new());
    };
    if let Some(t) = first.threads {
        tch::set_num_threads(t as i32);
    }
    let device = first.device.unwrap_or_else(Device::cuda_if_available);
    let mut subjects = Vec::with_capacity(configs.len());
    let mut data = Vec::with_capacity(configs.len());
    for config in configs {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(device);
        let act = Arc::new(Activation::new(&config.activation, config.mode));
        let net = model::build(&vs.root(), &config.model, &act)?;
        let sgd = Sgd::new(&vs, 0.9, true, 5e-4);
        let parameters = parameter_count(&vs);
        let input = config.model.input;
        let x = Tensor::f_randn(
            [config.batch_size, input.channels, input.height, input.width],
            (Kind::Float, device),
        )?;
        let y = Tensor::f_randint(
            config.model.classes,
            [config.batch_size],
            (Kind::Int64, device),
        )?;
        subjects.push(Subject {
            _vs: vs,
            net,
            sgd,
            act,
            parameters,
            times: Vec::new(),
            cpu_times: Vec::new(),
        });
        data.push((x, y));
    }
    let rounds = configs
        .iter()
        .map(|c| c.warmup + c.steps)
        .max()
        .unwrap_or(0);
    for i in 0..rounds {
        for ((s, config), (x, y)) in subjects.iter_mut().zip(configs).zip(&data) {
            if i >= config.warmup + config.steps {
                continue;
            }
            let start = Instant::now();
            let cpu_start = process_cpu_seconds();
            let logits = s.net.f_forward_t(x, true)?;
            let loss =
                logits.f_cross_entropy_loss::<Tensor>(y, None, Reduction::Mean, -100, 0.0)?;
            s.sgd.zero_grad();
            loss.f_backward()?;
            s.sgd.step(0.01)?;
            // Wait for the device: reading a value synchronises.
            let _ = loss.f_double_value(&[])?;
            if i >= config.warmup {
                s.times.push(start.elapsed().as_secs_f64());
                if let (Some(a), Some(b)) = (cpu_start, process_cpu_seconds()) {
                    s.cpu_times.push(b - a);
                }
            }
        }
    }
    let peak = peak_rss_bytes();
    Ok(subjects
        .into_iter()
        .zip(configs)
        .map(|(mut s, config)| {
            let median_seconds = median(&mut s.times);
            let median_cpu_seconds =
                (s.cpu_times.len() == s.times.len()).then(|| median(&mut s.cpu_times));
            StepBench {
                activation: config.activation.to_string(),
                mode: config.mode.to_string(),
                relu_fast_path: s.act.is_relu(),
                network: config.model.arch.to_string(),
                batch_size: config.batch_size,
                threads: tch::get_num_threads() as i64,
                parameters: s.parameters,
                steps: s.times.len(),
                median_seconds,
                min_seconds: s.times.first().copied().unwrap_or(f64::NAN),
                max_seconds: s.times.last().copied().unwrap_or(f64::NAN),
                median_cpu_seconds,
                peak_rss_bytes: peak,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actfn_expr::UnaryOp;

    #[test]
    fn measures_a_tiny_step() {
        let config = StepBenchConfig {
            activation: Expr::unary(UnaryOp::Tanh, Expr::X),
            mode: ActivationMode::SymbolicGrad,
            model: NetworkConfig::cifar("wrn-10-1".parse().unwrap(), 10),
            batch_size: 4,
            steps: 3,
            warmup: 1,
            threads: None,
            device: Some(Device::Cpu),
        };
        let b = bench_step(&config).unwrap();
        assert_eq!(b.steps, 3);
        assert!(b.median_seconds > 0.0 && b.min_seconds <= b.max_seconds);
        assert!(!b.relu_fast_path);
        assert_eq!(b.parameters, 77_850);
        if cfg!(target_os = "linux") {
            assert!(b.peak_rss_bytes.unwrap() > 10_000_000);
        }
    }
}
