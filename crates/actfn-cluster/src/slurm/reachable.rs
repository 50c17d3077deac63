//! Whether a Slurm cluster answers, for callers that decide to use or skip it (the tests of
//! actfn-cluster and of the `actfn` executors).

use std::path::PathBuf;
use std::process::Command;

/// Where `cargo xtask slurm up` writes its `export SLURM_CONF=...` line, unless
/// `ACTFN_SLURM_DIR` names another folder.
const DEFAULT_ENV_FILE: &str = "/tmp/actfn-slurm/env.sh";

/// `Ok` when `sinfo` shows a usable node; otherwise why not, in words for a skip or failure
/// message. Sets `SLURM_CONF` from the env file of `slurm up` when it is not set, so call
/// it before starting Slurm commands (once per process: it changes the environment).
pub fn slurm_reachable() -> Result<(), String> {
    if std::env::var_os("SLURM_CONF").is_none() {
        let env_file = std::env::var("ACTFN_SLURM_DIR")
            .map(|d| PathBuf::from(d).join("env.sh"))
            .unwrap_or_else(|_| PathBuf::from(DEFAULT_ENV_FILE));
        let text = std::fs::read_to_string(&env_file)
            .map_err(|e| format!("no SLURM_CONF and no {} ({e})", env_file.display()))?;
        let conf = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("export SLURM_CONF="))
            .ok_or_else(|| format!("{} has no export SLURM_CONF= line", env_file.display()))?;
        std::env::set_var("SLURM_CONF", conf.trim());
    }
    // sinfo waits a minute for a missing configuration file; say so at once instead.
    let conf = PathBuf::from(std::env::var_os("SLURM_CONF").unwrap_or_default());
    if !conf.is_file() {
        return Err(format!("SLURM_CONF {} is not a file", conf.display()));
    }
    let out = Command::new("timeout")
        .args(["20", "sinfo", "--noheader", "--format=%t"])
        .output()
        .map_err(|e| format!("cannot run sinfo ({e})"))?;
    let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success()
        || state.is_empty()
        || state.contains("down")
        || state.contains("drain")
    {
        return Err(format!(
            "sinfo does not show a usable node ({state:?}; {})",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// For test suites: whether Slurm answers, probed once per process (before any test
/// starts a Slurm command: they all wait here). Without Slurm a test skips, saying why;
/// with `ACTFN_REQUIRE_SLURM=1` (as CI sets it) that is a panic instead, so nothing skips
/// silently there.
pub fn slurm_up_or_skip() -> bool {
    static UP: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    match UP.get_or_init(slurm_reachable) {
        Ok(()) => true,
        Err(why) if std::env::var("ACTFN_REQUIRE_SLURM").as_deref() == Ok("1") => {
            panic!("ACTFN_REQUIRE_SLURM=1 but Slurm is not reachable: {why}; run `cargo xtask slurm up`")
        }
        Err(why) => {
            eprintln!("skipped: Slurm is not reachable: {why} (run `cargo xtask slurm up`)");
            false
        }
    }
}
