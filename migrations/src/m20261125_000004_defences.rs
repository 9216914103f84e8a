//! Defences: login lockout, suspended accounts, per-server federation policy (blocked servers,
//! or the partner list of allow-list mode), node-wide settings, and the moderation audit log.
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000004_defences"
    }
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    FailedLogins,
    LockedUntil,
    SuspendedAt,
}

#[derive(DeriveIden)]
enum InstancePolicies {
    Table,
    Domain,
    Policy,
    Reason,
    CreatedAt,
}

#[derive(DeriveIden)]
enum NodeSettings {
    Table,
    Key,
    Value,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    ActorId,
    Action,
    Target,
    Detail,
    CreatedAt,
}

async fn add_column(m: &SchemaManager<'_>, column: ColumnDef) -> Result<(), DbErr> {
    m.alter_table(
        Table::alter()
            .table(Accounts::Table)
            .add_column(column)
            .take(),
    )
    .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per ALTER: SQLite adds a single column at a time.
        add_column(m, integer(Accounts::FailedLogins).default(0).take()).await?;
        add_column(m, timestamp_with_time_zone_null(Accounts::LockedUntil)).await?;
        // Suspended (local) or blocked (remote) accounts: nothing of theirs is shown or accepted.
        add_column(m, timestamp_with_time_zone_null(Accounts::SuspendedAt)).await?;

        // `block` (a server whose activities are dropped and content hidden) or `allow` (a
        // partner server, the only ones that federate in allow-list mode).
        m.create_table(
            Table::create()
                .table(InstancePolicies::Table)
                .col(string(InstancePolicies::Domain).primary_key())
                .col(string(InstancePolicies::Policy))
                .col(text_null(InstancePolicies::Reason))
                .col(timestamp_with_time_zone(InstancePolicies::CreatedAt))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(NodeSettings::Table)
                .col(string(NodeSettings::Key).primary_key())
                .col(text(NodeSettings::Value))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AuditLog::Table)
                .col(pk_auto(AuditLog::Id))
                // The moderator or admin who acted; null for the command line.
                .col(integer_null(AuditLog::ActorId))
                .col(string(AuditLog::Action))
                .col(string(AuditLog::Target))
                .col(text_null(AuditLog::Detail))
                .col(timestamp_with_time_zone(AuditLog::CreatedAt))
                .take(),
        )
        .await
    }
}
