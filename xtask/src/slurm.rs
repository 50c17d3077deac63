//! `cargo xtask slurm up|down`: a one-node Slurm cluster on this machine, for the tests of
//! actfn-cluster and for trying the Slurm executor without a real cluster.
//!
//! Debian's slurm-wlm (22.05) and munge are installed with apt-get when missing; the
//! daemons run as root without systemd, from a configuration, state and logs kept in one
//! folder (`/tmp/actfn-slurm` by default). Client commands find the cluster through
//! `SLURM_CONF`, which `up` prints and writes to `<folder>/env.sh`. That line is all `up`
//! writes to standard output (child programs write to standard error), so
//! `eval "$(cargo xtask slurm up)"` sets it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Where the cluster lives unless told otherwise; the tests look here too.
pub const DEFAULT_DIR: &str = "/tmp/actfn-slurm";
/// The file holding the `export SLURM_CONF=...` line, inside the folder.
pub const ENV_FILE: &str = "env.sh";
/// How long `up` waits for the node to report idle.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Seconds a requeued job waits before it may start again (Slurm's default is 120,
/// tests requeue tasks and should not wait that long).
const CRED_EXPIRE_SECONDS: u32 = 5;

/// Options of `cargo xtask slurm up`.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// The cluster's folder.
    pub dir: PathBuf,
    /// Slurm's MaxArraySize: array indices must be below it.
    pub max_array_size: usize,
}

/// Installs what is missing, starts munged, writes the configuration and starts
/// slurmctld and slurmd; does nothing to daemons that already run this configuration.
pub fn up(options: &UpOptions) -> anyhow::Result<()> {
    if options.max_array_size == 0 {
        bail!("max array size 0: an array holds at least one task");
    }
    ensure_root()?;
    ensure_installed()?;
    let dir = absolute(&options.dir)?;
    for sub in ["state", "spool", "log"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
    }
    ensure_munge(&dir)?;
    let conf_path = dir.join("slurm.conf");
    let conf = render_conf(&dir, &node_line()?, options.max_array_size)?;
    let unchanged = std::fs::read_to_string(&conf_path).is_ok_and(|old| old == conf);
    let running = daemons_running(&dir);
    if unchanged && running.iter().all(|&r| r) && node_state(&conf_path).is_ok_and(|s| is_up(&s)) {
        eprintln!("xtask: slurm already up with {}", conf_path.display());
        return write_env(&dir, &conf_path);
    }
    if running.iter().any(|&r| r) {
        eprintln!("xtask: restarting slurm with a new configuration");
        // munged stays: it knows nothing of the configuration.
        stop_slurm(&dir)?;
    }
    std::fs::write(&conf_path, &conf)
        .with_context(|| format!("cannot write {}", conf_path.display()))?;
    for daemon in ["slurmctld", "slurmd"] {
        let status = Command::new(daemon)
            .arg("-f")
            .arg(&conf_path)
            .env("SLURM_CONF", &conf_path)
            .stdout(std::io::stderr())
            .status()
            .with_context(|| format!("cannot run {daemon}"))?;
        if !status.success() {
            bail!("{daemon} did not start ({status}){}", log_tails(&dir));
        }
    }
    wait_until_idle(&dir, &conf_path)?;
    write_env(&dir, &conf_path)
}

/// Stops slurmd and slurmctld started from `dir` (and munged if `up` started it); a
/// no-op when none runs.
pub fn down(dir: &Path) -> anyhow::Result<()> {
    let dir = absolute(dir)?;
    let stopped = stop_slurm(&dir)? + stop_daemon(&dir.join("munged.pid"), "munged")?;
    if stopped == 0 {
        eprintln!("xtask: no slurm daemon of {} was running", dir.display());
    } else {
        eprintln!("xtask: stopped {stopped} daemon(s) of {}", dir.display());
    }
    Ok(())
}

/// Stops slurmd, then slurmctld; returns how many were running.
fn stop_slurm(dir: &Path) -> anyhow::Result<usize> {
    Ok(stop_daemon(&dir.join("slurmd.pid"), "slurmd")?
        + stop_daemon(&dir.join("slurmctld.pid"), "slurmctld")?)
}

/// Stops the process named in `pid_file` if it runs and is `name`; returns 1 if it ran.
fn stop_daemon(pid_file: &Path, name: &str) -> anyhow::Result<usize> {
    let running = live_pid(pid_file, name);
    if let Some(pid) = running {
        stop(pid, name)?;
    }
    let _ = std::fs::remove_file(pid_file);
    Ok(usize::from(running.is_some()))
}

fn ensure_root() -> anyhow::Result<()> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .context("cannot run id -u")?;
    if String::from_utf8_lossy(&out.stdout).trim() != "0" {
        bail!("slurm up must run as root: it installs packages and runs slurmd, which starts jobs as their users");
    }
    Ok(())
}

/// Whether `program` is on the PATH or in the sbin folders daemons live in.
fn have(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .any(|d| d.join(program).is_file())
}

fn ensure_installed() -> anyhow::Result<()> {
    let needed = ["slurmctld", "slurmd", "sbatch", "munged", "munge"];
    if needed.iter().all(|p| have(p)) {
        return Ok(());
    }
    eprintln!("xtask: installing slurm-wlm and munge with apt-get");
    let install = || {
        Command::new("apt-get")
            .args([
                "install",
                "-y",
                "--no-install-recommends",
                "slurm-wlm",
                "munge",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(std::io::stderr())
            .status()
            .context("cannot run apt-get")
    };
    if !install()?.success() {
        eprintln!("xtask: apt-get install failed; updating the package lists and trying again");
        let update = Command::new("apt-get")
            .arg("update")
            .stdout(std::io::stderr())
            .status()
            .context("cannot run apt-get update")?;
        if !update.success() || !install()?.success() {
            bail!("cannot install slurm-wlm and munge with apt-get (see its output above)");
        }
    }
    if let Some(missing) = needed.iter().find(|p| !have(p)) {
        bail!("{missing} is still missing after installing slurm-wlm and munge");
    }
    Ok(())
}

/// Makes sure `munge -n | unmunge` works: a key, the socket folder, a running munged
/// (whose pid goes to `dir/munged.pid` when this starts it, so `down` stops it again).
fn ensure_munge(dir: &Path) -> anyhow::Result<()> {
    if munge_works() {
        return Ok(());
    }
    let key = Path::new("/etc/munge/munge.key");
    if !key.exists() {
        eprintln!("xtask: creating {}", key.display());
        run_ok(
            Command::new("mungekey")
                .args(["--create", "--keyfile"])
                .arg(key),
        )?;
        run_ok(Command::new("chown").args(["munge:munge"]).arg(key))?;
        run_ok(Command::new("chmod").args(["400"]).arg(key))?;
    }
    for folder in ["/run/munge", "/var/log/munge", "/var/lib/munge"] {
        std::fs::create_dir_all(folder).with_context(|| format!("cannot create {folder}"))?;
        run_ok(Command::new("chown").args(["munge:munge", folder]))?;
    }
    // munged refuses to run as root without --force; run it as its own user.
    run_ok(Command::new("runuser").args(["-u", "munge", "--", "munged"]))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if munge_works() {
            if let Ok(pid) = std::fs::read_to_string("/run/munge/munged.pid") {
                let _ = std::fs::write(dir.join("munged.pid"), pid);
            }
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("munged started but `munge -n | unmunge` still fails; see /var/log/munge/munged.log")
}

fn munge_works() -> bool {
    let Ok(cred) = Command::new("munge")
        .arg("-n")
        .stderr(Stdio::null())
        .output()
    else {
        return false;
    };
    if !cred.status.success() {
        return false;
    }
    let Ok(mut child) = Command::new("unmunge")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        let _ = stdin.write_all(&cred.stdout);
    }
    child.wait().is_ok_and(|s| s.success())
}

fn run_ok(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd
        .stdout(std::io::stderr())
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

/// This machine as slurmd sees it (`slurmd -C`: name, CPUs, sockets, cores, threads,
/// memory), the UpTime line left out.
fn node_line() -> anyhow::Result<String> {
    let out = Command::new("slurmd")
        .arg("-C")
        .output()
        .context("cannot run slurmd -C")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("NodeName="))
        .with_context(|| format!("slurmd -C printed no NodeName line: {text:?}"))?;
    Ok(line.trim().to_string())
}

fn render_conf(dir: &Path, node: &str, max_array_size: usize) -> anyhow::Result<String> {
    let field = |key: &str| -> Option<u64> {
        node.split_whitespace()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
    };
    let host = node
        .split_whitespace()
        .find_map(|w| w.strip_prefix("NodeName="))
        .context("no NodeName in slurmd -C")?;
    let cpus = field("CPUs").context("no CPUs in slurmd -C")?.max(1);
    let memory = field("RealMemory").context("no RealMemory in slurmd -C")?;
    let d = dir.display();
    Ok(format!(
        "# Written by `cargo xtask slurm up`: one node, this machine; daemons run as root.\n\
         ClusterName=actfn\n\
         SlurmctldHost={host}\n\
         SlurmUser=root\n\
         SlurmdUser=root\n\
         AuthType=auth/munge\n\
         AuthInfo=cred_expire={CRED_EXPIRE_SECONDS}\n\
         StateSaveLocation={d}/state\n\
         SlurmdSpoolDir={d}/spool\n\
         SlurmctldPidFile={d}/slurmctld.pid\n\
         SlurmdPidFile={d}/slurmd.pid\n\
         SlurmctldLogFile={d}/log/slurmctld.log\n\
         SlurmdLogFile={d}/log/slurmd.log\n\
         ProctrackType=proctrack/linuxproc\n\
         TaskPlugin=task/none\n\
         JobAcctGatherType=jobacct_gather/none\n\
         AccountingStorageType=accounting_storage/none\n\
         JobCompType=jobcomp/none\n\
         MpiDefault=none\n\
         SelectType=select/cons_tres\n\
         SelectTypeParameters=CR_Core_Memory\n\
         # Without a default every job would ask for the whole node's memory.\n\
         DefMemPerCPU={}\n\
         MaxArraySize={max_array_size}\n\
         KillWait=2\n\
         MinJobAge=600\n\
         ReturnToService=2\n\
         {node} State=UNKNOWN\n\
         PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n",
        (memory / cpus).max(1)
    ))
}

/// Whether slurmctld and slurmd of `dir` run (in that order).
fn daemons_running(dir: &Path) -> [bool; 2] {
    [
        live_pid(&dir.join("slurmctld.pid"), "slurmctld").is_some(),
        live_pid(&dir.join("slurmd.pid"), "slurmd").is_some(),
    ]
}

/// The pid in `pid_file` if that process runs and is `name` (a reused pid is not ours).
fn live_pid(pid_file: &Path, name: &str) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim() == name).then_some(pid)
}

fn stop(pid: u32, name: &str) -> anyhow::Result<()> {
    run_ok(Command::new("kill").arg(pid.to_string()))?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("xtask: {name} ({pid}) ignored SIGTERM; killing it");
    run_ok(Command::new("kill").args(["-KILL", &pid.to_string()]))
}

/// `sinfo`'s state of the node, e.g. `idle`, `mix`, `down*`.
fn node_state(conf: &Path) -> anyhow::Result<String> {
    let out = Command::new("sinfo")
        .args(["--noheader", "--format=%t"])
        .env("SLURM_CONF", conf)
        .output()
        .context("cannot run sinfo")?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn is_up(state: &str) -> bool {
    matches!(state, "idle" | "mix" | "alloc" | "comp")
}

fn wait_until_idle(dir: &Path, conf: &Path) -> anyhow::Result<()> {
    /// Time the daemons get to write their pid files after detaching.
    const GRACE: Duration = Duration::from_secs(5);
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < READY_TIMEOUT {
        let alive = daemons_running(dir);
        if started.elapsed() > GRACE && !alive.iter().all(|&a| a) {
            // Another Slurm on the same ports would answer sinfo while ours has died.
            bail!(
                "{} exited after starting (is another Slurm using this machine's ports?){}",
                if alive[0] { "slurmd" } else { "slurmctld" },
                log_tails(dir)
            );
        }
        match node_state(conf) {
            Ok(state) if is_up(&state) && alive.iter().all(|&a| a) => return Ok(()),
            Ok(state) => last = format!("node state {state:?}"),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    bail!(
        "slurm did not come up within {} s (last: {last}){}",
        READY_TIMEOUT.as_secs(),
        log_tails(dir)
    )
}

fn log_tails(dir: &Path) -> String {
    let mut s = String::new();
    for log in ["slurmctld.log", "slurmd.log"] {
        let path = dir.join("log").join(log);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        s.push_str(&format!(
            "\n--- last lines of {} ---\n{}",
            path.display(),
            lines[lines.len().saturating_sub(15)..].join("\n")
        ));
    }
    s
}

fn write_env(dir: &Path, conf: &Path) -> anyhow::Result<()> {
    let line = format!("export SLURM_CONF={}", conf.display());
    let env = dir.join(ENV_FILE);
    std::fs::write(&env, format!("{line}\n"))
        .with_context(|| format!("cannot write {}", env.display()))?;
    eprintln!(
        "xtask: slurm is up; for client commands (also in {}):",
        env.display()
    );
    println!("{line}");
    Ok(())
}

fn absolute(dir: &Path) -> anyhow::Result<PathBuf> {
    // The daemons change directory when they detach; every path they get is absolute.
    std::path::absolute(dir).with_context(|| format!("cannot make {} absolute", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_has_the_node_and_limits() {
        let node = "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105";
        let conf = render_conf(Path::new("/tmp/x"), node, 7).unwrap();
        for line in [
            "SlurmctldHost=vm",
            "MaxArraySize=7",
            "DefMemPerCPU=12052",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "StateSaveLocation=/tmp/x/state",
            &format!("{node} State=UNKNOWN"),
        ] {
            assert!(
                conf.lines().any(|l| l == line),
                "missing {line:?} in\n{conf}"
            );
        }
        assert!(render_conf(Path::new("/x"), "NodeName=a", 7).is_err());
    }
}
