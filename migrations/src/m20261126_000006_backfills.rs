//! Backfills still owed: one row per followed consultation whose existing debate has not been
//! read yet. Written in the transaction that records the `Accept`, deleted when a run has gone
//! through the consultation's `context` collection, retried with backoff otherwise, so that a
//! restart or an unreachable origin no longer loses the debate a new follower should see.
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000006_backfills"
    }
}

#[derive(DeriveIden)]
enum Backfills {
    Table,
    ConsultationId,
    Status,
    Attempts,
    NextAttemptAt,
    LockedUntil,
    LastError,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Consultations {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Keyed by consultation, not by follow: several local accounts following one
        // consultation owe it one backfill, and unfollowing must not lose what another follower
        // still waits for.
        m.create_table(
            Table::create()
                .table(Backfills::Table)
                .col(integer(Backfills::ConsultationId).primary_key())
                .col(string(Backfills::Status))
                .col(integer(Backfills::Attempts).default(0))
                .col(timestamp_with_time_zone(Backfills::NextAttemptAt))
                .col(timestamp_with_time_zone_null(Backfills::LockedUntil))
                .col(text_null(Backfills::LastError))
                .col(timestamp_with_time_zone(Backfills::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Backfills::Table, Backfills::ConsultationId)
                        .to(Consultations::Table, Consultations::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_backfills_due")
                .table(Backfills::Table)
                .col(Backfills::Status)
                .col(Backfills::NextAttemptAt)
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Backfills::Table).to_owned())
            .await
    }
}
