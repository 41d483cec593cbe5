//! TLS to PostgreSQL with rustls (ADR 0048), against the test server, which offers TLS with a
//! self-signed certificate for `localhost` (the machine's PostgreSQL does; the throwaway one of
//! scripts/with-test-services.sh is started so).

use store::postgres::PgStore;
use store::Store;
use tokio_postgres::NoTls;

async fn admin() -> tokio_postgres::Client {
    let url = std::env::var("SCIMLEDGER_TEST_DATABASE_URL")
        .expect("SCIMLEDGER_TEST_DATABASE_URL is not set: run under scripts/with-test-services.sh");
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.expect("an admin connection");
    tokio::spawn(connection);
    client
}

/// Whether every session of `database` is encrypted, and how many there are.
async fn encrypted_sessions(admin: &tokio_postgres::Client, database: &str) -> (bool, i64) {
    let row = admin
        .query_one(
            "SELECT coalesce(bool_and(s.ssl), false), count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.datname = $1",
            &[&database],
        )
        .await
        .expect("reading pg_stat_ssl");
    (row.get(0), row.get(1))
}

fn database_of(url: &str) -> String {
    url.rsplit('/').next().expect("a database name").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_encrypts_every_session() {
    let url = store::testing::fresh_postgres_url().await;
    let store = PgStore::connect(&format!("{url}?sslmode=require"), 2).await.expect("connecting with sslmode=require");
    let tenant = domain::TenantSlug::parse("acme").unwrap();
    let metadata = store::EventMetadata::by(store::Actor::Operator("test".into()));
    store::directory::create_tenant(&store, &tenant, None, metadata).await.unwrap();
    assert_eq!(store.tenants().await.unwrap().len(), 1);
    let (all, count) = encrypted_sessions(&admin().await, &database_of(&url)).await;
    assert!(all && count >= 1, "{count} sessions, all encrypted: {all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_verify_full_checks_the_certificate_and_the_host_name() {
    let admin = admin().await;
    let certificate: String = admin.query_one("SHOW ssl_cert_file", &[]).await.unwrap().get(0);
    let url = store::testing::fresh_postgres_url().await;
    // The test server's certificate names localhost, and is its own root.
    let by_name = url.replacen("@127.0.0.1:", "@localhost:", 1);
    let store = PgStore::connect(&format!("{by_name}?sslmode=verify-full&sslrootcert={certificate}"), 2).await.expect("verify-full");
    store.ping().await.unwrap();
    assert!(encrypted_sessions(&admin, &database_of(&url)).await.0);

    // By address, the name does not match the certificate: refused, and said why.
    let Err(error) = PgStore::connect(&format!("{url}?sslmode=verify-full&sslrootcert={certificate}"), 1).await else {
        panic!("a certificate for another name was accepted")
    };
    assert!(error.to_string().to_lowercase().contains("certificate"), "{error}");
}

/// A throwaway PostgreSQL that offers no TLS, from the binaries scripts/with-test-services.sh
/// names (`SCIMLEDGER_TEST_POSTGRES_BIN_DIR`); stopped when dropped.
struct PlaintextServer {
    bin: std::path::PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// PostgreSQL refuses to run as root: then its commands run as the `postgres` user.
    as_postgres: bool,
}

impl PlaintextServer {
    fn command(&self, program: &str) -> std::process::Command {
        let program = self.bin.join(program);
        if self.as_postgres {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            std::process::Command::new(program)
        }
    }

    fn start() -> Self {
        let bin = std::env::var("SCIMLEDGER_TEST_POSTGRES_BIN_DIR")
            .expect("SCIMLEDGER_TEST_POSTGRES_BIN_DIR is not set: run under scripts/with-test-services.sh");
        let uid = std::process::Command::new("id").arg("-u").output().expect("running id");
        let as_postgres = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let server = Self { bin: bin.into(), dir: tempfile::tempdir().unwrap(), port, as_postgres };
        if as_postgres {
            let chown = std::process::Command::new("chown").arg("postgres").arg(server.dir.path()).status().unwrap();
            assert!(chown.success(), "chown postgres {}", server.dir.path().display());
        }
        let data = server.dir.path().join("data");
        let initdb = server.command("initdb").arg("-D").arg(&data).args(["-A", "trust", "-U", "postgres"]).output().expect("initdb");
        assert!(initdb.status.success(), "initdb: {}", String::from_utf8_lossy(&initdb.stderr));
        let started = server
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-w", "-t", "60", "-l"])
            .arg(server.dir.path().join("log"))
            .arg("-o")
            .arg(format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c ssl=off", server.dir.path().display()))
            .arg("start")
            .output()
            .expect("pg_ctl start");
        assert!(started.status.success(), "pg_ctl start: {}", String::from_utf8_lossy(&started.stderr));
        server
    }
}

impl Drop for PlaintextServer {
    fn drop(&mut self) {
        let _ = self.command("pg_ctl").arg("-D").arg(self.dir.path().join("data")).args(["-m", "immediate", "stop"]).output();
    }
}

/// A server without TLS answers sslmode=require at once, and says why; it never hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_tls_is_named_when_tls_is_required() {
    let server = PlaintextServer::start();
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port);
    PgStore::connect(&url, 1).await.expect("the server answers in plaintext");
    let Err(error) = PgStore::connect(&format!("{url}?sslmode=require"), 1).await else {
        panic!("a plaintext connection passed for sslmode=require")
    };
    assert!(error.to_string().contains("server does not support TLS"), "{error}");
}
