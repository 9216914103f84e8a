use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "arguments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub number: i64,
    pub proposal_id: i32,
    pub author_id: i32,
    pub stance: String,
    pub body: String,
    pub hidden: bool,
    pub withdrawn: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Set for contributions mirrored from another node.
    #[sea_orm(unique)]
    pub ap_id: Option<String>,
    /// For a contribution posted here to a consultation hosted on another node: "pending",
    /// "accepted" once the origin announces it, "rejected" with `origin_note` as the reason.
    pub origin_state: Option<String>,
    pub origin_note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
