//! `zoe devices`: the input and output devices with their default formats (user-facing output on
//! stdout; called from `app`).

use rodio::cpal;
use rodio::cpal::traits::{DeviceTrait, HostTrait};

/// `zoe devices`: input and output devices with their default formats.
pub fn list_devices() {
    let host = cpal::default_host();
    let default_in = host.default_input_device().map(|d| d.to_string());
    let default_out = host.default_output_device().map(|d| d.to_string());
    for (kind, devices, default) in [
        (
            "input",
            host.input_devices().map(|d| d.collect::<Vec<_>>()),
            &default_in,
        ),
        (
            "output",
            host.output_devices().map(|d| d.collect::<Vec<_>>()),
            &default_out,
        ),
    ] {
        println!("{kind} devices:");
        match devices {
            Err(e) => println!("  (cannot list: {e})"),
            Ok(list) if list.is_empty() => println!("  (none)"),
            Ok(list) => {
                for d in list {
                    let name = d.to_string();
                    let config = if kind == "input" {
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
                    let mark = if default.as_deref() == Some(&name) {
                        " (default)"
                    } else {
                        ""
                    };
                    println!("  {name}{mark}: {format}");
                }
            }
        }
    }
}
