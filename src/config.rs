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
    /// Requests per second per client address on `/graphql`; 0 disables the limit.
    #[arg(long, env = "RATE_LIMIT_RPS", default_value_t = 50)]
    pub rate_limit_rps: u32,
    /// Requests a client may send at once above its per-second rate.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 100)]
    pub rate_limit_burst: u32,
    /// Take the client address from `X-Forwarded-For` (and keep `X-Request-Id`): only behind a
    /// reverse proxy that sets these headers itself.
    #[arg(
        long,
        env = "TRUST_PROXY_HEADERS",
        default_value_t = false,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub trust_proxy_headers: bool,
    /// Seconds to wait for a free database connection before failing the request.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_SECS", default_value_t = 3)]
    pub db_acquire_timeout_secs: u64,
    #[command(flatten)]
    pub limits: QueryLimits,
}

/// Limits a GraphQL document must stay within; checked before anything is executed.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct QueryLimits {
    /// Deepest field nesting, `__typename` included (the standard introspection query needs 15).
    #[arg(long, env = "GRAPHQL_MAX_DEPTH", default_value_t = 15)]
    pub max_depth: usize,
    /// Largest estimated cost: about the number of values a response may hold.
    #[arg(long, env = "GRAPHQL_MAX_COMPLEXITY", default_value_t = 100_000)]
    pub max_complexity: usize,
    /// Most aliased fields in one document (fragments counted where they are used).
    #[arg(long, env = "GRAPHQL_MAX_ALIASES", default_value_t = 50)]
    pub max_aliases: usize,
    /// Most top-level fields in one document.
    #[arg(long, env = "GRAPHQL_MAX_ROOT_FIELDS", default_value_t = 30)]
    pub max_root_fields: usize,
    /// Most selections in one document (fragments counted where they are used).
    #[arg(long, env = "GRAPHQL_MAX_FIELDS", default_value_t = 1_000)]
    pub max_fields: usize,
    /// Deepest nesting of selection sets and fragments while parsing.
    #[arg(long, env = "GRAPHQL_MAX_RECURSION", default_value_t = 32)]
    pub max_recursion: usize,
    /// Most directives on one field.
    #[arg(long, env = "GRAPHQL_MAX_DIRECTIVES", default_value_t = 5)]
    pub max_directives: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            max_depth: 15,
            max_complexity: 100_000,
            max_aliases: 50,
            max_root_fields: 30,
            max_fields: 1_000,
            max_recursion: 32,
            max_directives: 5,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_limit_defaults_match_the_documented_ones() {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            limits: QueryLimits,
        }
        let vars = [
            "GRAPHQL_MAX_DEPTH",
            "GRAPHQL_MAX_COMPLEXITY",
            "GRAPHQL_MAX_ALIASES",
            "GRAPHQL_MAX_ROOT_FIELDS",
            "GRAPHQL_MAX_FIELDS",
            "GRAPHQL_MAX_RECURSION",
            "GRAPHQL_MAX_DIRECTIVES",
        ];
        if vars.iter().any(|v| std::env::var_os(v).is_some()) {
            return; // the environment overrides the defaults
        }
        let parsed = <Only as clap::Parser>::parse_from(["x"]).limits;
        assert_eq!(parsed, QueryLimits::default());
    }
}
