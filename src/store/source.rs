use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sources")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub proposal_id: i32,
    pub author_id: i32,
    pub title: String,
    pub url: String,
    pub description: Option<String>,
    pub hidden: bool,
    pub withdrawn: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Set for sources mirrored from another node.
    #[sea_orm(unique)]
    pub ap_id: Option<String>,
    /// "pending", "accepted" or "rejected" for a source posted here to a consultation hosted
    /// elsewhere, as for proposals.
    pub origin_state: Option<String>,
    pub origin_note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
