//! Output ids (a leaf, so every record type can say how its id is written):
//! the shell numbers outputs from 1 as they leave it; `0` means not numbered
//! yet, and is not written.

/// Whether an output id is still unset (ids are numbered from 1).
pub fn unset(id: &u64) -> bool {
    *id == 0
}
