//! The first schema: accounts, sessions, consultations, proposals, arguments, sources, votes.
//!
//! Foreign keys are declared inside `create_table` because SQLite cannot add them later.
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000001_initial"
    }
}

#[derive(DeriveIden)]
enum Handles {
    Table,
    Name,
    Kind,
}

#[derive(DeriveIden)]
enum Counters {
    Table,
    Name,
    Value,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    Username,
    DisplayName,
    PasswordHash,
    Role,
    VerifiedLabel,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    TokenHash,
    AccountId,
    Kind,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Consultations {
    Table,
    Id,
    Slug,
    Title,
    Body,
    Themes,
    OpensAt,
    ClosesAt,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Proposals {
    Table,
    Id,
    Number,
    ConsultationId,
    AuthorId,
    Title,
    Body,
    State,
    OfficialAnswer,
    AnsweredAt,
    DuplicateOf,
    Hidden,
    Withdrawn,
    ArgumentsFor,
    ArgumentsAgainst,
    ArgumentCount,
    SourceCount,
    Agree,
    Mixed,
    Disagree,
    VoteCount,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Arguments {
    Table,
    Id,
    Number,
    ProposalId,
    AuthorId,
    Stance,
    Body,
    Hidden,
    Withdrawn,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sources {
    Table,
    Id,
    ProposalId,
    AuthorId,
    Title,
    Url,
    Description,
    Hidden,
    Withdrawn,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Votes {
    Table,
    Id,
    ProposalId,
    AccountId,
    Value,
    CreatedAt,
    UpdatedAt,
}

fn fk(
    from_table: impl IntoIden,
    from_col: impl IntoIden,
    to_table: impl IntoIden,
    to_col: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from_table, from_col)
        .to(to_table, to_col)
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Usernames and consultation slugs become fediverse handles: one table holds both so
        // that the database itself refuses a second actor with the same name.
        m.create_table(
            Table::create()
                .table(Handles::Table)
                .col(string(Handles::Name).primary_key())
                .col(string(Handles::Kind))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Counters::Table)
                .col(string(Counters::Name).primary_key())
                .col(big_integer(Counters::Value))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Accounts::Table)
                .col(pk_auto(Accounts::Id))
                .col(string_uniq(Accounts::Username))
                .col(string(Accounts::DisplayName))
                .col(string_null(Accounts::PasswordHash))
                .col(string(Accounts::Role))
                .col(string_null(Accounts::VerifiedLabel))
                .col(timestamp_with_time_zone(Accounts::CreatedAt))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .col(pk_auto(Sessions::Id))
                .col(string_uniq(Sessions::TokenHash))
                .col(integer(Sessions::AccountId))
                .col(string(Sessions::Kind))
                .col(timestamp_with_time_zone(Sessions::CreatedAt))
                .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                .foreign_key(&mut fk(
                    Sessions::Table,
                    Sessions::AccountId,
                    Accounts::Table,
                    Accounts::Id,
                ))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Consultations::Table)
                .col(pk_auto(Consultations::Id))
                .col(string_uniq(Consultations::Slug))
                .col(string(Consultations::Title))
                .col(text(Consultations::Body))
                .col(text(Consultations::Themes))
                .col(timestamp_with_time_zone(Consultations::OpensAt))
                .col(timestamp_with_time_zone(Consultations::ClosesAt))
                .col(integer_null(Consultations::CreatedBy))
                .col(timestamp_with_time_zone(Consultations::CreatedAt))
                .col(timestamp_with_time_zone(Consultations::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Consultations::Table, Consultations::CreatedBy)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Proposals::Table)
                .col(pk_auto(Proposals::Id))
                .col(big_integer(Proposals::Number))
                .col(integer(Proposals::ConsultationId))
                .col(integer(Proposals::AuthorId))
                .col(string(Proposals::Title))
                .col(text(Proposals::Body))
                .col(string(Proposals::State))
                .col(text_null(Proposals::OfficialAnswer))
                .col(timestamp_with_time_zone_null(Proposals::AnsweredAt))
                .col(integer_null(Proposals::DuplicateOf))
                .col(boolean(Proposals::Hidden).default(false))
                .col(boolean(Proposals::Withdrawn).default(false))
                .col(integer(Proposals::ArgumentsFor).default(0))
                .col(integer(Proposals::ArgumentsAgainst).default(0))
                .col(integer(Proposals::ArgumentCount).default(0))
                .col(integer(Proposals::SourceCount).default(0))
                .col(integer(Proposals::Agree).default(0))
                .col(integer(Proposals::Mixed).default(0))
                .col(integer(Proposals::Disagree).default(0))
                .col(integer(Proposals::VoteCount).default(0))
                .col(timestamp_with_time_zone(Proposals::CreatedAt))
                .col(timestamp_with_time_zone(Proposals::UpdatedAt))
                .foreign_key(&mut fk(
                    Proposals::Table,
                    Proposals::ConsultationId,
                    Consultations::Table,
                    Consultations::Id,
                ))
                .foreign_key(&mut fk(
                    Proposals::Table,
                    Proposals::AuthorId,
                    Accounts::Table,
                    Accounts::Id,
                ))
                .foreign_key(
                    ForeignKey::create()
                        .from(Proposals::Table, Proposals::DuplicateOf)
                        .to(Proposals::Table, Proposals::Id)
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_proposals_consultation")
                .table(Proposals::Table)
                .col(Proposals::ConsultationId)
                .col(Proposals::Id)
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Arguments::Table)
                .col(pk_auto(Arguments::Id))
                .col(big_integer(Arguments::Number))
                .col(integer(Arguments::ProposalId))
                .col(integer(Arguments::AuthorId))
                .col(string(Arguments::Stance))
                .col(text(Arguments::Body))
                .col(boolean(Arguments::Hidden).default(false))
                .col(boolean(Arguments::Withdrawn).default(false))
                .col(timestamp_with_time_zone(Arguments::CreatedAt))
                .col(timestamp_with_time_zone(Arguments::UpdatedAt))
                .foreign_key(&mut fk(
                    Arguments::Table,
                    Arguments::ProposalId,
                    Proposals::Table,
                    Proposals::Id,
                ))
                .foreign_key(&mut fk(
                    Arguments::Table,
                    Arguments::AuthorId,
                    Accounts::Table,
                    Accounts::Id,
                ))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_arguments_proposal")
                .table(Arguments::Table)
                .col(Arguments::ProposalId)
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Sources::Table)
                .col(pk_auto(Sources::Id))
                .col(integer(Sources::ProposalId))
                .col(integer(Sources::AuthorId))
                .col(string(Sources::Title))
                .col(text(Sources::Url))
                .col(text_null(Sources::Description))
                .col(boolean(Sources::Hidden).default(false))
                .col(boolean(Sources::Withdrawn).default(false))
                .col(timestamp_with_time_zone(Sources::CreatedAt))
                .col(timestamp_with_time_zone(Sources::UpdatedAt))
                .foreign_key(&mut fk(
                    Sources::Table,
                    Sources::ProposalId,
                    Proposals::Table,
                    Proposals::Id,
                ))
                .foreign_key(&mut fk(
                    Sources::Table,
                    Sources::AuthorId,
                    Accounts::Table,
                    Accounts::Id,
                ))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Votes::Table)
                .col(pk_auto(Votes::Id))
                .col(integer(Votes::ProposalId))
                .col(integer(Votes::AccountId))
                .col(string(Votes::Value))
                .col(timestamp_with_time_zone(Votes::CreatedAt))
                .col(timestamp_with_time_zone(Votes::UpdatedAt))
                .foreign_key(&mut fk(
                    Votes::Table,
                    Votes::ProposalId,
                    Proposals::Table,
                    Proposals::Id,
                ))
                .foreign_key(&mut fk(
                    Votes::Table,
                    Votes::AccountId,
                    Accounts::Table,
                    Accounts::Id,
                ))
                .take(),
        )
        .await?;
        // One vote per person and proposal, enforced by the database, not only by the code.
        m.create_index(
            Index::create()
                .name("idx_votes_one_per_person")
                .table(Votes::Table)
                .col(Votes::ProposalId)
                .col(Votes::AccountId)
                .unique()
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Votes::Table.into_iden(),
            Sources::Table.into_iden(),
            Arguments::Table.into_iden(),
            Proposals::Table.into_iden(),
            Consultations::Table.into_iden(),
            Sessions::Table.into_iden(),
            Accounts::Table.into_iden(),
            Counters::Table.into_iden(),
            Handles::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).take()).await?;
        }
        Ok(())
    }
}
