//! Settings from the environment (and matching command-line flags).
use clap::Args;

use crate::db::DEFAULT_DATABASE_URL;

/// Where the database is; shared by every command.
#[derive(Args, Clone, Debug)]
pub struct DatabaseSettings {
    /// `sqlite://…` or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,
}

/// Settings of the HTTP server.
#[derive(Args, Clone, Debug)]
pub struct ServerSettings {
    /// Listen address.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Listen port.
    #[arg(long, env = "PORT", default_value_t = 8000)]
    pub port: u16,
    /// Comma-separated origins allowed by CORS (none by default).
    #[arg(long, env = "CORS_ORIGINS", default_value = "")]
    pub cors_origins: String,
    /// Largest request body in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Seconds a request may take before it is answered with a timeout.
    #[arg(long, env = "REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
}

impl ServerSettings {
    /// The settings `serve` gets when no subcommand is given: environment, then defaults.
    pub fn default_from_env() -> Self {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            settings: ServerSettings,
        }
        <Only as clap::Parser>::parse_from(["nhs-organisations"]).settings
    }

    pub fn cors_origin_list(&self) -> Vec<String> {
        self.cors_origins
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }
}

/// How to reach the NHS ODS ORD API, and the sync schedule of `serve`.
#[derive(Args, Clone, Debug)]
pub struct SyncSettings {
    /// Root of the ORD API (tests point it at a mock).
    #[arg(long, env = "ORD_BASE_URL", default_value = DEFAULT_ORD_BASE_URL, global = true)]
    pub ord_base_url: String,
    /// Most requests per second sent to ORD, across the whole process.
    #[arg(long, env = "ORD_MAX_RPS", default_value_t = 5, global = true)]
    pub ord_max_rps: u32,
    /// Seconds one ORD request may take (fractions allowed).
    #[arg(long, env = "ORD_TIMEOUT_SECS", default_value_t = 10.0, global = true)]
    pub ord_timeout_secs: f64,
    /// Seconds after which a code that keeps failing stops being retried (fractions allowed).
    #[arg(
        long,
        env = "ORD_RETRY_BUDGET_SECS",
        default_value_t = 60.0,
        global = true
    )]
    pub ord_retry_budget_secs: f64,
    /// Run the sync inside `serve` this often, e.g. `24h`, `90m`, `1d12h` (off when unset).
    #[arg(long, env = "SYNC_EVERY", global = true)]
    pub sync_every: Option<String>,
}

/// ORD's production root (the contract's default for `ORD_BASE_URL`).
pub const DEFAULT_ORD_BASE_URL: &str = "https://directory.spineservices.nhs.uk/ORD/2-0-0";

impl SyncSettings {
    /// The settings from the environment, then defaults (for code that has no command line).
    pub fn from_env() -> Result<Self, String> {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            settings: SyncSettings,
        }
        <Only as clap::Parser>::try_parse_from(["nhs-organisations"])
            .map(|o| o.settings)
            .map_err(|e| e.to_string().trim().replace('\n', " "))
    }

    /// The ORD client configuration these settings describe.
    pub fn ord_config(&self) -> Result<crate::ord::OrdConfig, String> {
        let secs = |name: &str, v: f64| {
            std::time::Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| format!("{name} must be a positive number of seconds, not {v}"))
        };
        if self.ord_max_rps == 0 {
            return Err("ORD_MAX_RPS must be at least 1".into());
        }
        Ok(crate::ord::OrdConfig {
            base_url: self.ord_base_url.clone(),
            max_rps: self.ord_max_rps,
            request_timeout: secs("ORD_TIMEOUT_SECS", self.ord_timeout_secs)?,
            retry_budget: secs("ORD_RETRY_BUDGET_SECS", self.ord_retry_budget_secs)?,
            ..crate::ord::OrdConfig::default()
        })
    }

    /// The sync interval of `serve`, or `None` when the schedule is off.
    pub fn schedule(&self) -> Result<Option<std::time::Duration>, String> {
        match self.sync_every.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => parse_interval(text).map(Some).ok_or_else(|| {
                format!("SYNC_EVERY '{text}' is not an interval like 24h, 90m, 1d12h or 3600s")
            }),
        }
    }
}

/// Parses `24h`, `90m`, `1d12h`, `3600s` (units d, h, m, s; at least one second in all).
pub fn parse_interval(text: &str) -> Option<std::time::Duration> {
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit: u64 = match c.to_ascii_lowercase() {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        let n: u64 = number.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        number.clear();
    }
    // A trailing number without a unit is ambiguous: refuse it.
    (number.is_empty() && total > 0).then(|| std::time::Duration::from_secs(total))
}

/// The ORD settings under the name the merger commands use.
pub type OrdSettings = SyncSettings;

impl SyncSettings {
    /// The process's ORD client (build one and share it: the rate limit lives in it).
    pub fn client(&self) -> Result<crate::ord::OrdClient, String> {
        crate::ord::OrdClient::new(self.ord_config()?).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_interval;
    use std::time::Duration;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("24h"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_interval("1d12h"), Some(Duration::from_secs(129_600)));
        assert_eq!(parse_interval("90m"), Some(Duration::from_secs(5_400)));
        assert_eq!(parse_interval("45s"), Some(Duration::from_secs(45)));
        for bad in ["", "24", "0h", "h", "1y", "-1h", "1.5h"] {
            assert_eq!(parse_interval(bad), None, "{bad}");
        }
    }
}
