//! Database URLs: the one place the password of `SCIMLEDGER_DATABASE_URL` lives, kept out of
//! every Debug and Display.

use serde::Deserialize;

/// A database URL whose password is shown as `***` in Debug and Display: settings and
/// backends are logged and printed whole, the password must never be.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: String) -> Self {
        Self(url)
    }

    /// The URL with its password, for connecting and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut url) if url.password().is_some() => match url.set_password(Some("***")) {
                Ok(()) => url.into(),
                Err(()) => "<database URL>".to_owned(),
            },
            Ok(url) => url.into(),
            // Not a URL (a key=value connection string?): it may hold a password anywhere.
            Err(_) => "<database URL>".to_owned(),
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({:?})", self.redacted())
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_shows_as_stars_and_a_connection_string_not_at_all() {
        let url = DatabaseUrl::new("postgresql://app:hunter2@db:5432/scim".to_owned());
        assert_eq!(format!("{url:?}"), "DatabaseUrl(\"postgresql://app:***@db:5432/scim\")");
        assert_eq!(url.to_string(), "postgresql://app:***@db:5432/scim");
        assert_eq!(url.expose(), "postgresql://app:hunter2@db:5432/scim");
        let keywords = DatabaseUrl::new("host=db password=hunter2".to_owned());
        assert!(!format!("{keywords:?} {keywords}").contains("hunter2"));
        let backend = crate::Backend::Postgres { url, pool_size: 4 };
        assert!(!format!("{backend:?}").contains("hunter2"), "{backend:?}");
    }
}
