//! Settings from the environment (and matching command-line flags), parsed into their types
//! by clap: a bad value is refused with the variable's name before anything runs.
use std::time::Duration;

use axum::http::HeaderValue;
use clap::Args;

use crate::db::DEFAULT_DATABASE_URL;

/// Where the database is; every command that reads or writes it takes these.
#[derive(Args, Clone, Debug)]
pub struct DatabaseSettings {
    /// `sqlite://…` or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: DatabaseUrl,
}

/// A database URL, which may hold a password: `Debug` and `Display` show it without, so it
/// can be logged; `expose` gives the URL itself, for connecting.
///
/// Any text is accepted here and the scheme is checked on connecting (`db::connect`), because
/// clap quotes a refused value in its error, password and all.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL with its password, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for DatabaseUrl {
    fn from(url: String) -> Self {
        Self(url)
    }
}

impl From<&str> for DatabaseUrl {
    fn from(url: &str) -> Self {
        Self(url.to_string())
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_password(&self.0))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&redact_password(&self.0))
            .finish()
    }
}

/// `scheme://user:secret@host/…` as `scheme://user:***@host/…`; other text unchanged.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
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
    pub cors_origins: CorsOrigins,
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
    /// Seconds a client has to send a request's headers; also the most a kept-alive connection
    /// may sit idle.
    #[arg(long, env = "HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub header_read_timeout_secs: u64,
    /// Most connections open at once; a new one beyond it is closed at once.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 256)]
    pub max_connections: usize,
    /// Seconds to wait for a free database connection before failing the request.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_SECS", default_value_t = crate::db::DEFAULT_ACQUIRE_TIMEOUT.as_secs())]
    pub db_acquire_timeout_secs: u64,
    /// Memory for cached query responses, in MiB (`0` turns the cache off).
    #[arg(long, env = "RESPONSE_CACHE_MB", default_value_t = 64)]
    pub response_cache_mb: u64,
    /// How often to look for writes by other processes, in milliseconds.
    #[arg(
        long,
        env = "SNAPSHOT_POLL_MS",
        default_value_t = crate::snapshot::store::DEFAULT_POLL.as_millis() as u64
    )]
    pub snapshot_poll_ms: u64,
    /// Run the ORD sync inside `serve` this often, e.g. `24h`, `90m`, `1d12h` (off when unset).
    #[arg(long, env = "SYNC_EVERY")]
    pub sync_every: Option<SyncEvery>,
    /// Run a full ORD sync (every tracked record) inside `serve` this often, e.g. `7d` (off when
    /// unset): the safety net for what incremental syncs miss.
    #[arg(long, env = "SYNC_FULL_EVERY")]
    pub sync_full_every: Option<SyncEvery>,
    #[command(flatten)]
    pub limits: QueryLimits,
}

/// Limits a GraphQL document must stay within; checked before anything is executed.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct QueryLimits {
    /// Deepest field nesting, `__typename` included (the standard introspection query needs 15).
    #[arg(long, env = "GRAPHQL_MAX_DEPTH", default_value_t = QueryLimits::DEFAULT.max_depth)]
    pub max_depth: usize,
    /// Largest estimated cost: about the number of values a response may hold.
    #[arg(long, env = "GRAPHQL_MAX_COMPLEXITY", default_value_t = QueryLimits::DEFAULT.max_complexity)]
    pub max_complexity: usize,
    /// Most aliased fields in one document (fragments counted where they are used).
    #[arg(long, env = "GRAPHQL_MAX_ALIASES", default_value_t = QueryLimits::DEFAULT.max_aliases)]
    pub max_aliases: usize,
    /// Most top-level fields in one document.
    #[arg(long, env = "GRAPHQL_MAX_ROOT_FIELDS", default_value_t = QueryLimits::DEFAULT.max_root_fields)]
    pub max_root_fields: usize,
    /// Most selections in one document (fragments counted where they are used).
    #[arg(long, env = "GRAPHQL_MAX_FIELDS", default_value_t = QueryLimits::DEFAULT.max_fields)]
    pub max_fields: usize,
    /// Deepest nesting of selection sets and fragments while parsing.
    #[arg(long, env = "GRAPHQL_MAX_RECURSION", default_value_t = QueryLimits::DEFAULT.max_recursion)]
    pub max_recursion: usize,
    /// Most directives on one field.
    #[arg(long, env = "GRAPHQL_MAX_DIRECTIVES", default_value_t = QueryLimits::DEFAULT.max_directives)]
    pub max_directives: usize,
}

impl QueryLimits {
    /// The defaults of the flags and variables above (docs/operating.md lists them).
    pub const DEFAULT: QueryLimits = QueryLimits {
        max_depth: 15,
        max_complexity: 100_000,
        max_aliases: 50,
        max_root_fields: 30,
        max_fields: 1_000,
        max_recursion: 32,
        max_directives: 5,
    };
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl ServerSettings {
    /// The server settings from the environment, then defaults (for code without a command
    /// line: tests, benchmarks).
    pub fn default_from_env() -> Self {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            settings: ServerSettings,
        }
        <Only as clap::Parser>::parse_from(["nhs-organisations"]).settings
    }

    /// Refuses settings that would start a server nobody can use, before anything else runs.
    pub fn validate(&self) -> Result<(), String> {
        if self.port == 0 {
            return Err("PORT must be 1 to 65535, not 0".into());
        }
        if self.max_body_bytes == 0 {
            return Err("MAX_BODY_BYTES must be at least 1".into());
        }
        if self.max_connections == 0 {
            return Err("MAX_CONNECTIONS must be at least 1".into());
        }
        Ok(())
    }

    /// The sync interval of `serve`, or `None` when the schedule is off.
    pub fn schedule(&self) -> Option<Duration> {
        self.sync_every.and_then(|every| every.0)
    }

    /// The full-sync interval of `serve`, or `None` when that schedule is off.
    pub fn full_schedule(&self) -> Option<Duration> {
        self.sync_full_every.and_then(|every| every.0)
    }

    /// How often the snapshot looks for other processes' writes (at least every 50 ms).
    pub fn snapshot_poll(&self) -> Duration {
        Duration::from_millis(self.snapshot_poll_ms.max(50))
    }
}

/// The origins CORS allows: a comma-separated list of `http(s)://host[:port]`, each checked
/// when parsed (empty entries are skipped; `*` is refused).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CorsOrigins(Vec<HeaderValue>);

impl CorsOrigins {
    pub fn values(&self) -> &[HeaderValue] {
        &self.0
    }
}

impl std::str::FromStr for CorsOrigins {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut origins = Vec::new();
        for origin in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if origin == "*" {
                return Err("CORS_ORIGINS cannot be *: list the frontends' origins, e.g. https://app.example.org".into());
            }
            let is_http = origin.starts_with("http://") || origin.starts_with("https://");
            let value = HeaderValue::from_str(origin)
                .ok()
                .filter(|_| is_http)
                .ok_or_else(|| {
                    format!(
                        "CORS_ORIGINS entry {origin:?} is not an origin like https://app.example.org"
                    )
                })?;
            origins.push(value);
        }
        Ok(Self(origins))
    }
}

/// `SYNC_EVERY`, `SYNC_FULL_EVERY`: an interval such as `24h`, or empty for off (as when unset).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncEvery(Option<Duration>);

impl std::str::FromStr for SyncEvery {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Self(None));
        }
        parse_interval(text)
            .map(|d| Self(Some(d)))
            .ok_or_else(|| format!("'{text}' is not an interval like 24h, 90m, 1d12h or 3600s"))
    }
}

/// A positive number of seconds, fractions allowed (`0.5`, `10`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seconds(pub Duration);

impl std::str::FromStr for Seconds {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        text.trim()
            .parse::<f64>()
            .ok()
            .and_then(|v| Duration::try_from_secs_f64(v).ok())
            .filter(|d| !d.is_zero())
            .map(Self)
            .ok_or_else(|| format!("{text:?} is not a positive number of seconds"))
    }
}

/// As the flag's default is shown: `10`, `0.5`.
impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

/// An ORD root: an absolute http(s) URL, as the client needs it.
fn parse_ord_base_url(text: &str) -> Result<reqwest::Url, String> {
    crate::ord::client::parse_base_url(text).map_err(|e| e.to_string())
}

/// How to reach the NHS ODS ORD API; taken by the commands that call it.
#[derive(Args, Clone, Debug)]
pub struct OrdSettings {
    /// Root of the ORD API (tests point it at a mock).
    #[arg(
        long,
        env = "ORD_BASE_URL",
        default_value = crate::ord::DEFAULT_BASE_URL,
        value_parser = parse_ord_base_url
    )]
    pub ord_base_url: reqwest::Url,
    /// Most requests per second sent to ORD, across the whole process.
    #[arg(
        long,
        env = "ORD_MAX_RPS",
        default_value_t = crate::ord::client::DEFAULT_MAX_RPS,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub ord_max_rps: u32,
    /// Seconds one ORD request may take (fractions allowed).
    #[arg(long, env = "ORD_TIMEOUT_SECS", default_value_t = Seconds(crate::ord::client::DEFAULT_REQUEST_TIMEOUT))]
    pub ord_timeout_secs: Seconds,
    /// Seconds after which a code that keeps failing stops being retried (fractions allowed).
    #[arg(long, env = "ORD_RETRY_BUDGET_SECS", default_value_t = Seconds(crate::ord::client::DEFAULT_RETRY_BUDGET))]
    pub ord_retry_budget_secs: Seconds,
    /// Which ODS API the sync reads: `ord` or `fhir` (the rate, timeout and retry settings
    /// above apply to either).
    #[arg(long, env = "ODS_SOURCE", value_enum, default_value_t = OdsSource::Ord)]
    pub ods_source: OdsSource,
    /// Root of the ODS FHIR R4 API (with `ODS_SOURCE=fhir`).
    #[arg(
        long,
        env = "FHIR_BASE_URL",
        default_value = crate::fhir::DEFAULT_BASE_URL,
        value_parser = parse_ord_base_url
    )]
    pub fhir_base_url: reqwest::Url,
    /// API key of the FHIR API, sent as the `apikey` header; required with `ODS_SOURCE=fhir`.
    #[arg(long, env = "FHIR_API_KEY", hide_env_values = true, value_parser = parse_api_key)]
    pub fhir_api_key: Option<crate::fhir::ApiKey>,
}

/// The ODS API a sync reads.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OdsSource {
    /// ORD 2-0-0 (`ORD_BASE_URL`).
    Ord,
    /// The FHIR R4 Organisation Data Terminology API (`FHIR_BASE_URL`, `FHIR_API_KEY`).
    Fhir,
}

fn parse_api_key(text: &str) -> Result<crate::fhir::ApiKey, String> {
    if text.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    Ok(crate::fhir::ApiKey::new(text.trim()))
}

impl OrdSettings {
    /// The settings from the environment, then defaults (for code that has no command line).
    pub fn from_env() -> Result<Self, String> {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            settings: OrdSettings,
        }
        <Only as clap::Parser>::try_parse_from(["nhs-organisations"])
            .map(|o| o.settings)
            .map_err(|e| e.to_string().trim().replace('\n', " "))
    }

    /// The ORD client configuration these settings describe.
    pub fn ord_config(&self) -> crate::ord::OrdConfig {
        crate::ord::OrdConfig {
            base_url: self.ord_base_url.to_string(),
            max_rps: self.ord_max_rps,
            request_timeout: self.ord_timeout_secs.0,
            retry_budget: self.ord_retry_budget_secs.0,
            ..crate::ord::OrdConfig::default()
        }
    }
}

/// Parses `24h`, `90m`, `1d12h`, `3600s` (units d, h, m, s; at least one second in all).
pub fn parse_interval(text: &str) -> Option<Duration> {
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
    (number.is_empty() && total > 0).then(|| Duration::from_secs(total))
}

impl OrdSettings {
    /// The sync's source as `ODS_SOURCE` chooses it (build one and share it). `fhir` without
    /// `FHIR_API_KEY` is an error naming the setting.
    pub fn source(&self) -> Result<crate::sync::SharedSource, String> {
        match self.ods_source {
            OdsSource::Ord => Ok(self.client()?.into()),
            OdsSource::Fhir => {
                let key = self.fhir_api_key.clone().ok_or_else(|| {
                    "ODS_SOURCE=fhir needs FHIR_API_KEY (the key of the Organisation Data \
                     Terminology API)"
                        .to_owned()
                })?;
                let ord = self.ord_config();
                let config = crate::fhir::FhirConfig {
                    base_url: self.fhir_base_url.to_string(),
                    max_rps: ord.max_rps,
                    request_timeout: ord.request_timeout,
                    retry_budget: ord.retry_budget,
                    ..crate::fhir::FhirConfig::new(key)
                };
                let client = crate::fhir::FhirClient::new(config).map_err(|e| e.to_string())?;
                Ok(client.into())
            }
        }
    }

    /// The process's ORD client (build one and share it: the rate limit lives in it).
    pub fn client(&self) -> Result<crate::ord::OrdClient, String> {
        crate::ord::OrdClient::new(self.ord_config()).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn debug_and_display_never_show_a_database_password() {
        let url = "postgres://admin:s3cr3t-pw@db.example:5432/nhs?sslmode=require";
        let settings = DatabaseSettings {
            database_url: url.into(),
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("admin:***@db.example:5432/nhs"), "{shown}");
        assert!(!settings.database_url.to_string().contains("s3cr3t"));
        assert_eq!(settings.database_url.expose(), url);
        // Parsed from a flag, as the commands get it.
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            database: DatabaseSettings,
        }
        let parsed = <Only as clap::Parser>::parse_from(["x", "--database-url", url]).database;
        assert_eq!(parsed.database_url.expose(), url);
        assert!(!format!("{parsed:?}").contains("s3cr3t"));
        // Without a password nothing is hidden.
        let plain = DatabaseUrl::from("sqlite://nhs-organisations.db");
        assert_eq!(plain.to_string(), "sqlite://nhs-organisations.db");
    }

    #[test]
    fn values_are_parsed_into_their_types_or_refused_with_the_variable() {
        #[derive(clap::Parser)]
        struct All {
            #[command(flatten)]
            server: ServerSettings,
            #[command(flatten)]
            ord: OrdSettings,
        }
        let parse = |args: &[&str]| {
            <All as clap::Parser>::try_parse_from(["x"].iter().chain(args))
                .map_err(|e| e.to_string())
        };
        let all = parse(&[
            "--cors-origins",
            " https://a.example, ,http://b.example:8080",
            "--sync-every",
            "1d12h",
            "--sync-full-every",
            "7d",
            "--ord-base-url",
            "http://127.0.0.1:9/ORD/2-0-0",
            "--ord-timeout-secs",
            "0.5",
        ])
        .expect("parses");
        let origins: Vec<&str> = all
            .server
            .cors_origins
            .values()
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert_eq!(origins, ["https://a.example", "http://b.example:8080"]);
        assert_eq!(all.server.schedule(), Some(Duration::from_secs(129_600)));
        assert_eq!(
            all.server.full_schedule(),
            Some(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(
            all.ord.ord_base_url.as_str(),
            "http://127.0.0.1:9/ORD/2-0-0/"
        );
        assert_eq!(
            all.ord.ord_config().request_timeout,
            Duration::from_millis(500)
        );
        // Empty means off, as unset does.
        let off = parse(&["--sync-every", " "]).expect("parses");
        assert_eq!(off.server.schedule(), None);
        if std::env::var_os("SYNC_EVERY").is_none() {
            assert_eq!(parse(&[]).expect("parses").server.schedule(), None);
        }
        let refused: &[(&[&str], &str)] = &[
            (&["--cors-origins", "*"], "CORS_ORIGINS"),
            (
                &["--cors-origins", "https://a.example,app.example"],
                "CORS_ORIGINS",
            ),
            (&["--sync-every", "24"], "SYNC_EVERY"),
            (&["--sync-full-every", "weekly"], "SYNC_FULL_EVERY"),
            (&["--ord-base-url", "ftp://x.example"], "ORD_BASE_URL"),
            (&["--ord-max-rps", "0"], "ORD_MAX_RPS"),
            (&["--ord-timeout-secs", "0"], "ORD_TIMEOUT_SECS"),
            (&["--ord-retry-budget-secs=-1"], "ORD_RETRY_BUDGET_SECS"),
        ];
        for &(args, mentions) in refused {
            let err = parse(args)
                .err()
                .unwrap_or_else(|| panic!("{args:?} accepted"));
            assert!(err.contains(mentions), "{args:?}: {err}");
        }
    }

    /// Every default in the docs' tables of variables is the one the command line has.
    #[test]
    fn documented_defaults_are_the_defaults() {
        #[derive(clap::Parser)]
        struct All {
            #[command(flatten)]
            database: DatabaseSettings,
            #[command(flatten)]
            server: ServerSettings,
            #[command(flatten)]
            ord: OrdSettings,
        }
        let docs: String = ["operating.md", "sync.md", "api.md"]
            .iter()
            .map(|f| {
                let path = format!("{}/docs/{f}", env!("CARGO_MANIFEST_DIR"));
                std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
            })
            .collect();
        let mut checked = 0;
        for arg in <All as clap::CommandFactory>::command().get_arguments() {
            let (Some(var), [default]) = (arg.get_env(), arg.get_default_values()) else {
                continue;
            };
            let var = var.to_string_lossy();
            let row = format!("| `{var}` | `");
            for line in docs.lines().filter(|l| l.starts_with(&row)) {
                let documented = line[row.len()..].split('`').next().unwrap_or_default();
                assert_eq!(documented, default.to_string_lossy(), "{var}");
                checked += 1;
            }
        }
        assert!(checked >= 20, "only {checked} documented defaults found");
    }

    #[test]
    fn ods_source_fhir_needs_a_key_and_never_shows_it() {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            ord: OrdSettings,
        }
        let parse = |args: &[&str]| {
            let mut all = vec!["nhs-organisations"];
            all.extend_from_slice(args);
            <Only as clap::Parser>::try_parse_from(all).map(|o| o.ord)
        };
        if std::env::var_os("ODS_SOURCE").is_none() && std::env::var_os("FHIR_API_KEY").is_none() {
            let default = parse(&[]).expect("parses");
            assert_eq!(default.ods_source, OdsSource::Ord);
            assert_eq!(default.source().expect("ord").name(), "ord");
            let no_key = parse(&["--ods-source", "fhir"]).expect("parses");
            let err = no_key.source().expect_err("no key");
            assert!(err.contains("FHIR_API_KEY"), "{err}");
        }
        let fhir = parse(&[
            "--ods-source",
            "fhir",
            "--fhir-base-url",
            "http://127.0.0.1:9/fhir",
            "--fhir-api-key",
            "s3cret-key",
        ])
        .expect("parses");
        assert_eq!(fhir.fhir_base_url.as_str(), "http://127.0.0.1:9/fhir/");
        assert!(!format!("{fhir:?}").contains("s3cret-key"));
        assert_eq!(fhir.source().expect("fhir").name(), "fhir");
        assert!(parse(&["--ods-source", "soap"]).is_err());
        assert!(parse(&["--fhir-base-url", "ftp://x.example"]).is_err());
        assert!(parse(&["--fhir-api-key", " "]).is_err());
    }
}
