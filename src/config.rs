//! Typed settings, layered: the compiled-in `config/default.toml` < the `--config` file <
//! `PALABRE_<SECTION>__<KEY>` environment variables.
use std::path::Path;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;
use url::Url;

const DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub instance: InstanceSettings,
    pub security: SecuritySettings,
    pub log: LogSettings,
    pub federation: FederationSettings,
    pub limits: LimitSettings,
}

/// Rate limits (`src/ratelimit.rs`): per client IP, or per remote server for the inboxes.
#[derive(Debug, Clone, Deserialize)]
pub struct LimitSettings {
    pub signup: Limit,
    pub login: Limit,
    pub posting: Limit,
    pub inbox: Limit,
}

/// At most `requests` per window of `seconds`; `requests = 0` means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Limit {
    pub requests: u32,
    pub seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FederationSettings {
    pub allow_local: bool,
    pub trusted_nodes: Vec<String>,
    /// Fractions allowed, so that tests can compress hours of retries into seconds.
    pub retry_base_seconds: f64,
    pub max_attempts: i32,
    pub delivery_lease_seconds: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub bind: String,
    pub public_url: Url,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InstanceSettings {
    pub name: String,
    pub description: String,
    pub open_registrations: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SecuritySettings {
    pub session_days: i64,
    pub token_days: i64,
    /// Failed password logins in a row that lock an account (0: never).
    pub login_max_failures: u32,
    /// How long a locked account refuses password logins.
    pub login_lockout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: String,
    pub level: String,
}

impl Settings {
    /// Loads the layered settings. `file` is the `--config` file, if any; it must exist.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::new().merge(Toml::string(DEFAULTS));
        if let Some(path) = file {
            if !path.is_file() {
                anyhow::bail!("configuration file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file(path));
        }
        let settings: Settings = figment
            .merge(Env::prefixed("PALABRE_").split("__"))
            .extract()
            .context("invalid configuration")?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> anyhow::Result<()> {
        let url = &self.server.public_url;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            anyhow::bail!("server.public_url must be an http(s) origin, got {url}");
        }
        if url.path() != "/" || url.query().is_some() {
            anyhow::bail!("server.public_url must be an origin without a path, got {url}");
        }
        crate::ratelimit::parse_ranges(&self.server.trusted_proxies)?;
        let limits = &self.limits;
        for (name, limit) in [
            ("signup", limits.signup),
            ("login", limits.login),
            ("posting", limits.posting),
            ("inbox", limits.inbox),
        ] {
            if limit.requests > 0 && limit.seconds == 0 {
                anyhow::bail!("limits.{name}.seconds must be at least 1");
            }
        }
        Ok(())
    }

    /// The public origin without its trailing slash, to build links with `format!`.
    pub fn origin(&self) -> String {
        self.server
            .public_url
            .as_str()
            .trim_end_matches('/')
            .to_owned()
    }

    /// The federation domain: the public URL's host, with its port when it has one.
    pub fn domain(&self) -> String {
        let url = &self.server.public_url;
        let host = url.host_str().unwrap_or_default();
        match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }

    /// Cookies get the `Secure` flag whenever the node is served over https.
    pub fn secure_cookies(&self) -> bool {
        self.server.public_url.scheme() == "https"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_file_overrides_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, "[instance]\nname = \"Ville de Brest\"\n").unwrap();
        let settings = Settings::load(Some(&path)).unwrap();
        assert_eq!(settings.instance.name, "Ville de Brest");
        assert_eq!(settings.server.bind, "127.0.0.1:8080");
        assert!(Settings::load(Some(&dir.path().join("missing.toml"))).is_err());
    }

    #[test]
    fn limits_and_trusted_proxies_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        let load = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Settings::load(Some(&path))
        };
        let settings = load("[limits]\nlogin = { requests = 3, seconds = 1 }\n").unwrap();
        assert_eq!(
            settings.limits.login,
            Limit {
                requests: 3,
                seconds: 1
            }
        );
        assert_eq!(settings.limits.signup.seconds, 3600);
        assert!(load("[limits]\nlogin = { requests = 3, seconds = 0 }\n").is_err());
        assert!(load("[limits]\nlogin = { requests = 0, seconds = 0 }\n").is_ok());
        assert!(load("[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n").is_ok());
        assert!(load("[server]\ntrusted_proxies = [\"proxy.local\"]\n").is_err());
    }
}
