//! /readyz tells the outside whether the store answers, never why not: the cause, which may
//! name hosts, databases or users, goes to the log. PostgreSQL only: its database can be taken
//! away from a running server (an open SQLite file cannot).

use scimledger_e2e::{Backend, Server};
use tokio_postgres::NoTls;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_shows_no_internal_error_text() {
    let backend = Backend::postgres().await;
    let Backend::Postgres { url, .. } = &backend else { unreachable!("a PostgreSQL backend") };
    let database = url.rsplit('/').next().expect("a database name").to_owned();
    let server = Server::start(&backend).await;
    let readyz = format!("{}/readyz", server.base);
    let ready = reqwest::get(&readyz).await.expect("the server answers");
    assert_eq!(ready.status().as_u16(), 200);

    let admin = std::env::var("SCIMLEDGER_TEST_DATABASE_URL").expect("SCIMLEDGER_TEST_DATABASE_URL (make test sets it)");
    let (client, connection) = tokio_postgres::connect(&admin, NoTls).await.expect("connecting to the test server");
    tokio::spawn(connection);
    client.batch_execute(&format!("DROP DATABASE {database} WITH (FORCE)")).await.expect("dropping the server's database");

    let not_ready = reqwest::get(&readyz).await.expect("the server answers");
    assert_eq!(not_ready.status().as_u16(), 503);
    let text = not_ready.text().await.expect("a body");
    assert_eq!(text, "not ready: the store does not answer");
    server.wait_for_log("readiness: the store does not answer", std::time::Duration::from_secs(10)).await;
}
