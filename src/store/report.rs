use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reports")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub reporter_id: i32,
    /// The reported proposal, argument or source, by its ActivityPub id.
    pub object_url: String,
    pub consultation_id: i32,
    pub reason: String,
    /// Sent on to the consultation's own node (for a mirrored consultation).
    pub forwarded: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
