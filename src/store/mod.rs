//! sea-orm entities (one per table) and the connection set-up shared by SQLite and PostgreSQL.
pub mod account;
pub mod account_follow;
pub mod argument;
pub mod audit_log;
pub mod backfill;
pub mod comment;
pub mod consultation;
pub mod counter;
pub mod delivery;
pub mod follow;
pub mod handle;
pub mod instance_actor;
pub mod instance_policy;
pub mod late_refusal;
pub mod node_setting;
pub mod proposal;
pub mod received_activity;
pub mod report;
pub mod session;
pub mod share;
pub mod signature_scheme;
pub mod source;
pub mod vote;

use std::time::Duration;

use anyhow::Context;
use palabre_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

use crate::config::DatabaseSettings;

/// Opens the pool. For SQLite: creates the file's folder, turns on WAL, foreign keys and a busy
/// timeout on every connection, so that concurrent writers wait instead of failing.
pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<DatabaseConnection> {
    if let Some(path) = sqlite_path(&settings.url)
        && let Some(dir) = std::path::Path::new(&path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the database folder {}", dir.display()))?;
    }
    let mut options = ConnectOptions::new(settings.url.clone());
    options
        .max_connections(settings.max_connections)
        .connect_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
        });
    Database::connect(options)
        .await
        .with_context(|| format!("cannot connect to the database {}", redact(&settings.url)))
}

/// Begins a transaction that will write. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`), waiting for it up to the busy timeout: a deferred transaction that
/// reads first and writes later would instead fail at once with "database is locked" when
/// another writer got in between. PostgreSQL ignores the mode.
pub async fn begin_write(
    db: &DatabaseConnection,
) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .context("database migration failed")
}

/// Next number in a node-wide sequence (proposals and arguments share one, as in the seed
/// pages, where contribution #697 has arguments #896 and #3039). Runs inside the caller's
/// transaction so a number is never handed out twice nor lost on rollback.
pub async fn next_number(txn: &impl ConnectionTrait, name: &str) -> Result<i64, sea_orm::DbErr> {
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    // An UPDATE first takes the row lock on PostgreSQL (and the write lock on SQLite), so two
    // concurrent posters serialise here.
    use sea_orm::sea_query::ExprTrait;
    use sea_orm::{ColumnTrait, QueryFilter};
    let updated = counter::Entity::update_many()
        .col_expr(
            counter::Column::Value,
            sea_orm::sea_query::Expr::col(counter::Column::Value).add(1),
        )
        .filter(counter::Column::Name.eq(name))
        .exec(txn)
        .await?;
    if updated.rows_affected == 0 {
        counter::ActiveModel {
            name: Set(name.to_owned()),
            value: Set(1),
        }
        .insert(txn)
        .await?;
        return Ok(1);
    }
    let row = counter::Entity::find_by_id(name.to_owned())
        .one(txn)
        .await?
        .ok_or_else(|| sea_orm::DbErr::RecordNotFound(format!("counter {name}")))?;
    Ok(row.value)
}

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| path.to_owned())
}

/// The URL without its password, for error messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}
