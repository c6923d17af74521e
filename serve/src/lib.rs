//! `yingji serve`'s building blocks: protocol codecs and their mapping to
//! engine events and from engine outputs.

pub mod cap;
pub mod sl651;
