//! `[store]`: the SQLite file and its deadlines, how much remembered text joins a prompt, and how
//! long deleted things and the conversation log are kept.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{invalid, ms, ConfigError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    path: String,
    lookup_ms: u64,
    write_ms: u64,
    memory_max_chars: usize,
    keep_days: u64,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub path: PathBuf,
    pub lookup: Duration,
    pub write: Duration,
    pub memory_max_chars: usize,
    /// How long the conversation log and deleted items are kept (`keep_days`).
    pub keep: Duration,
}

/// $XDG_DATA_HOME/zoe/zoe.db, else ~/.local/share/zoe/zoe.db, else ./zoe.db.
pub(super) fn default_store_path() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    base.map_or_else(|| PathBuf::from("zoe.db"), |b| b.join("zoe").join("zoe.db"))
}

pub(super) fn store(s: RawStore) -> Result<StoreConfig, ConfigError> {
    Ok(StoreConfig {
        path: if s.path.trim().is_empty() {
            default_store_path()
        } else {
            PathBuf::from(s.path.trim())
        },
        lookup: ms(s.lookup_ms, "store.lookup_ms")?,
        write: ms(s.write_ms, "store.write_ms")?,
        memory_max_chars: s.memory_max_chars,
        keep: match s.keep_days {
            d @ 1..=36_500 => Duration::from_secs(d * 86_400),
            _ => return Err(invalid("store.keep_days", "must be 1 to 36500 (days)")),
        },
    })
}
