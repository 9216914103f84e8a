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
}

#[derive(Debug, Clone, Deserialize)]
pub struct FederationSettings {
    pub allow_local: bool,
    pub trusted_nodes: Vec<String>,
    pub retry_base_seconds: u64,
    pub max_attempts: i32,
    pub delivery_lease_seconds: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub bind: String,
    pub public_url: Url,
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
}
