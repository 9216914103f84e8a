use sea_orm::entity::prelude::*;

/// The existing debate of a followed consultation, still to be read from its origin
/// (`federation::follows`): the row goes away once a run has gone through the collection.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "backfills")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub consultation_id: i32,
    /// "pending" (to run, or running under `locked_until`) or "failed" (given up, kept for the
    /// admins with its `last_error`).
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    /// A process running it holds it until then and keeps pushing it back while it runs; a
    /// process that dies lets it go when it passes.
    pub locked_until: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
