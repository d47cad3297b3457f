//! Where whisper runs: the compute devices whisper.cpp's ggml found in this process. A CPU build
//! has the CPU alone; the CUDA build (`--features cuda`, which `./zoe` makes wherever it finds a
//! CUDA toolkit) adds each GPU the driver shows, and whisper.cpp then runs on the first. For
//! `zoe doctor` and the log line of every model load.

use std::ffi::CStr;

/// One of ggml's compute devices.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// ggml's name ("CPU", "CUDA0").
    pub name: String,
    /// The hardware ("NVIDIA H100 80GB HBM3", "Orin", the CPU's model).
    pub description: String,
    /// A GPU, discrete or integrated (a Jetson's).
    pub gpu: bool,
}

/// The devices ggml registered (the CPU always; GPUs only in a GPU build with a working driver).
pub fn devices() -> Vec<Device> {
    let text = |p: *const std::os::raw::c_char| {
        if p.is_null() {
            String::new()
        } else {
            // SAFETY: ggml returns NUL-terminated strings it owns for the process's life.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    // SAFETY: ggml's device registry is built on first use and read-only afterwards; every index
    // below the count is a valid device.
    let n = unsafe { whisper_rs_sys::ggml_backend_dev_count() };
    (0..n)
        .filter_map(|i| {
            let dev = unsafe { whisper_rs_sys::ggml_backend_dev_get(i) };
            if dev.is_null() {
                return None;
            }
            let kind = unsafe { whisper_rs_sys::ggml_backend_dev_type(dev) };
            Some(Device {
                name: text(unsafe { whisper_rs_sys::ggml_backend_dev_name(dev) }),
                description: text(unsafe { whisper_rs_sys::ggml_backend_dev_description(dev) }),
                gpu: kind == whisper_rs_sys::ggml_backend_dev_type_GGML_BACKEND_DEVICE_TYPE_GPU
                    || kind == whisper_rs_sys::ggml_backend_dev_type_GGML_BACKEND_DEVICE_TYPE_IGPU,
            })
        })
        .collect()
}

/// Whether this binary was built with whisper.cpp's CUDA backend.
pub const CUDA_BUILD: bool = cfg!(feature = "cuda");

/// Whether whisper runs on a GPU in this process: the CUDA build with a GPU the driver shows (a
/// CPU build does not ask ggml at all; the CUDA build asks once).
pub fn on_gpu() -> bool {
    static ON_GPU: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    CUDA_BUILD && *ON_GPU.get_or_init(|| devices().iter().any(|d| d.gpu))
}

/// The whisper model `stt.model = "auto"` names: base.en where whisper runs on a GPU (the CUDA
/// build on a Jetson), tiny.en on a CPU — every latency and wake figure of a CPU machine here is
/// tiny.en's, and base.en runs about 2.5 times slower there (docs/benchmarks.md).
pub fn auto_model() -> &'static str {
    if on_gpu() {
        "base.en"
    } else {
        "tiny.en"
    }
}

/// Where whisper runs, in words, and whether that is a GPU.
pub fn describe(devices: &[Device], cuda_build: bool) -> (String, bool) {
    match devices.iter().find(|d| d.gpu) {
        Some(d) => (format!("on the GPU ({}: {})", d.name, d.description), true),
        None if cuda_build => (
            "on the CPU: this is the CUDA build, but the driver shows no GPU (is the NVIDIA \
             driver loaded? nvidia-smi, or tegrastats on a Jetson, should list it)"
                .into(),
            false,
        ),
        None => (
            "on the CPU (this build has no CUDA: ./zoe makes the CUDA build where it finds a \
             CUDA toolkit, nvcc on the PATH or /usr/local/cuda)"
                .into(),
            false,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine's devices: the CPU, always.
    #[test]
    fn the_cpu_is_always_there() {
        let d = devices();
        assert!(!d.is_empty(), "ggml registered no device at all");
        assert!(d.iter().any(|d| !d.gpu), "{d:?}");
    }

    /// The words for each case: a GPU named, a CUDA build without one, a CPU build.
    #[test]
    fn where_whisper_runs_in_words() {
        let cpu = Device {
            name: "CPU".into(),
            description: "x86".into(),
            gpu: false,
        };
        let gpu = Device {
            name: "CUDA0".into(),
            description: "Orin".into(),
            gpu: true,
        };
        let (text, on_gpu) = describe(&[cpu.clone(), gpu], true);
        assert!(on_gpu);
        assert_eq!(text, "on the GPU (CUDA0: Orin)");
        let (text, on_gpu) = describe(std::slice::from_ref(&cpu), true);
        assert!(!on_gpu && text.contains("no GPU"), "{text}");
        let (text, on_gpu) = describe(&[cpu], false);
        assert!(!on_gpu && text.contains("no CUDA"), "{text}");
    }
}
