//! Federation: every account and consultation is an ActivityPub actor with a key pair; remote
//! actors and objects are stored next to local ones (`ap_id` set means remote); follows, a
//! persistent delivery queue and the ids of activities already received.
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000002_federation"
    }
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    ApId,
    Inbox,
    SharedInbox,
    PublicKey,
    PrivateKey,
    LastRefreshedAt,
}

#[derive(DeriveIden)]
enum Consultations {
    Table,
    Id,
    ApId,
    Mirrored,
    Inbox,
    SharedInbox,
    PublicKey,
    PrivateKey,
    LastRefreshedAt,
}

#[derive(DeriveIden)]
enum Proposals {
    Table,
    ApId,
    OriginState,
    OriginNote,
}

#[derive(DeriveIden)]
enum Arguments {
    Table,
    ApId,
    OriginState,
    OriginNote,
}

#[derive(DeriveIden)]
enum Sources {
    Table,
    ApId,
    OriginState,
    OriginNote,
}

#[derive(DeriveIden)]
enum InstanceActor {
    Table,
    Id,
    PublicKey,
    PrivateKey,
}

#[derive(DeriveIden)]
enum Follows {
    Table,
    Id,
    FollowerId,
    ConsultationId,
    ActivityId,
    State,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Id,
    ActivityId,
    ActorKind,
    ActorId,
    Inbox,
    Payload,
    Attempts,
    NextAttemptAt,
    LockedUntil,
    Status,
    LastError,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Reports {
    Table,
    Id,
    ReporterId,
    ObjectUrl,
    ConsultationId,
    Reason,
    Forwarded,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ReceivedActivities {
    Table,
    ApId,
    ReceivedAt,
}

async fn add_column(
    m: &SchemaManager<'_>,
    table: impl IntoIden,
    column: ColumnDef,
) -> Result<(), DbErr> {
    m.alter_table(Table::alter().table(table).add_column(column).take())
        .await
}

async fn unique_index(
    m: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    column: impl IntoIden,
) -> Result<(), DbErr> {
    m.create_index(
        Index::create()
            .name(name)
            .table(table)
            .col(column)
            .unique()
            .take(),
    )
    .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per ALTER: SQLite adds a single column at a time.
        add_column(m, Accounts::Table, string_null(Accounts::ApId)).await?;
        add_column(m, Accounts::Table, string_null(Accounts::Inbox)).await?;
        add_column(m, Accounts::Table, string_null(Accounts::SharedInbox)).await?;
        add_column(m, Accounts::Table, text_null(Accounts::PublicKey)).await?;
        add_column(m, Accounts::Table, text_null(Accounts::PrivateKey)).await?;
        add_column(
            m,
            Accounts::Table,
            timestamp_with_time_zone_null(Accounts::LastRefreshedAt),
        )
        .await?;
        unique_index(m, "idx_accounts_ap_id", Accounts::Table, Accounts::ApId).await?;

        add_column(m, Consultations::Table, string_null(Consultations::ApId)).await?;
        add_column(m, Consultations::Table, string_null(Consultations::Inbox)).await?;
        add_column(
            m,
            Consultations::Table,
            string_null(Consultations::SharedInbox),
        )
        .await?;
        add_column(m, Consultations::Table, text_null(Consultations::PublicKey)).await?;
        add_column(
            m,
            Consultations::Table,
            text_null(Consultations::PrivateKey),
        )
        .await?;
        add_column(
            m,
            Consultations::Table,
            timestamp_with_time_zone_null(Consultations::LastRefreshedAt),
        )
        .await?;
        // A remote Group becomes a consultation of this node (listed, open to its members) only
        // once one of them follows it, not merely because it was fetched.
        add_column(
            m,
            Consultations::Table,
            boolean(Consultations::Mirrored).default(false).take(),
        )
        .await?;
        unique_index(
            m,
            "idx_consultations_ap_id",
            Consultations::Table,
            Consultations::ApId,
        )
        .await?;

        add_column(m, Proposals::Table, string_null(Proposals::ApId)).await?;
        // For contributions posted here to a consultation hosted elsewhere: "pending" until its
        // origin announces it ("accepted") or rejects it ("rejected", with the reason).
        add_column(m, Proposals::Table, string_null(Proposals::OriginState)).await?;
        add_column(m, Proposals::Table, text_null(Proposals::OriginNote)).await?;
        add_column(m, Arguments::Table, string_null(Arguments::OriginState)).await?;
        add_column(m, Arguments::Table, text_null(Arguments::OriginNote)).await?;
        unique_index(m, "idx_proposals_ap_id", Proposals::Table, Proposals::ApId).await?;
        add_column(m, Sources::Table, string_null(Sources::ApId)).await?;
        unique_index(m, "idx_sources_ap_id", Sources::Table, Sources::ApId).await?;
        add_column(m, Sources::Table, string_null(Sources::OriginState)).await?;
        add_column(m, Sources::Table, text_null(Sources::OriginNote)).await?;
        add_column(m, Arguments::Table, string_null(Arguments::ApId)).await?;
        unique_index(m, "idx_arguments_ap_id", Arguments::Table, Arguments::ApId).await?;
        // Local numbers are unique on the node; mirrored contributions keep their origin's
        // numbers, which may repeat ours. Partial indexes: same SQL on SQLite and PostgreSQL.
        let db = m.get_connection();
        db.execute_unprepared(
            "CREATE UNIQUE INDEX idx_proposals_local_number ON proposals (number) WHERE ap_id IS NULL",
        )
        .await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX idx_arguments_local_number ON arguments (number) WHERE ap_id IS NULL",
        )
        .await?;

        m.create_table(
            Table::create()
                .table(InstanceActor::Table)
                .col(integer(InstanceActor::Id).primary_key())
                .col(text(InstanceActor::PublicKey))
                .col(text(InstanceActor::PrivateKey))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Follows::Table)
                .col(pk_auto(Follows::Id))
                .col(integer(Follows::FollowerId))
                .col(integer(Follows::ConsultationId))
                .col(string(Follows::ActivityId))
                .col(string(Follows::State))
                .col(timestamp_with_time_zone(Follows::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Follows::Table, Follows::FollowerId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(Follows::Table, Follows::ConsultationId)
                        .to(Consultations::Table, Consultations::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_follows_one_per_pair")
                .table(Follows::Table)
                .col(Follows::FollowerId)
                .col(Follows::ConsultationId)
                .unique()
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Deliveries::Table)
                .col(pk_auto(Deliveries::Id))
                .col(string(Deliveries::ActivityId))
                .col(string(Deliveries::ActorKind))
                .col(integer(Deliveries::ActorId))
                .col(text(Deliveries::Inbox))
                .col(text(Deliveries::Payload))
                .col(integer(Deliveries::Attempts).default(0))
                .col(timestamp_with_time_zone(Deliveries::NextAttemptAt))
                .col(timestamp_with_time_zone_null(Deliveries::LockedUntil))
                .col(string(Deliveries::Status))
                .col(text_null(Deliveries::LastError))
                .col(timestamp_with_time_zone(Deliveries::CreatedAt))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_deliveries_due")
                .table(Deliveries::Table)
                .col(Deliveries::Status)
                .col(Deliveries::NextAttemptAt)
                .take(),
        )
        .await?;
        // The moderation queue: reports made here, and reports (Flag) received from other
        // nodes about content of consultations hosted here.
        m.create_table(
            Table::create()
                .table(Reports::Table)
                .col(pk_auto(Reports::Id))
                .col(integer(Reports::ReporterId))
                .col(text(Reports::ObjectUrl))
                .col(integer(Reports::ConsultationId))
                .col(text(Reports::Reason))
                .col(boolean(Reports::Forwarded).default(false))
                .col(timestamp_with_time_zone(Reports::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Reports::Table, Reports::ReporterId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(Reports::Table, Reports::ConsultationId)
                        .to(Consultations::Table, Consultations::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ReceivedActivities::Table)
                .col(string(ReceivedActivities::ApId).primary_key())
                .col(timestamp_with_time_zone(ReceivedActivities::ReceivedAt))
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ReceivedActivities::Table.into_iden(),
            Reports::Table.into_iden(),
            Deliveries::Table.into_iden(),
            Follows::Table.into_iden(),
            InstanceActor::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).take()).await?;
        }
        Ok(())
    }
}
