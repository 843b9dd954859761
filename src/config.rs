//! Settings from the environment (and matching command-line flags).
use clap::Args;

use crate::db::DEFAULT_DATABASE_URL;
use crate::ord::{OrdClient, OrdConfig, OrdError};

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

/// Where ORD is and how fast we may call it; shared by every command that talks to ORD.
#[derive(Args, Clone, Debug)]
pub struct OrdSettings {
    /// ORD API root (tests point it at a mock).
    #[arg(
        long,
        env = "ORD_BASE_URL",
        default_value = "https://directory.spineservices.nhs.uk/ORD/2-0-0",
        global = true
    )]
    pub ord_base_url: String,
    /// Ceiling on requests per second to ORD, across the whole process.
    #[arg(long, env = "ORD_MAX_RPS", default_value_t = 5, global = true)]
    pub ord_max_rps: u32,
}

impl OrdSettings {
    /// The process's ORD client (build one and share it: the rate limit lives in it).
    pub fn client(&self) -> Result<OrdClient, OrdError> {
        OrdClient::new(OrdConfig {
            base_url: self.ord_base_url.clone(),
            max_rps: self.ord_max_rps,
            ..OrdConfig::default()
        })
    }
}
