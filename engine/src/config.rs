//! The one run configuration ([`Config`]): validation, its JSON form, and
//! the settings a saved state depends on.
//!
//! The struct itself lives with the engine loop ([`crate::shell::Config`]);
//! this module is everything else about it. Every front end uses it: the
//! CLI's flags (`--lateness`, `--late`, `--max-ahead`, `--idle-ttl`,
//! `--dedupe-kind-key-ts`, `--max-line`), the stream API and the JSON API
//! the bindings call (`Config::from_json`).
//!
//! The JSON form names the settings like the CLI flags and writes durations
//! like policies do (`"5m"`, `"1d"`); `"off"` or `null` disables an optional
//! guard; a missing member keeps its default:
//!
//! ```json
//! {"lateness":"5m","late":"emit","max_ahead":"1d","idle_ttl":null,
//!  "dedupe_kind_key_ts":false,"max_line":1048576}
//! ```

use crate::ir::{MAX_WINDOW_MS, Program};
use crate::shell::{Config, LatePolicy};
use crate::time::{format_duration, parse_duration};
use serde::{Deserialize, Serialize};

/// The default `max_line`: 1 MiB (the longest real event is well under 1 KiB).
pub const DEFAULT_MAX_LINE: usize = 1 << 20;

/// The longest `max_line` accepted: 1 GiB.
pub const MAX_MAX_LINE: usize = 1 << 30;

/// The names of [`Config`]'s settings, as in its JSON form (and the CLI's flags).
pub const FIELDS: [&str; 6] = [
    "lateness",
    "late",
    "dedupe_kind_key_ts",
    "max_ahead",
    "idle_ttl",
    "max_line",
];

/// A configuration that cannot be used, naming the setting.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not a JSON object.
    #[error("the configuration is not a JSON object: {0}")]
    NotJson(String),
    /// A member that is not a setting (a typo would otherwise be ignored).
    #[error("unknown setting `{field}` (the settings are: {})", FIELDS.join(", "))]
    UnknownField {
        /// The member's name.
        field: String,
    },
    /// A setting with a value it cannot have.
    #[error("setting `{field}`: {problem}")]
    Invalid {
        /// The setting (one of [`FIELDS`]).
        field: &'static str,
        /// What is wrong, with the value.
        problem: String,
    },
}

impl ConfigError {
    /// The setting concerned (`None` for text that is not JSON).
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::NotJson(_) => None,
            ConfigError::UnknownField { field } => Some(field),
            ConfigError::Invalid { field, .. } => Some(field),
        }
    }
}

fn invalid(field: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        problem: problem.into(),
    }
}

impl Config {
    /// Checks every setting on its own: a lateness within 0 … 366d, a
    /// positive far-ahead guard and idle expiry, a `max_line` within 1 byte …
    /// 1 GiB. [`Config::validate_for`] also checks the settings against a
    /// program.
    ///
    /// ```
    /// use yingji_engine::{Config, config::ConfigError};
    /// let mut c = Config::default();
    /// assert_eq!(c.validate(), Ok(()));
    /// c.max_ahead_ms = Some(0);
    /// let e = c.validate().unwrap_err();
    /// assert_eq!(e.field(), Some("max_ahead"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(0..=MAX_WINDOW_MS).contains(&self.lateness_ms) {
            return Err(invalid(
                "lateness",
                format!(
                    "{} ms is outside 0 … 366d (events older than the latest time minus the lateness are late)",
                    self.lateness_ms
                ),
            ));
        }
        if let Some(ms) = self.max_ahead_ms.filter(|&ms| ms <= 0) {
            return Err(invalid(
                "max_ahead",
                format!("{ms} ms: the far-ahead guard must be positive (or `off` to disable it)"),
            ));
        }
        if let Some(ms) = self.idle_ttl_ms.filter(|&ms| ms <= 0) {
            return Err(invalid(
                "idle_ttl",
                format!("{ms} ms: the idle expiry must be positive (or `off` to keep every key)"),
            ));
        }
        if !(1..=MAX_MAX_LINE).contains(&self.max_line) {
            return Err(invalid(
                "max_line",
                format!(
                    "{} bytes is outside 1 … {MAX_MAX_LINE} (1 GiB)",
                    self.max_line
                ),
            ));
        }
        Ok(())
    }

    /// [`Config::validate`], then the settings against `program`: an idle
    /// expiry shorter than a signal's `missing` or longest window would
    /// forget keys the signal still needs.
    pub fn validate_for(&self, program: &Program) -> Result<(), ConfigError> {
        self.validate()?;
        if let Some(ttl) = self.idle_ttl_ms {
            crate::shell::check_idle_ttl(program, ttl).map_err(|e| {
                invalid("idle_ttl", format!("signal `{}`: {}", e.signal, e.problem))
            })?;
        }
        Ok(())
    }

    /// Reads the JSON form (see the [module docs](self)), validated; a
    /// missing member keeps its default.
    ///
    /// ```
    /// use yingji_engine::{Config, LatePolicy, config::ConfigError};
    /// let c = Config::from_json(r#"{"lateness":"10m","late":"apply","max_ahead":"off"}"#)?;
    /// assert_eq!(c.lateness_ms, 600_000);
    /// assert_eq!(c.late, LatePolicy::Apply);
    /// assert_eq!(c.max_ahead_ms, None);
    /// assert_eq!(c.idle_ttl_ms, None); // the default
    ///
    /// let e = Config::from_json(r#"{"lateness":"ten minutes"}"#).unwrap_err();
    /// assert_eq!(e.field(), Some("lateness"));
    /// let e = Config::from_json(r#"{"latenes":"10m"}"#).unwrap_err();
    /// assert!(matches!(e, ConfigError::UnknownField { .. }));
    /// # Ok::<(), ConfigError>(())
    /// ```
    pub fn from_json(text: &str) -> Result<Config, ConfigError> {
        let doc: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ConfigError::NotJson(e.to_string()))?;
        Config::from_value(&doc)
    }

    /// [`Config::from_json`] from a parsed JSON value.
    pub fn from_value(doc: &serde_json::Value) -> Result<Config, ConfigError> {
        let Some(members) = doc.as_object() else {
            return Err(ConfigError::NotJson(format!(
                "expected an object like {{\"lateness\":\"5m\"}}, found `{doc}`"
            )));
        };
        let mut c = Config::default();
        for (name, v) in members {
            match name.as_str() {
                "lateness" => c.lateness_ms = duration("lateness", v)?,
                "late" => {
                    c.late = match v.as_str() {
                        Some("emit") => LatePolicy::Emit,
                        Some("apply") => LatePolicy::Apply,
                        _ => {
                            return Err(invalid(
                                "late",
                                format!("`{v}`: use \"emit\" or \"apply\""),
                            ));
                        }
                    }
                }
                "dedupe_kind_key_ts" => {
                    c.dedupe_kind_key_ts = v.as_bool().ok_or_else(|| {
                        invalid("dedupe_kind_key_ts", format!("`{v}`: use true or false"))
                    })?
                }
                "max_ahead" => c.max_ahead_ms = optional_duration("max_ahead", v)?,
                "idle_ttl" => c.idle_ttl_ms = optional_duration("idle_ttl", v)?,
                "max_line" => {
                    c.max_line = v
                        .as_u64()
                        .and_then(|n| usize::try_from(n).ok())
                        .ok_or_else(|| {
                            invalid(
                                "max_line",
                                format!("`{v}`: use a number of bytes, like 1048576"),
                            )
                        })?
                }
                other => {
                    return Err(ConfigError::UnknownField {
                        field: other.to_string(),
                    });
                }
            }
        }
        c.validate()?;
        Ok(c)
    }

    /// The JSON form, every setting written out.
    ///
    /// ```
    /// use yingji_engine::Config;
    /// assert_eq!(Config::default().to_json(),
    ///     r#"{"lateness":"5m","late":"emit","dedupe_kind_key_ts":false,"max_ahead":"1d","idle_ttl":"off","max_line":1048576}"#);
    /// ```
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn duration(field: &'static str, v: &serde_json::Value) -> Result<i64, ConfigError> {
    let Some(text) = v.as_str() else {
        return Err(invalid(
            field,
            format!("`{v}`: write a duration as text, like \"5m\" or \"1d\""),
        ));
    };
    parse_duration(text).map_err(|e| invalid(field, e.to_string()))
}

fn optional_duration(
    field: &'static str,
    v: &serde_json::Value,
) -> Result<Option<i64>, ConfigError> {
    match v {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) if s.trim() == "off" => Ok(None),
        _ => duration(field, v).map(Some),
    }
}

impl Serialize for Config {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let opt = |ms: Option<i64>| ms.map_or_else(|| "off".to_string(), format_duration);
        let lateness = if self.lateness_ms == 0 {
            "0s".to_string()
        } else {
            format_duration(self.lateness_ms)
        };
        let late = match self.late {
            LatePolicy::Emit => "emit",
            LatePolicy::Apply => "apply",
        };
        // the members in the order of FIELDS (the CLI's flags)
        let mut m = s.serialize_map(Some(FIELDS.len()))?;
        m.serialize_entry("lateness", &lateness)?;
        m.serialize_entry("late", late)?;
        m.serialize_entry("dedupe_kind_key_ts", &self.dedupe_kind_key_ts)?;
        m.serialize_entry("max_ahead", &opt(self.max_ahead_ms))?;
        m.serialize_entry("idle_ttl", &opt(self.idle_ttl_ms))?;
        m.serialize_entry("max_line", &self.max_line)?;
        m.end()
    }
}

impl<'de> Deserialize<'de> for Config {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let doc = serde_json::Value::deserialize(d)?;
        Config::from_value(&doc).map_err(serde::de::Error::custom)
    }
}

/// The settings a saved state depends on, recorded in it and compared at
/// restore: the reorder buffer holds events for the lateness it was taken
/// with, and the duplicate memory is kept only for the duplicates the
/// snapshot's engine recognised. The other settings (late policy, far-ahead
/// guard, idle expiry, `max_line`) may change between runs: a state taken
/// before a three-day outage can be restored with a larger `max_ahead`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateSettings {
    /// [`Config::lateness_ms`].
    pub lateness_ms: i64,
    /// [`Config::dedupe_kind_key_ts`].
    pub dedupe_kind_key_ts: bool,
}

impl StateSettings {
    /// The settings of `config` a state depends on.
    pub fn of(config: &Config) -> StateSettings {
        StateSettings {
            lateness_ms: config.lateness_ms,
            dedupe_kind_key_ts: config.dedupe_kind_key_ts,
        }
    }

    /// The first setting that differs from `now`'s: its name (as in
    /// [`FIELDS`]), the snapshot's value and `now`'s, as text.
    pub fn differs(&self, now: &StateSettings) -> Option<(&'static str, String, String)> {
        if self.lateness_ms != now.lateness_ms {
            return Some((
                "lateness",
                format_duration(self.lateness_ms),
                format_duration(now.lateness_ms),
            ));
        }
        if self.dedupe_kind_key_ts != now.dedupe_kind_key_ts {
            return Some((
                "dedupe_kind_key_ts",
                self.dedupe_kind_key_ts.to_string(),
                now.dedupe_kind_key_ts.to_string(),
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test")]
    use super::*;

    fn field_of(json: &str) -> Option<String> {
        Config::from_json(json)
            .unwrap_err()
            .field()
            .map(str::to_string)
    }

    #[test]
    fn each_bad_value_names_its_setting() {
        for (json, field) in [
            (r#"{"lateness":"5"}"#, "lateness"),
            (r#"{"lateness":300000}"#, "lateness"),
            (r#"{"lateness":"400d"}"#, "lateness"),
            (r#"{"late":"drop"}"#, "late"),
            (r#"{"late":true}"#, "late"),
            (r#"{"dedupe_kind_key_ts":"yes"}"#, "dedupe_kind_key_ts"),
            (r#"{"max_ahead":"0s"}"#, "max_ahead"),
            (r#"{"max_ahead":"soon"}"#, "max_ahead"),
            (r#"{"idle_ttl":"0m"}"#, "idle_ttl"),
            (r#"{"idle_ttl":12}"#, "idle_ttl"),
            (r#"{"max_line":0}"#, "max_line"),
            (r#"{"max_line":-1}"#, "max_line"),
            (r#"{"max_line":"1MiB"}"#, "max_line"),
            (r#"{"max_line":2147483648}"#, "max_line"),
            (r#"{"lateness_ms":1}"#, "lateness_ms"),
        ] {
            assert_eq!(field_of(json).as_deref(), Some(field), "{json}");
        }
        assert!(matches!(
            Config::from_json("[1]"),
            Err(ConfigError::NotJson(_))
        ));
        assert!(matches!(
            Config::from_json("{"),
            Err(ConfigError::NotJson(_))
        ));
    }

    #[test]
    fn messages_say_what_is_wrong() {
        let e = Config::from_json(r#"{"late":"drop"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"setting `late`: `"drop"`: use "emit" or "apply""#
        );
        let e = Config::from_json(r#"{"latenes":"1m"}"#).unwrap_err();
        assert!(
            e.to_string().starts_with("unknown setting `latenes`"),
            "{e}"
        );
    }

    #[test]
    fn the_json_form_round_trips() {
        let c = Config {
            lateness_ms: 0,
            late: LatePolicy::Apply,
            dedupe_kind_key_ts: true,
            max_ahead_ms: None,
            idle_ttl_ms: Some(3 * 86_400_000),
            max_line: 4096,
        };
        let json = c.to_json();
        assert_eq!(
            json,
            r#"{"lateness":"0s","late":"apply","dedupe_kind_key_ts":true,"max_ahead":"off","idle_ttl":"3d","max_line":4096}"#
        );
        assert_eq!(Config::from_json(&json).unwrap(), c);
        let via_serde: Config = serde_json::from_str(&json).unwrap();
        assert_eq!(via_serde, c);
        assert_eq!(Config::from_json("{}").unwrap(), Config::default());
        assert_eq!(
            Config::from_json(r#"{"max_ahead":null}"#)
                .unwrap()
                .max_ahead_ms,
            None
        );
    }

    #[test]
    fn a_rust_built_config_is_validated_too() {
        let c = Config {
            lateness_ms: -1,
            ..Config::default()
        };
        assert_eq!(c.validate().unwrap_err().field(), Some("lateness"));
        let c = Config {
            idle_ttl_ms: Some(-5),
            ..Config::default()
        };
        assert_eq!(c.validate().unwrap_err().field(), Some("idle_ttl"));
    }

    #[test]
    fn state_settings_name_the_first_difference() {
        let a = StateSettings::of(&Config::default());
        let b = StateSettings::of(&Config {
            lateness_ms: 600_000,
            ..Config::default()
        });
        assert_eq!(
            a.differs(&b),
            Some(("lateness", "5m".to_string(), "10m".to_string()))
        );
        let c = StateSettings::of(&Config {
            max_ahead_ms: None,
            late: LatePolicy::Apply,
            ..Config::default()
        });
        assert_eq!(a.differs(&c), None, "guards and the late policy may change");
    }
}
