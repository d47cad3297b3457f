//! The input and output devices with their default formats, for `zoe devices` (which prints them,
//! in `app`) and `zoe doctor`.

use rodio::cpal;
use rodio::cpal::traits::{DeviceTrait, HostTrait};

/// One device as cpal shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    pub name: String,
    /// "48000 Hz, 2 ch, F32", or why the format could not be read.
    pub format: String,
    pub is_default: bool,
}

/// The devices of one direction, or why they could not be listed.
pub type Devices = Result<Vec<DeviceInfo>, String>;

/// Input devices, then output devices.
pub fn list() -> (Devices, Devices) {
    let host = cpal::default_host();
    let describe = |d: &cpal::Device, input: bool, default: &Option<String>| {
        let name = d.to_string();
        let config = if input {
            d.default_input_config()
        } else {
            d.default_output_config()
        };
        let format = match config {
            Ok(c) => format!(
                "{} Hz, {} ch, {:?}",
                c.sample_rate(),
                c.channels(),
                c.sample_format()
            ),
            Err(e) => format!("({e})"),
        };
        DeviceInfo {
            is_default: default.as_deref() == Some(&name),
            name,
            format,
        }
    };
    let default_in = host.default_input_device().map(|d| d.to_string());
    let default_out = host.default_output_device().map(|d| d.to_string());
    let inputs = host
        .input_devices()
        .map(|ds| ds.map(|d| describe(&d, true, &default_in)).collect())
        .map_err(|e| e.to_string());
    let outputs = host
        .output_devices()
        .map(|ds| ds.map(|d| describe(&d, false, &default_out)).collect())
        .map_err(|e| e.to_string());
    (inputs, outputs)
}
