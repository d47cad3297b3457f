//! The mDNS advertisement Home Assistant discovers: `_wyoming._tcp.local.` with the server's port,
//! as the official package's `HomeAssistantZeroconf` registers it, through `mdns-sd` (a
//! maintained pure-Rust responder: no Avahi daemon or bindings to install on the Jetson).

use mdns_sd::{ServiceDaemon, ServiceInfo};

/// Wyoming's service type.
pub const SERVICE: &str = "_wyoming._tcp.local.";

/// The advertisement; dropping it withdraws it.
pub struct Advert {
    daemon: ServiceDaemon,
    fullname: String,
}

impl Advert {
    /// Advertises `name` on every interface's addresses, at `port`.
    pub fn start(name: &str, port: u16) -> Result<Advert, String> {
        let daemon = ServiceDaemon::new().map_err(|e| format!("cannot start mDNS: {e}"))?;
        let host = format!("{}.local.", hostname().unwrap_or_else(|| "zoe".into()));
        let info = ServiceInfo::new(
            SERVICE,
            name,
            &host,
            "",
            port,
            None::<std::collections::HashMap<String, String>>,
        )
        .map_err(|e| format!("cannot describe the mDNS service: {e}"))?
        .enable_addr_auto();
        let fullname = info.get_fullname().to_string();
        daemon
            .register(info)
            .map_err(|e| format!("cannot advertise over mDNS: {e}"))?;
        Ok(Advert { daemon, fullname })
    }

    /// The instance's full name (`NAME._wyoming._tcp.local.`).
    pub fn fullname(&self) -> &str {
        &self.fullname
    }
}

impl Drop for Advert {
    fn drop(&mut self) {
        let _ = self.daemon.unregister(&self.fullname);
        let _ = self.daemon.shutdown();
    }
}

/// The machine's host name (`/proc/sys/kernel/hostname`, then `/etc/hostname`).
pub fn hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
}
