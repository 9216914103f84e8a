//! The wider fediverse: people following accounts, replies without a stance (comments, as Mastodon users write them),
//! boosts (shares), the activity that cast a remote vote, late replies refused after a consultation closed, and which HTTP signature
//! scheme each remote server accepts (draft-cavage or RFC 9421).
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000003_fediverse"
    }
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Proposals {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Votes {
    Table,
    ActivityId,
}

#[derive(DeriveIden)]
enum Consultations {
    Table,
    LateRefused,
}

#[derive(DeriveIden)]
enum Comments {
    Table,
    Id,
    ProposalId,
    AuthorId,
    Body,
    InReplyTo,
    ApId,
    Hidden,
    Withdrawn,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Shares {
    Table,
    Id,
    ProposalId,
    ActorId,
    ActivityId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AccountFollows {
    Table,
    Id,
    FollowerId,
    AccountId,
    ActivityId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SignatureSchemes {
    Table,
    Host,
    Scheme,
    UpdatedAt,
}

fn cascade(
    from: (Comments, Comments),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Comments::Table)
                .col(pk_auto(Comments::Id))
                .col(integer(Comments::ProposalId))
                .col(integer(Comments::AuthorId))
                .col(text(Comments::Body))
                // What it answers when that is not the proposal itself (an argument, a comment).
                .col(string_null(Comments::InReplyTo))
                .col(string_null(Comments::ApId).unique_key())
                .col(boolean(Comments::Hidden).default(false))
                .col(boolean(Comments::Withdrawn).default(false))
                .col(timestamp_with_time_zone(Comments::CreatedAt))
                .col(timestamp_with_time_zone(Comments::UpdatedAt))
                .foreign_key(&mut cascade(
                    (Comments::Table, Comments::ProposalId),
                    (Proposals::Table, Proposals::Id),
                ))
                .foreign_key(&mut cascade(
                    (Comments::Table, Comments::AuthorId),
                    (Accounts::Table, Accounts::Id),
                ))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_comments_proposal")
                .table(Comments::Table)
                .col(Comments::ProposalId)
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Shares::Table)
                .col(pk_auto(Shares::Id))
                .col(integer(Shares::ProposalId))
                .col(integer(Shares::ActorId))
                .col(string(Shares::ActivityId).unique_key())
                .col(timestamp_with_time_zone(Shares::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Shares::Table, Shares::ProposalId)
                        .to(Proposals::Table, Proposals::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(Shares::Table, Shares::ActorId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        // One share per person and proposal, however often they boost it again.
        m.create_index(
            Index::create()
                .name("idx_shares_one_per_person")
                .table(Shares::Table)
                .col(Shares::ProposalId)
                .col(Shares::ActorId)
                .unique()
                .take(),
        )
        .await?;

        m.alter_table(
            Table::alter()
                .table(Consultations::Table)
                .add_column(integer(Consultations::LateRefused).default(0))
                .take(),
        )
        .await?;

        // The activity that cast a vote from another server: Pleroma takes it back by id alone.
        m.alter_table(
            Table::alter()
                .table(Votes::Table)
                .add_column(string_null(Votes::ActivityId))
                .take(),
        )
        .await?;

        // People elsewhere following an account of this node (Mastodon's "follow").
        m.create_table(
            Table::create()
                .table(AccountFollows::Table)
                .col(pk_auto(AccountFollows::Id))
                .col(integer(AccountFollows::FollowerId))
                .col(integer(AccountFollows::AccountId))
                .col(string(AccountFollows::ActivityId))
                .col(timestamp_with_time_zone(AccountFollows::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(AccountFollows::Table, AccountFollows::FollowerId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(AccountFollows::Table, AccountFollows::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_account_follows_one_per_pair")
                .table(AccountFollows::Table)
                .col(AccountFollows::FollowerId)
                .col(AccountFollows::AccountId)
                .unique()
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(SignatureSchemes::Table)
                .col(string(SignatureSchemes::Host).primary_key())
                .col(string(SignatureSchemes::Scheme))
                .col(timestamp_with_time_zone(SignatureSchemes::UpdatedAt))
                .take(),
        )
        .await
    }
}
