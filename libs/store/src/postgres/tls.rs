//! TLS to PostgreSQL with rustls, as the database URL's `sslmode` asks (ADR 0047).
//!
//! tokio-postgres reads `disable`, `prefer` and `require` only; the verifying modes and the
//! root certificate are read here and taken out of the URL before it parses the rest:
//! - absent, `disable`, `allow`, `prefer`: plaintext, as before;
//! - `require`: encrypted, the server's certificate not checked (libpq's meaning);
//! - `verify-full`: encrypted, the certificate checked against `sslrootcert` (a PEM file) or
//!   the system's roots, and the host name against it;
//! - `verify-ca` is refused: checking the chain but not the name is rarely what is meant.
//!
//! A server that does not offer TLS fails at once with tokio-postgres's "server does not
//! support TLS"; a server that does not answer fails after the connect timeout (10 s unless
//! the URL sets `connect_timeout`), never hangs.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig};
use futures::StreamExt;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use tokio_postgres::config::SslMode;
use tokio_postgres::{AsyncMessage, CancelToken, Client, Config, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::api::{StoreError, StoreResult};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How connections are made: plaintext or rustls.
#[derive(Clone)]
pub enum Tls {
    Plain,
    Rustls(MakeRustlsConnect),
}

/// The mode a URL asks for, read before tokio-postgres sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Plain,
    Require,
    VerifyFull { root_cert: Option<String> },
}

fn bad(detail: impl std::fmt::Display) -> StoreError {
    StoreError::Config(format!("bad database URL: {detail}"))
}

/// Splits `url` into what tokio-postgres parses and the TLS mode.
pub fn read_url(url: &str) -> StoreResult<(Config, Mode)> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut kept = Vec::new();
    let (mut sslmode, mut root_cert) = (None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", v)) => sslmode = Some(v.to_owned()),
            Some(("sslrootcert", v)) => root_cert = Some(v.to_owned()),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    let mut config: Config = url.parse().map_err(bad)?;
    let mode = match sslmode.as_deref() {
        None | Some("disable" | "allow" | "prefer") => Mode::Plain,
        Some("require") => Mode::Require,
        Some("verify-full") => Mode::VerifyFull { root_cert },
        Some("verify-ca") => return Err(bad("sslmode=verify-ca is not supported: use verify-full (checks the host name too)")),
        Some(other) => return Err(bad(format!("unknown sslmode '{other}'"))),
    };
    config.ssl_mode(if mode == Mode::Plain { SslMode::Disable } else { SslMode::Require });
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    Ok((config, mode))
}

impl Tls {
    pub fn for_mode(mode: &Mode) -> StoreResult<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Config(format!("TLS set-up: {e}")))?;
        let config = match mode {
            Mode::Plain => return Ok(Tls::Plain),
            Mode::Require => builder.dangerous().with_custom_certificate_verifier(Arc::new(EncryptOnly(provider))).with_no_client_auth(),
            Mode::VerifyFull { root_cert } => builder.with_root_certificates(roots(root_cert.as_deref())?).with_no_client_auth(),
        };
        Ok(Tls::Rustls(MakeRustlsConnect::new(config)))
    }

    /// A pool manager that connects this way.
    pub fn manager(&self, config: Config, manager: ManagerConfig) -> Manager {
        match self {
            Tls::Plain => Manager::from_config(config, NoTls, manager),
            Tls::Rustls(tls) => Manager::from_config(config, tls.clone(), manager),
        }
    }

    /// A session of its own, its connection driven by a task.
    pub async fn connect(&self, config: &Config) -> Result<(Client, JoinHandle<()>), tokio_postgres::Error> {
        Ok(match self {
            Tls::Plain => {
                let (client, connection) = config.connect(NoTls).await?;
                (client, tokio::spawn(async move { drop(connection.await) }))
            }
            Tls::Rustls(tls) => {
                let (client, connection) = config.connect(tls.clone()).await?;
                (client, tokio::spawn(async move { drop(connection.await) }))
            }
        })
    }

    /// A session of its own whose notifications (LISTEN) each send `()` to `notes`; its driver
    /// ends with the connection's error, or when `notes` is closed.
    pub async fn connect_notified(
        &self,
        config: &Config,
        notes: UnboundedSender<()>,
    ) -> Result<(Client, JoinHandle<Result<(), tokio_postgres::Error>>), tokio_postgres::Error> {
        Ok(match self {
            Tls::Plain => {
                let (client, connection) = config.connect(NoTls).await?;
                (client, tokio::spawn(forward_notifications(connection, notes)))
            }
            Tls::Rustls(tls) => {
                let (client, connection) = config.connect(tls.clone()).await?;
                (client, tokio::spawn(forward_notifications(connection, notes)))
            }
        })
    }

    /// Asks the server to cancel what `token`'s session runs.
    pub async fn cancel(&self, token: CancelToken) -> Result<(), tokio_postgres::Error> {
        match self {
            Tls::Plain => token.cancel_query(NoTls).await,
            Tls::Rustls(tls) => token.cancel_query(tls.clone()).await,
        }
    }
}

async fn forward_notifications<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    notes: UnboundedSender<()>,
) -> Result<(), tokio_postgres::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(message) = messages.next().await {
        match message {
            Ok(AsyncMessage::Notification(_)) if notes.send(()).is_err() => break,
            Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn roots(root_cert: Option<&str>) -> StoreResult<RootCertStore> {
    let mut roots = RootCertStore::empty();
    match root_cert {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| bad(format!("sslrootcert {path}: {e}")))?;
            for cert in certs {
                roots
                    .add(cert.map_err(|e| bad(format!("sslrootcert {path}: {e}")))?)
                    .map_err(|e| bad(format!("sslrootcert {path}: {e}")))?;
            }
        }
        None => {
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    if roots.is_empty() {
        return Err(bad("sslmode=verify-full found no root certificate to verify the server with: give sslrootcert=<PEM file>"));
    }
    Ok(roots)
}

/// `sslmode=require`: the connection is encrypted and the handshake's signatures checked, but
/// any certificate is taken, as libpq does in that mode.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_says_whether_and_how_tls_is_used() {
        let (config, mode) = read_url("postgres://app@db.example.com:5432/scim?sslmode=require&application_name=x").unwrap();
        assert_eq!(mode, Mode::Require);
        assert_eq!(config.get_ssl_mode(), SslMode::Require);
        assert_eq!(config.get_application_name(), Some("x"));
        assert_eq!(config.get_dbname(), Some("scim"));
        let (config, mode) = read_url("postgres://app@db/scim?sslmode=verify-full&sslrootcert=/etc/ca.pem").unwrap();
        assert_eq!(mode, Mode::VerifyFull { root_cert: Some("/etc/ca.pem".into()) });
        assert_eq!(config.get_ssl_mode(), SslMode::Require);
        for plain in ["postgres://app@db/scim", "postgres://app@db/scim?sslmode=disable", "postgres://app@db/scim?sslmode=prefer"] {
            let (config, mode) = read_url(plain).unwrap();
            assert_eq!((mode, config.get_ssl_mode()), (Mode::Plain, SslMode::Disable), "{plain}");
        }
    }

    #[test]
    fn connections_never_wait_for_ever() {
        let (config, _) = read_url("postgres://app@db/scim?sslmode=require").unwrap();
        assert_eq!(config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        let (config, _) = read_url("postgres://app@db/scim?connect_timeout=3").unwrap();
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(3)));
    }

    #[test]
    fn unsupported_modes_and_missing_roots_are_named() {
        for (url, says) in
            [("postgres://app@db/scim?sslmode=verify-ca", "verify-ca"), ("postgres://app@db/scim?sslmode=on", "unknown sslmode 'on'")]
        {
            let Err(StoreError::Config(detail)) = read_url(url) else { panic!("{url} accepted") };
            assert!(detail.contains(says), "{detail}");
        }
        let Err(StoreError::Config(detail)) = Tls::for_mode(&Mode::VerifyFull { root_cert: Some("/nonexistent/ca.pem".into()) }) else {
            panic!("a missing root certificate file accepted")
        };
        assert!(detail.contains("/nonexistent/ca.pem"), "{detail}");
    }
}
