//! `[store]`: where call records are kept (issue 16, decision 0025).
//!
//! SQLite under `data_dir` by default; PostgreSQL when the variable
//! `database_url_env` names (default `DATABASE_URL`) holds a
//! `postgres://` URL. The URL is read from the environment only: it
//! usually carries a password.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The variable read for a PostgreSQL URL unless `database_url_env` says
/// otherwise.
pub const DATABASE_URL_VAR: &str = "DATABASE_URL";

/// `[store]`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Keep call records at all.
    pub enabled: bool,
    /// The directory of the SQLite file (`warmline.db`) and of the spool
    /// (`spool.jsonl`), which holds records while the database is down.
    /// A relative path is relative to the working directory (like
    /// Prometheus' storage path), not to the config file.
    pub data_dir: PathBuf,
    /// The variable holding a `postgres://` URL; set and non-empty, the
    /// records go to PostgreSQL instead of SQLite.
    pub database_url_env: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            enabled: true,
            data_dir: PathBuf::from("./data"),
            database_url_env: DATABASE_URL_VAR.to_owned(),
        }
    }
}

/// Which database the records go to.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreTarget {
    /// The embedded default: this SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server (the URL may hold a password: never printed).
    Postgres(String),
}

impl std::fmt::Debug for StoreTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreTarget::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            StoreTarget::Postgres(_) => f.write_str("postgres (URL from the environment)"),
        }
    }
}

impl StoreConfig {
    /// The SQLite file under `data_dir`.
    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("warmline.db")
    }

    /// The spool file under `data_dir`.
    pub fn spool_path(&self) -> PathBuf {
        self.data_dir.join("spool.jsonl")
    }

    /// The database to use, reading `database_url_env` through `env`.
    pub fn target(&self, env: &dyn Fn(&str) -> Option<String>) -> StoreTarget {
        match env(&self.database_url_env).filter(|v| !v.is_empty()) {
            Some(url) => StoreTarget::Postgres(url),
            None => StoreTarget::Sqlite(self.sqlite_path()),
        }
    }

    /// Checks the section; `env` reads a variable.
    pub fn validate(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
        if self.database_url_env.is_empty() {
            return Err("store.database_url_env must name a variable".into());
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err("store.data_dir must not be empty (use \".\" for here)".into());
        }
        if let StoreTarget::Postgres(url) = self.target(env) {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(format!(
                    "{} must be a postgres:// URL (unset it to use SQLite under store.data_dir)",
                    self.database_url_env
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_url_variable_switches_to_postgres_and_is_never_printed() {
        let config = StoreConfig::default();
        let none = |_: &str| None;
        assert_eq!(
            config.target(&none),
            StoreTarget::Sqlite(PathBuf::from("./data/warmline.db"))
        );
        let pg = |k: &str| (k == "DATABASE_URL").then(|| "postgres://u:pw@h/db".to_owned());
        let target = config.target(&pg);
        assert!(matches!(target, StoreTarget::Postgres(_)));
        assert!(!format!("{target:?}").contains("pw"));
        assert!(config.validate(&pg).is_ok());
        let wrong = |_: &str| Some("mysql://x".to_owned());
        let e = config.validate(&wrong).expect_err("only postgres");
        assert!(e.contains("DATABASE_URL"), "{e}");
    }
}
