//! CAP 1.2 XML for sinks with `format: cap` (the `cap` module writes it).

use std::collections::HashMap;

/// The CAP alert for an output, when it is a warning change that CAP
/// carries; `None` otherwise.
pub fn cap_xml(_output: &serde_json::Value, _stations: &HashMap<String, String>) -> Option<String> {
    None
}
