//! Test support for the VICIdial connector (feature `testing`): a fresh MariaDB/MySQL database
//! per test, holding the VICIdial tables of `leadline-store/fixtures/vicidial.sql`, on the server
//! named by `LEADLINE_TEST_MYSQL_URL` (for example `mysql://root@127.0.0.1:3306/test`).

use leadline_store::vicidial::VicidialDb;

use crate::testing::random_hex;

pub const MYSQL_URL_VAR: &str = "LEADLINE_TEST_MYSQL_URL";

/// The VICIdial tables: 35 columns of `vicidial_list` plus a custom one, MyISAM, and the archive.
pub const FIXTURE: &str = include_str!("../../leadline-store/fixtures/vicidial.sql");

/// A fresh database with the VICIdial tables.
pub struct VicidialTestDb {
    pub db: VicidialDb,
    pub url: String,
    pub name: String,
    server: VicidialDb,
}

/// The statements of a SQL script without its comments.
pub fn statements(script: &str) -> Vec<String> {
    let text: String = script.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
    text.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

impl VicidialTestDb {
    /// None when no MySQL server is configured for tests.
    pub async fn fresh() -> Option<VicidialTestDb> {
        let base = std::env::var(MYSQL_URL_VAR).ok().map(|u| u.trim().to_string()).filter(|u| !u.is_empty())?;
        let server = VicidialDb::connect_lazy(&base, 1).expect("the MySQL test URL parses");
        let name = format!("ll_{}", random_hex(6));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(server.pool())
            .await
            .unwrap_or_else(|e| panic!("{MYSQL_URL_VAR}={base}: creating a database failed: {e}"));
        let (without_query, query) = match base.split_once('?') {
            Some((url, query)) => (url.to_string(), format!("?{query}")),
            None => (base.clone(), String::new()),
        };
        let root = match without_query.rfind('/') {
            Some(at) if at > "mysql://".len() => without_query[..at].to_string(),
            _ => without_query.clone(),
        };
        let url = format!("{root}/{name}{query}");
        let db = VicidialDb::connect_lazy(&url, 4).expect("the test database URL parses");
        for statement in statements(FIXTURE) {
            sqlx::query(&statement).execute(db.pool()).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        Some(VicidialTestDb { db, url, name, server })
    }

    pub async fn remove(self) {
        self.db.pool().close().await;
        let _ = sqlx::query(&format!("DROP DATABASE {}", self.name)).execute(self.server.pool()).await;
        self.server.pool().close().await;
    }
}
