//! `yingji run --format text`: the Chinese timeline lines. The formatter
//! lives in the engine (`yingji_engine::output::text`, shared with
//! `yingji serve`'s duty-officer screen); re-exported here for the CLI's
//! commands.

pub use yingji_engine::output::text::{Timeline, level_zh, time};
