//! What `zoe doctor` checks on a Jetson, as the system Zoe replaces learned it the hard way: the
//! power mode (`nvpmodel -q`: MAXN, or MAXN_SUPER with JetPack 6.2, roughly doubles inference
//! speed over the 15 W / 25 W defaults), whether `jetson_clocks` holds the clocks at their
//! maximum, whether the memory left can hold the model Ollama keeps loaded (a desktop session
//! costs ~800 MB: boot to `multi-user.target`), and — on any machine — where Ollama runs that
//! model (`/api/ps`: the replaced system ran 97 % of it on the CPU without anyone noticing).
//!
//! The inputs come through a [`Probe`]: the files and the commands to read. `zoe doctor` uses the
//! system's; the tests hand it a fake `/etc/nv_tegra_release`, fake `nvpmodel` and
//! `jetson_clocks` scripts and a stand-in's `/api/ps` — the inputs are faked, the logic is this.

use std::path::{Path, PathBuf};
use std::process::Command;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    /// Works, but slower or more fragile than it should be.
    Warn,
    Fail,
}

/// One line of `zoe doctor`.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub what: &'static str,
    pub level: Level,
    pub detail: String,
    /// What to run or change (for a warning or a failure).
    pub fix: Option<String>,
}

fn finding(what: &'static str, level: Level, detail: String, fix: Option<&str>) -> Finding {
    Finding {
        what,
        level,
        detail,
        fix: fix.map(String::from),
    }
}

/// Where the checks read the machine.
#[derive(Debug, Clone)]
pub struct Probe {
    /// JetPack's release file: a Jetson has one.
    pub tegra_release: PathBuf,
    pub meminfo: PathBuf,
    pub nvpmodel: PathBuf,
    pub jetson_clocks: PathBuf,
    pub systemctl: PathBuf,
}

impl Probe {
    /// This machine's. `ZOE_TEGRA_RELEASE` names another release file (the tests' fake Jetson);
    /// the commands are looked up on the PATH.
    pub fn system() -> Probe {
        Probe {
            tegra_release: std::env::var_os("ZOE_TEGRA_RELEASE")
                .map_or_else(|| PathBuf::from("/etc/nv_tegra_release"), PathBuf::from),
            meminfo: PathBuf::from("/proc/meminfo"),
            nvpmodel: PathBuf::from("nvpmodel"),
            jetson_clocks: PathBuf::from("jetson_clocks"),
            systemctl: PathBuf::from("systemctl"),
        }
    }
}

/// Longest a probed command may take: doctor never hangs on a stuck tool.
const COMMAND_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// A command's standard output, if it ran, succeeded and ended within [`COMMAND_DEADLINE`] (a
/// command still running then is killed).
fn output(cmd: &Path, args: &[&str]) -> Option<String> {
    use std::io::Read;
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    // The tools print a few lines: read them on a thread, so a full pipe cannot stall the wait.
    let mut stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let started = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < COMMAND_DEADLINE => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    let text = reader.join().ok()?;
    status.success().then_some(text)
}

/// The release line of `/etc/nv_tegra_release` ("R36 (release), REVISION: 4.3, …" → "R36.4.3").
pub fn jetpack_release(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.starts_with("# R"))?;
    let major = line.trim_start_matches("# ").split_whitespace().next()?;
    let revision = line
        .split("REVISION:")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .map(str::trim);
    Some(match revision {
        Some(r) if !r.is_empty() => format!("{major}.{r}"),
        _ => major.to_string(),
    })
}

/// The power mode `nvpmodel -q` names ("NV Power Mode: MAXN_SUPER").
pub fn power_mode(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("NV Power Mode:"))
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
}

/// Whether `jetson_clocks --show` shows the clocks held at their maximum: every CPU and the GPU
/// with their minimum frequency at their maximum. `None` when it shows no frequencies.
pub fn clocks_locked(text: &str) -> Option<bool> {
    let freq = |line: &str, key: &str| -> Option<u64> {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|v| v.parse().ok())
    };
    let mut seen = false;
    for line in text.lines() {
        let line = line.trim();
        let unit = line.starts_with("cpu") || line.starts_with("GPU");
        if !unit || line.contains("Online=0") {
            continue;
        }
        if let (Some(min), Some(max)) = (freq(line, "MinFreq="), freq(line, "MaxFreq=")) {
            seen = true;
            if min < max {
                return Some(false);
            }
        }
    }
    seen.then_some(true)
}

/// `MemAvailable` of `/proc/meminfo`, in bytes.
pub fn mem_available(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb.saturating_mul(1024))
}

/// The Jetson's own checks: none on another machine.
pub fn jetson_checks(p: &Probe) -> Vec<Finding> {
    let Ok(release) = std::fs::read_to_string(&p.tegra_release) else {
        return Vec::new();
    };
    let mut out = vec![finding(
        "jetson",
        Level::Ok,
        format!(
            "JetPack L4T {}",
            jetpack_release(&release).unwrap_or_else(|| "(release unknown)".into())
        ),
        None,
    )];
    let maxn = "sudo nvpmodel -m 0 (MAXN; on JetPack 6.2 the Super modes: `nvpmodel -q --verbose` \
                lists them), then sudo jetson_clocks";
    out.push(
        match output(&p.nvpmodel, &["-q"]).as_deref().and_then(power_mode) {
            Some(m) if m.to_uppercase().starts_with("MAXN") => {
                finding("power mode", Level::Ok, m, None)
            }
            Some(m) => finding(
                "power mode",
                Level::Warn,
                format!("{m}: not MAXN, whisper and the model run at a fraction of their speed"),
                Some(maxn),
            ),
            None => finding(
                "power mode",
                Level::Warn,
                "nvpmodel -q did not answer".into(),
                Some("install nvpmodel (JetPack's nvidia-l4t-tools), then: sudo nvpmodel -q"),
            ),
        },
    );
    out.push(
        match output(&p.jetson_clocks, &["--show"])
            .as_deref()
            .and_then(clocks_locked)
        {
            Some(true) => finding(
                "clocks",
                Level::Ok,
                "held at their maximum (jetson_clocks)".into(),
                None,
            ),
            Some(false) => finding(
                "clocks",
                Level::Warn,
                "scaling: the first request after a quiet spell waits for the clocks to rise"
                    .into(),
                Some("sudo jetson_clocks (a systemd unit can apply it at boot)"),
            ),
            None => finding(
                "clocks",
                Level::Warn,
                "jetson_clocks --show did not say (it needs root)".into(),
                Some("sudo jetson_clocks --show"),
            ),
        },
    );
    out
}

/// Whether the machine boots to a desktop (`graphical.target`).
pub fn boots_to_desktop(p: &Probe) -> bool {
    output(&p.systemctl, &["get-default"]).is_some_and(|t| t.trim() == "graphical.target")
}

/// A model in Ollama's `/api/ps`: its size in memory and how much of it is on the GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub name: String,
    pub size: u64,
    pub size_vram: u64,
}

/// The models `/api/ps` lists.
pub fn loaded_models(ps: &serde_json::Value) -> Vec<Loaded> {
    ps["models"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| Loaded {
            name: m["name"].as_str().unwrap_or_default().to_string(),
            size: m["size"].as_u64().unwrap_or(0),
            size_vram: m["size_vram"].as_u64().unwrap_or(0),
        })
        .collect()
}

/// Whether Ollama's name is the configured one ("gemma3n:e2b", or "name" for "name:latest").
pub fn same_model(listed: &str, want: &str) -> bool {
    listed == want || listed == format!("{want}:latest")
}

const GB: f64 = 1e9;

/// Where Ollama runs the model: all on the GPU is right; any share on the CPU is slow.
pub fn placement(m: &Loaded) -> Finding {
    let gpu = if m.size == 0 {
        0.0
    } else {
        100.0 * m.size_vram.min(m.size) as f64 / m.size as f64
    };
    let detail = format!(
        "{} is loaded ({:.1} GB), {:.0} % on the GPU",
        m.name,
        m.size as f64 / GB,
        gpu
    );
    if gpu >= 99.5 {
        finding("model placement", Level::Ok, detail, None)
    } else {
        finding(
            "model placement",
            Level::Warn,
            format!("{detail}: the rest runs on the CPU, several times slower"),
            Some(
                "free memory for the GPU (stop other models: ollama stop NAME; boot without a \
                 desktop), or choose a smaller model (llm.model)",
            ),
        )
    }
}

/// Memory headroom Zoe wants beyond the model (whisper, the voice, Zoe herself).
pub const HEADROOM: u64 = 700_000_000;

/// Whether the memory left can hold the model: `needed` bytes still to load (0 when it is
/// loaded already) and Zoe's headroom, from `available`.
pub fn memory(available: u64, needed: u64, desktop: bool) -> Finding {
    let detail = format!(
        "{:.1} GB available{}",
        available as f64 / GB,
        if needed > 0 {
            format!(", the model needs {:.1} GB more", needed as f64 / GB)
        } else {
            String::new()
        }
    );
    if available >= needed.saturating_add(HEADROOM) {
        return finding("memory", Level::Ok, detail, None);
    }
    let fix = if desktop {
        "boot without the desktop, which takes about 800 MB: sudo systemctl set-default \
         multi-user.target && sudo reboot (undo: graphical.target); or a smaller model"
    } else {
        "stop what else runs, or choose a smaller model (llm.model)"
    };
    finding(
        "memory",
        Level::Warn,
        format!("{detail}: too little, the model will spill to the CPU or swap"),
        Some(fix),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// JetPack's release file, `nvpmodel -q` and `jetson_clocks --show` as they print.
    #[test]
    fn reads_the_jetsons_own_outputs() {
        assert_eq!(
            jetpack_release(
                "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 01:49:37 UTC 2025\n# KERNEL_VARIANT: oot\n"
            )
            .as_deref(),
            Some("R36.4.3")
        );
        assert_eq!(jetpack_release("nothing"), None);
        assert_eq!(
            power_mode("NV Power Mode: MAXN_SUPER\n2\n").as_deref(),
            Some("MAXN_SUPER")
        );
        assert_eq!(
            power_mode("NV Power Mode: 15W\n0\n").as_deref(),
            Some("15W")
        );
        assert_eq!(power_mode("NVPM ERROR: failed\n"), None);
        let show = |cpu_min: u64, gpu_min: u64| {
            format!(
                "SOC family:tegra234  Machine:NVIDIA Jetson Orin NX Engineering Reference Developer Kit\n\
                 Online CPUs: 0-5\n\
                 cpu0: Online=1 Governor=schedutil MinFreq={cpu_min} MaxFreq=1984000 CurrentFreq=1984000 IdleStates: WFI=1 c7=1\n\
                 cpu1: Online=1 Governor=schedutil MinFreq={cpu_min} MaxFreq=1984000 CurrentFreq=1984000 IdleStates: WFI=1 c7=1\n\
                 cpu6: Online=0 Governor=schedutil MinFreq=729600 MaxFreq=1984000 CurrentFreq=729600\n\
                 GPU MinFreq={gpu_min} MaxFreq=918000000 CurrentFreq=918000000\n\
                 EMC MinFreq=204000000 MaxFreq=3199000000 CurrentFreq=3199000000 FreqOverride=1\n"
            )
        };
        assert_eq!(clocks_locked(&show(1_984_000, 918_000_000)), Some(true));
        assert_eq!(clocks_locked(&show(729_600, 918_000_000)), Some(false));
        assert_eq!(clocks_locked(&show(1_984_000, 306_000_000)), Some(false));
        assert_eq!(clocks_locked("Permission denied\n"), None);
        assert_eq!(
            mem_available("MemTotal: 16000000 kB\nMemAvailable:    2048 kB\n"),
            Some(2048 * 1024)
        );
    }

    /// Ollama's `/api/ps`: all on the GPU is fine, a share on the CPU is said with the fix.
    #[test]
    fn where_ollama_runs_the_model() {
        let ps = serde_json::json!({"models": [
            {"name": "gemma3n:e2b", "size": 5_600_000_000u64, "size_vram": 5_600_000_000u64},
            {"name": "qwen3:1.7b", "size": 2_000_000_000u64, "size_vram": 60_000_000u64},
        ]});
        let m = loaded_models(&ps);
        assert_eq!(m.len(), 2);
        assert_eq!(placement(&m[0]).level, Level::Ok);
        let cpu = placement(&m[1]);
        assert_eq!(cpu.level, Level::Warn);
        assert!(cpu.detail.contains("3 % on the GPU"), "{}", cpu.detail);
        assert!(same_model("gemma3n:latest", "gemma3n") && !same_model("gemma3", "gemma3n"));
    }

    /// Memory: enough, or a warning whose fix names the desktop when there is one.
    #[test]
    fn memory_for_the_model() {
        assert_eq!(memory(8_000_000_000, 0, true).level, Level::Ok);
        let short = memory(3_000_000_000, 5_600_000_000, true);
        assert_eq!(short.level, Level::Warn);
        assert!(short.fix.unwrap().contains("multi-user.target"));
        // Numbers out of any range (a hostile server, a faked file) do not overflow.
        assert_eq!(memory(1_000_000_000, u64::MAX, false).level, Level::Warn);
        assert_eq!(
            mem_available(&format!("MemAvailable: {} kB\n", u64::MAX)),
            Some(u64::MAX)
        );
        let short = memory(500_000_000, 0, false);
        assert_eq!(short.level, Level::Warn);
        assert!(!short.fix.unwrap().contains("multi-user"));
    }

    /// A tool that hangs is given up on, not waited for.
    #[test]
    fn a_stuck_tool_is_given_up() {
        let t = std::time::Instant::now();
        assert_eq!(output(Path::new("sleep"), &["30"]), None);
        assert!(t.elapsed() < COMMAND_DEADLINE * 2, "{:?}", t.elapsed());
        assert_eq!(output(Path::new("echo"), &["hi"]).as_deref(), Some("hi\n"));
        assert_eq!(output(Path::new("/nonexistent/tool"), &[]), None);
    }

    /// Not a Jetson: no Jetson lines at all.
    #[test]
    fn nothing_on_another_machine() {
        let p = Probe {
            tegra_release: PathBuf::from("/nonexistent/nv_tegra_release"),
            ..Probe::system()
        };
        assert!(jetson_checks(&p).is_empty());
    }
}
