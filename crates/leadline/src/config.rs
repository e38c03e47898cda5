//! Configuration: command-line flags, then `LEADLINE_*` environment variables, then the
//! configuration file (`leadline.toml` in the working directory, or `--config PATH`), then
//! built-in defaults. The first that sets a value wins.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use leadline_app::archive::Target;
use leadline_app::imports::UploadLimits;
use leadline_app::outbound::OutboundPolicy;
use leadline_app::signing::ServerKey;
use leadline_app::store::PoolConfig;
use leadline_core::archive::OfficeHours;
use leadline_http::ivvy::IvvySettings;
use leadline_http::rate_limit::{GroupLimits, RateLimits};
use leadline_http::vicidial::VicidialSettings;
use leadline_http::HttpSettings;
use serde::Deserialize;

#[derive(Args, Debug, Default)]
pub struct ConfigArgs {
    /// Configuration file [default: leadline.toml, if present]
    #[arg(long, global = true, env = "LEADLINE_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, global = true, env = "LEADLINE_LISTEN")]
    listen: Option<String>,
    /// sqlite://PATH or postgres://USER@HOST/DB [default: sqlite://leadline.db]
    #[arg(long, global = true, env = "LEADLINE_DATABASE_URL")]
    database_url: Option<String>,
    /// Log filter, e.g. info or leadline_http=debug [default: info]
    #[arg(long, global = true, env = "LEADLINE_LOG")]
    log: Option<String>,
    /// Log format: text or json [default: text]
    #[arg(long, global = true, env = "LEADLINE_LOG_FORMAT")]
    log_format: Option<String>,
    /// Key that signs webhook bodies [default: one made once and shared through the database]
    #[arg(long, global = true, env = "LEADLINE_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,
    /// Server key iVvy signing secrets are derived from (32+ random characters); keep it out of
    /// the database and never change it while iVvy credentials are in use
    #[arg(long, global = true, env = "LEADLINE_IVVY_SIGNING_KEY", hide_env_values = true)]
    ivvy_signing_key: Option<String>,
}

/// The file's shape; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    database_url: Option<String>,
    log: Option<String>,
    log_format: Option<String>,
    body_limit_bytes: Option<usize>,
    slow_request_ms: Option<u64>,
    header_read_timeout_seconds: Option<u64>,
    request_timeout_seconds: Option<u64>,
    body_idle_timeout_seconds: Option<u64>,
    max_connections: Option<usize>,
    shutdown_grace_seconds: Option<u64>,
    pool_max_connections: Option<u32>,
    pool_acquire_timeout_seconds: Option<u64>,
    webhook_secret: Option<String>,
    outbound_allow_private: Option<Vec<String>>,
    noojee_concurrency: Option<usize>,
    noojee_max_waiting: Option<usize>,
    noojee_update_wait_seconds: Option<u64>,
    noojee_insert_wait_seconds: Option<u64>,
    noojee_batch_limit: Option<usize>,
    ivvy_signing_key: Option<String>,
    ivvy_allow_bearer: Option<bool>,
    vicidial: Option<VicidialFile>,
    rate_limits: Option<RateLimitsFile>,
    import_max_uploads_per_key: Option<u32>,
    import_quota_bytes_per_key: Option<u64>,
}

/// `[rate_limits]`: one table per route group, each key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitsFile {
    native: Option<GroupLimitsFile>,
    cake: Option<GroupLimitsFile>,
    noojee: Option<GroupLimitsFile>,
    ivvy: Option<GroupLimitsFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupLimitsFile {
    per_key_per_minute: Option<u32>,
    per_address_per_minute: Option<u32>,
}

impl RateLimitsFile {
    fn limits(self) -> RateLimits {
        let group = |file: Option<GroupLimitsFile>| {
            let defaults = GroupLimits::default();
            let file = file.unwrap_or_default();
            GroupLimits {
                per_key_per_minute: file.per_key_per_minute.unwrap_or(defaults.per_key_per_minute),
                per_address_per_minute: file.per_address_per_minute.unwrap_or(defaults.per_address_per_minute),
            }
        };
        RateLimits {
            native: group(self.native),
            cake: group(self.cake),
            noojee: group(self.noojee),
            ivvy: group(self.ivvy),
        }
    }
}

/// `[vicidial]`: the archive dialect's office hours and limit, and the VICIdial database it acts
/// on instead of Leadline's own lead table when `database_url` is set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct VicidialFile {
    database_url: Option<String>,
    max_lead_ids: Option<usize>,
    timezone: Option<String>,
    office_hours: Option<Vec<leadline_core::schedule::Window>>,
    holidays: Option<Vec<String>>,
    pool_max_connections: Option<u32>,
}

impl VicidialFile {
    fn settings(self) -> anyhow::Result<VicidialSettings> {
        let defaults = VicidialSettings::default();
        let office_hours = match (self.office_hours, self.timezone) {
            (None, None) if self.holidays.is_none() => None,
            (windows, Some(zone)) => Some(
                OfficeHours::new(&zone, &windows.unwrap_or_default(), &self.holidays.unwrap_or_default())
                    .map_err(|e| anyhow::anyhow!("[vicidial] {e}"))?,
            ),
            (_, None) => anyhow::bail!(
                "[vicidial] office_hours and holidays need a timezone (an IANA name such as \"Australia/Sydney\")"
            ),
        };
        let max_lead_ids = match self.max_lead_ids {
            Some(0) => anyhow::bail!("[vicidial] max_lead_ids must be at least 1"),
            Some(n) => n,
            None => defaults.max_lead_ids,
        };
        let target = match self.database_url {
            Some(url) if url.starts_with("mysql://") || url.starts_with("mariadb://") => {
                let url = url.replacen("mariadb://", "mysql://", 1);
                Target::vicidial(&url, self.pool_max_connections.unwrap_or(4))
                    .map_err(|e| anyhow::anyhow!("[vicidial] database_url: {e}"))?
            }
            Some(url) => anyhow::bail!(
                "[vicidial] database_url `{}` is not a mysql://USER@HOST/DB URL",
                leadline_core::redact::database_url(&url)
            ),
            None => Target::Leadline,
        };
        Ok(VicidialSettings { office_hours, max_lead_ids, target })
    }
}

/// `import_max_uploads_per_key` and `import_quota_bytes_per_key`, each at least 1.
fn upload_limits(uploads: Option<u32>, bytes: Option<u64>) -> anyhow::Result<UploadLimits> {
    let defaults = UploadLimits::default();
    match (uploads, bytes) {
        (Some(0), _) => anyhow::bail!("import_max_uploads_per_key must be at least 1"),
        (_, Some(0)) => anyhow::bail!("import_quota_bytes_per_key must be at least 1"),
        _ => Ok(UploadLimits {
            uploads_per_key: uploads.unwrap_or(defaults.uploads_per_key),
            bytes_per_key: bytes.unwrap_or(defaults.bytes_per_key),
        }),
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The configuration file read, if any.
    pub file: Option<PathBuf>,
    pub listen: String,
    pub database_url: String,
    pub log: String,
    pub log_json: bool,
    pub body_limit_bytes: usize,
    /// A request slower than this is logged at warn level.
    pub slow_request: Duration,
    pub request_timeout: Duration,
    pub body_idle_timeout: Duration,
    pub serve: leadline_http::ServeLimits,
    pub pool_max_connections: u32,
    pub pool_acquire_timeout: Duration,
    pub webhook_secret: Option<String>,
    /// Internal ranges webhooks may reach (none by default).
    pub outbound: OutboundPolicy,
    pub noojee: leadline_http::noojee::Limits,
    pub ivvy: IvvySettings,
    pub vicidial: VicidialSettings,
    pub rate_limits: RateLimits,
    /// What one key may have in HTTP imports at once.
    pub upload_limits: UploadLimits,
}

impl Config {
    pub fn load(args: &ConfigArgs) -> anyhow::Result<Config> {
        let (path, required) = match &args.config {
            Some(path) => (path.clone(), true),
            None => (PathBuf::from("leadline.toml"), false),
        };
        let (file, read): (FileConfig, _) = match std::fs::read_to_string(&path) {
            Ok(text) => (
                toml::from_str(&text)
                    .with_context(|| format!("{} is not a valid configuration file", path.display()))?,
                Some(path),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => (FileConfig::default(), None),
            Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
        };
        let (serve, request_timeout, body_idle_timeout) = edge_limits(&file)?;
        let log_format = args.log_format.clone().or(file.log_format).unwrap_or_else(|| "text".into());
        if !matches!(log_format.as_str(), "text" | "json") {
            anyhow::bail!("log format `{log_format}` is not text or json");
        }
        let ivvy = IvvySettings {
            server_key: args
                .ivvy_signing_key
                .clone()
                .or(file.ivvy_signing_key)
                .map(|key| ServerKey::new(&key).map_err(anyhow::Error::msg))
                .transpose()?,
            allow_bearer: file.ivvy_allow_bearer.unwrap_or(false),
        };
        let defaults = leadline_http::noojee::Limits::default();
        let noojee = leadline_http::noojee::Limits {
            concurrency: at_least_one("noojee_concurrency", file.noojee_concurrency)?.unwrap_or(defaults.concurrency),
            max_waiting: file.noojee_max_waiting.unwrap_or(defaults.max_waiting),
            update_wait: file.noojee_update_wait_seconds.map(Duration::from_secs).unwrap_or(defaults.update_wait),
            insert_wait: file.noojee_insert_wait_seconds.map(Duration::from_secs).unwrap_or(defaults.insert_wait),
            batch_limit: at_least_one("noojee_batch_limit", file.noojee_batch_limit)?.unwrap_or(defaults.batch_limit),
        };
        at_least_one("body_limit_bytes", file.body_limit_bytes)?;
        at_least_one("pool_max_connections", file.pool_max_connections)?;
        at_least_one("pool_acquire_timeout_seconds", file.pool_acquire_timeout_seconds)?;
        check_request_timeout(request_timeout, &noojee)?;
        let vicidial = file.vicidial.unwrap_or_default().settings()?;
        let rate_limits = file.rate_limits.unwrap_or_default().limits();
        let upload_limits = upload_limits(file.import_max_uploads_per_key, file.import_quota_bytes_per_key)?;
        let outbound = OutboundPolicy::allowing(&file.outbound_allow_private.unwrap_or_default())
            .map_err(|e| anyhow::anyhow!("outbound_allow_private: {e}"))?;
        let config = Config {
            file: read,
            upload_limits,
            outbound,
            vicidial,
            rate_limits,
            webhook_secret: args.webhook_secret.clone().or(file.webhook_secret),
            noojee,
            listen: args.listen.clone().or(file.listen).unwrap_or_else(|| "127.0.0.1:8080".into()),
            database_url: args
                .database_url
                .clone()
                .or(file.database_url)
                .unwrap_or_else(|| "sqlite://leadline.db".into()),
            log: args.log.clone().or(file.log).unwrap_or_else(|| "info".into()),
            log_json: log_format == "json",
            body_limit_bytes: file.body_limit_bytes.unwrap_or(HttpSettings::default().body_limit),
            slow_request: file.slow_request_ms.map(Duration::from_millis).unwrap_or(Duration::from_secs(1)),
            request_timeout,
            body_idle_timeout,
            serve,
            pool_max_connections: file.pool_max_connections.unwrap_or(PoolConfig::default().max_connections),
            pool_acquire_timeout: file
                .pool_acquire_timeout_seconds
                .map(Duration::from_secs)
                .unwrap_or(PoolConfig::default().acquire_timeout),
            ivvy,
        };
        config.check()?;
        Ok(config)
    }

    /// The checks of values that parse but cannot work, so that `config check` and a start
    /// refuse them alike, before anything is opened.
    fn check(&self) -> anyhow::Result<()> {
        match self.listen.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
            _ => anyhow::bail!(
                "listen `{}` is not HOST:PORT (for example 127.0.0.1:8080, 0.0.0.0:8080 or [::]:8080)",
                self.listen
            ),
        }
        let url = &self.database_url;
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            anyhow::bail!(
                "database_url `{}` is neither sqlite://PATH nor postgres://USER@HOST/DB",
                self.database_url_for_logs()
            );
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log) {
            anyhow::bail!(
                "log filter `{}` is not valid ({e}); use a level such as info, or leadline_http=debug",
                self.log
            );
        }
        Ok(())
    }

    /// The database URL as logs and messages may show it: without its password.
    pub fn database_url_for_logs(&self) -> String {
        leadline_core::redact::database_url(&self.database_url)
    }

    /// The settings in force, one a line, secrets only said to be set: `leadline config check`.
    pub fn summary(&self) -> Vec<String> {
        let secret = |set: bool| if set { "(set)" } else { "(not set)" };
        let vicidial = match &self.vicidial.target {
            Target::Leadline => "Leadline's own store".to_string(),
            Target::Vicidial(_) => "a VICIdial database".to_string(),
        };
        vec![
            format!("listen = {}", self.listen),
            format!("database_url = {}", self.database_url_for_logs()),
            format!("log = {} ({})", self.log, if self.log_json { "json" } else { "text" }),
            format!("body_limit_bytes = {}", self.body_limit_bytes),
            format!("slow_request_ms = {}", self.slow_request.as_millis()),
            format!(
                "pool_max_connections = {}, pool_acquire_timeout_seconds = {}",
                self.pool_max_connections,
                self.pool_acquire_timeout.as_secs()
            ),
            format!("webhook_secret = {}", secret(self.webhook_secret.is_some())),
            format!(
                "noojee: concurrency {}, max waiting {}, update wait {} s, insert wait {} s, batch limit {}",
                self.noojee.concurrency,
                self.noojee.max_waiting,
                self.noojee.update_wait.as_secs(),
                self.noojee.insert_wait.as_secs(),
                self.noojee.batch_limit
            ),
            format!(
                "ivvy_signing_key = {}, ivvy_allow_bearer = {}",
                secret(self.ivvy.server_key.is_some()),
                self.ivvy.allow_bearer
            ),
            format!(
                "vicidial: max_lead_ids {}, office hours {}, archives in {vicidial}",
                self.vicidial.max_lead_ids,
                if self.vicidial.office_hours.is_some() { "set" } else { "none" }
            ),
        ]
    }

    pub fn pool(&self) -> PoolConfig {
        PoolConfig { max_connections: self.pool_max_connections, acquire_timeout: self.pool_acquire_timeout }
    }

    pub fn http(&self) -> HttpSettings {
        HttpSettings {
            body_limit: self.body_limit_bytes,
            request_timeout: self.request_timeout,
            body_idle_timeout: self.body_idle_timeout,
            noojee: self.noojee.clone(),
            ivvy: self.ivvy.clone(),
            vicidial: self.vicidial.clone(),
            rate_limits: self.rate_limits.clone(),
        }
    }

    pub fn webhooks(&self) -> leadline_app::outbox::WebhookSettings {
        leadline_app::outbox::WebhookSettings {
            secret: self.webhook_secret.clone(),
            policy: self.outbound.clone(),
            ..Default::default()
        }
    }
}

/// Zero is no sensible value for the settings given to this.
fn at_least_one<N: Copy + PartialEq + From<u8>>(key: &str, value: Option<N>) -> anyhow::Result<Option<N>> {
    if value == Some(N::from(0)) {
        anyhow::bail!("{key} must be at least 1");
    }
    Ok(value)
}

/// The connection limits, the request timeout and the body idle timeout; none may be zero.
fn edge_limits(file: &FileConfig) -> anyhow::Result<(leadline_http::ServeLimits, Duration, Duration)> {
    let serve_defaults = leadline_http::ServeLimits::default();
    let http_defaults = HttpSettings::default();
    let seconds = |value: Option<u64>, name: &str, default: Duration| match value {
        Some(0) => Err(anyhow::anyhow!("{name} must be at least 1")),
        Some(n) => Ok(Duration::from_secs(n)),
        None => Ok(default),
    };
    let serve = leadline_http::ServeLimits {
        header_read_timeout: seconds(
            file.header_read_timeout_seconds,
            "header_read_timeout_seconds",
            serve_defaults.header_read_timeout,
        )?,
        max_connections: match file.max_connections {
            Some(0) => anyhow::bail!("max_connections must be at least 1"),
            Some(n) => n,
            None => serve_defaults.max_connections,
        },
        shutdown_grace: seconds(file.shutdown_grace_seconds, "shutdown_grace_seconds", serve_defaults.shutdown_grace)?,
    };
    let request_timeout =
        seconds(file.request_timeout_seconds, "request_timeout_seconds", http_defaults.request_timeout)?;
    let body_idle_timeout =
        seconds(file.body_idle_timeout_seconds, "body_idle_timeout_seconds", http_defaults.body_idle_timeout)?;
    Ok((serve, request_timeout, body_idle_timeout))
}

/// A Noojee request spends its wait for a turn inside the request timeout, so the timeout must
/// be the longer.
fn check_request_timeout(request_timeout: Duration, noojee: &leadline_http::noojee::Limits) -> anyhow::Result<()> {
    let longest_wait = noojee.insert_wait.max(noojee.update_wait);
    if request_timeout <= longest_wait {
        anyhow::bail!(
            "request_timeout_seconds ({}) must exceed the longest Noojee wait ({} s), which a request spends inside it",
            request_timeout.as_secs(),
            longest_wait.as_secs()
        );
    }
    Ok(())
}

/// Logs go to stderr, so stdout carries only what a command prints for its user.
#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("leadline-config-{}-{name}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_flag_beats_the_file_and_the_file_beats_the_default() {
        let path = file(
            "precedence",
            "listen = \"0.0.0.0:9000\"\ndatabase_url = \"sqlite://from-file.db\"\nnoojee_concurrency = 8\n",
        );
        let args =
            ConfigArgs { config: Some(path.clone()), listen: Some("127.0.0.1:1".into()), ..ConfigArgs::default() };
        let config = Config::load(&args).unwrap();
        assert_eq!(config.listen, "127.0.0.1:1", "the flag (or its LEADLINE_ variable) wins");
        assert_eq!(config.database_url, "sqlite://from-file.db", "the file beats the default");
        assert_eq!(config.log, "info", "the default when nothing sets it");
        assert_eq!(config.noojee.concurrency, 8);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn import_upload_limits_are_read_from_the_file_and_zero_is_refused() {
        let path = file("uploads", "import_max_uploads_per_key = 5\nimport_quota_bytes_per_key = 1000\n");
        let config = Config::load(&ConfigArgs { config: Some(path.clone()), ..ConfigArgs::default() }).unwrap();
        std::fs::remove_file(path).unwrap();
        assert_eq!(config.upload_limits, UploadLimits { uploads_per_key: 5, bytes_per_key: 1000 });
        assert_eq!(Config::load(&ConfigArgs::default()).unwrap().upload_limits, UploadLimits::default());
        for key in ["import_max_uploads_per_key", "import_quota_bytes_per_key"] {
            let path = file(key, &format!("{key} = 0\n"));
            let error = Config::load(&ConfigArgs { config: Some(path.clone()), ..ConfigArgs::default() }).unwrap_err();
            std::fs::remove_file(path).unwrap();
            assert_eq!(format!("{error:#}"), format!("{key} must be at least 1"));
        }
    }

    #[test]
    fn the_vicidial_section_sets_office_hours_the_limit_and_the_database() {
        let path = file(
            "vicidial",
            "[vicidial]\nmax_lead_ids = 200\ntimezone = \"Australia/Sydney\"\nholidays = [\"2026-12-25\"]\n\
             office_hours = [{day = \"mon\", start = \"08:00\", end = \"18:00\"}]\n\
             database_url = \"mysql://root@127.0.0.1:3306/asterisk\"\n",
        );
        let config = Config::load(&ConfigArgs { config: Some(path.clone()), ..ConfigArgs::default() }).unwrap();
        std::fs::remove_file(path).unwrap();
        assert_eq!(config.vicidial.max_lead_ids, 200);
        let hours = config.vicidial.office_hours.as_ref().unwrap();
        assert!(hours.contains("2026-11-22T23:00:00Z".parse().unwrap()), "Monday 10:00 in Sydney");
        assert!(matches!(config.vicidial.target, Target::Vicidial(_)));
        let defaults = Config::load(&ConfigArgs::default()).unwrap();
        assert_eq!(defaults.vicidial.max_lead_ids, 500);
        assert!(defaults.vicidial.office_hours.is_none());
        for (name, text, expected) in [
            ("nozone", "[vicidial]\noffice_hours = []\n", "need a timezone"),
            ("zero", "[vicidial]\nmax_lead_ids = 0\n", "at least 1"),
            ("pg", "[vicidial]\ndatabase_url = \"postgres://x@y/z\"\n", "not a mysql://"),
            ("holiday", "[vicidial]\ntimezone = \"UTC\"\nholidays = [\"soon\"]\n", "holidays[0]"),
        ] {
            let path = file(name, text);
            let error = Config::load(&ConfigArgs { config: Some(path.clone()), ..ConfigArgs::default() }).unwrap_err();
            std::fs::remove_file(path).unwrap();
            assert!(format!("{error:#}").contains(expected), "{name}: {error:#}");
        }
    }

    #[test]
    fn the_edge_limits_are_read_from_the_file_and_checked() {
        let path = file(
            "edge",
            "header_read_timeout_seconds = 5\nrequest_timeout_seconds = 700\nbody_idle_timeout_seconds = 7\n\
             max_connections = 300\nshutdown_grace_seconds = 4\n",
        );
        let config = Config::load(&ConfigArgs { config: Some(path.clone()), ..ConfigArgs::default() }).unwrap();
        std::fs::remove_file(path).unwrap();
        assert_eq!(config.serve.header_read_timeout, Duration::from_secs(5));
        assert_eq!(config.serve.max_connections, 300);
        assert_eq!(config.serve.shutdown_grace, Duration::from_secs(4));
        let http = config.http();
        assert_eq!((http.request_timeout, http.body_idle_timeout), (Duration::from_secs(700), Duration::from_secs(7)));
        let defaults = Config::load(&ConfigArgs::default()).unwrap();
        assert_eq!(defaults.serve.header_read_timeout, Duration::from_secs(10));
        assert_eq!(defaults.request_timeout, Duration::from_secs(900));
        for (name, text, expected) in [
            ("zero", "header_read_timeout_seconds = 0\n", "header_read_timeout_seconds must be at least 1"),
            ("noconn", "max_connections = 0\n", "max_connections must be at least 1"),
            ("short", "request_timeout_seconds = 600\n", "must exceed the longest Noojee wait (600 s)"),
            (
                "wait",
                "request_timeout_seconds = 100\nnoojee_insert_wait_seconds = 30\nnoojee_update_wait_seconds = 120\n",
                "(120 s)",
            ),
        ] {
            let path = file(name, text);
            let error = Config::load(&ConfigArgs { config: Some(path.clone()), ..ConfigArgs::default() }).unwrap_err();
            std::fs::remove_file(path).unwrap();
            assert!(format!("{error:#}").contains(expected), "{name}: {error:#}");
        }
    }

    #[test]
    fn rate_limits_are_read_per_group_over_the_defaults() {
        let path = file(
            "rates",
            "[rate_limits.native]\nper_key_per_minute = 600\n[rate_limits.cake]\nper_address_per_minute = 0\n",
        );
        let config = Config::load(&ConfigArgs { config: Some(path.clone()), ..ConfigArgs::default() }).unwrap();
        std::fs::remove_file(path).unwrap();
        let defaults = GroupLimits::default();
        let limits = &config.http().rate_limits;
        assert_eq!(limits.native, GroupLimits { per_key_per_minute: 600, ..defaults });
        assert_eq!(limits.cake, GroupLimits { per_address_per_minute: 0, ..defaults });
        assert_eq!((limits.noojee, limits.ivvy), (defaults, defaults));
        let path = file("rates-typo", "[rate_limits.native]\nper_minute = 5\n");
        assert!(Config::load(&ConfigArgs { config: Some(path.clone()), ..ConfigArgs::default() }).is_err());
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_bad_file_or_a_missing_named_file_is_an_error_naming_it() {
        let path = file("bad", "listen = 80\n");
        let error = Config::load(&ConfigArgs { config: Some(path.clone()), ..ConfigArgs::default() }).unwrap_err();
        assert!(format!("{error:#}").contains("not a valid configuration file"), "{error:#}");
        std::fs::remove_file(path).unwrap();
        let typo = file("typo", "lisen = \"x\"\n");
        assert!(
            Config::load(&ConfigArgs { config: Some(typo.clone()), ..ConfigArgs::default() }).is_err(),
            "unknown keys are refused"
        );
        std::fs::remove_file(typo).unwrap();
        let missing = ConfigArgs { config: Some(PathBuf::from("/nonexistent/leadline.toml")), ..ConfigArgs::default() };
        assert!(format!("{:#}", Config::load(&missing).unwrap_err()).contains("/nonexistent/leadline.toml"));
    }
}
