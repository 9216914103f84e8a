//! Who was refused for writing after a consultation closed: one row per consultation and remote
//! author, so that the count shown on the consultation's page is of people, and one account
//! sending many late replies counts once.
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000005_late_refusals"
    }
}

#[derive(DeriveIden)]
enum LateRefusals {
    Table,
    ConsultationId,
    AuthorId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Consultations {
    Table,
    Id,
    LateRefused,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(LateRefusals::Table)
                .col(integer(LateRefusals::ConsultationId))
                .col(integer(LateRefusals::AuthorId))
                .col(timestamp_with_time_zone(LateRefusals::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(LateRefusals::ConsultationId)
                        .col(LateRefusals::AuthorId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(LateRefusals::Table, LateRefusals::ConsultationId)
                        .to(Consultations::Table, Consultations::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(LateRefusals::Table, LateRefusals::AuthorId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        // Counts kept so far were of replies, not people: start again from what is known.
        m.exec_stmt(
            Query::update()
                .table(Consultations::Table)
                .value(Consultations::LateRefused, 0)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(LateRefusals::Table).to_owned())
            .await
    }
}
