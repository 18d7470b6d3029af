//! Where a study's trials live: a SQLite file (the embedded default) or a PostgreSQL
//! database named by a `postgres://` URL. Messages name the file, or the URL with its
//! password hidden.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::any::AnyConnectOptions;
use sqlx::postgres::PgConnectOptions;

use crate::Error;

/// The trials database a coordinator writes and the query commands read.
#[derive(Debug, Clone)]
pub enum Location {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres(Box<PostgresUrl>),
}

/// A parsed `postgres://` URL; it displays (and debug-prints) with its password hidden.
#[derive(Clone)]
pub struct PostgresUrl {
    raw: String,
    redacted: String,
    options: PgConnectOptions,
}

impl PostgresUrl {
    /// The connection options the URL gives.
    pub fn options(&self) -> &PgConnectOptions {
        &self.options
    }

    /// The same URL for sqlx's `Any` driver.
    pub(crate) fn any_options(&self) -> Result<AnyConnectOptions, sqlx::Error> {
        AnyConnectOptions::from_str(&self.raw)
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PostgresUrl").field(&self.redacted).finish()
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

/// `text` with the password of its `user:password@` part replaced by `***`.
pub fn redact(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return text.to_string();
    };
    let user = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => userinfo.to_string(),
    };
    // A password given as a query parameter is hidden too.
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => pair.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{user}@{host}{tail}")
}

impl Location {
    /// A `--db` value or `[study] storage`: a `postgres://` or `postgresql://` URL, else a
    /// file path.
    ///
    /// # Errors
    /// [`Error::BadDatabaseUrl`] when a PostgreSQL URL does not parse.
    pub fn parse(text: &str) -> Result<Location, Error> {
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            let redacted = redact(text);
            let options =
                PgConnectOptions::from_str(text).map_err(|err| Error::BadDatabaseUrl {
                    url: redacted.clone(),
                    problem: redact(&err.to_string()),
                })?;
            Ok(Location::Postgres(Box::new(PostgresUrl {
                raw: text.to_string(),
                redacted,
                options,
            })))
        } else {
            Ok(Location::Sqlite(PathBuf::from(text)))
        }
    }

    /// The SQLite file, if it is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Location::Sqlite(path) => Some(path),
            Location::Postgres(_) => None,
        }
    }
}

impl From<&Path> for Location {
    fn from(path: &Path) -> Self {
        Location::Sqlite(path.to_path_buf())
    }
}

impl From<&PathBuf> for Location {
    fn from(path: &PathBuf) -> Self {
        Location::Sqlite(path.clone())
    }
}

impl From<PathBuf> for Location {
    fn from(path: PathBuf) -> Self {
        Location::Sqlite(path)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => url.fmt(f),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact("postgres://ann:s3cret@db.example:5432/runs"),
            "postgres://ann:***@db.example:5432/runs"
        );
        assert_eq!(
            redact("postgresql://ann@db/runs?password=s3cret&sslmode=require"),
            "postgresql://ann@db/runs?password=***&sslmode=require"
        );
        assert_eq!(redact("postgres://db/runs"), "postgres://db/runs");
        let url = Location::parse("postgres://ann:s3cret@localhost:5432/runs").unwrap();
        assert!(matches!(url, Location::Postgres(_)));
        assert!(!url.to_string().contains("s3cret"));
    }

    #[test]
    fn paths_and_urls_are_told_apart() {
        assert!(matches!(
            Location::parse("runs/trials.db").unwrap(),
            Location::Sqlite(_)
        ));
        assert!(matches!(
            Location::parse("POSTGRES://localhost/x").unwrap(),
            Location::Postgres(_)
        ));
        let err = Location::parse("postgres://ann:s3cret@localhost:notaport/x")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("postgres://ann:***@localhost:notaport/x"),
            "{err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
    }
}
