use sea_orm::entity::prelude::*;

/// A reply without a stance: shown with its proposal, not counted as an argument.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "comments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub proposal_id: i32,
    pub author_id: i32,
    pub body: String,
    /// The argument or comment it answers, when it is not the proposal itself.
    pub in_reply_to: Option<String>,
    #[sea_orm(unique)]
    pub ap_id: Option<String>,
    pub hidden: bool,
    pub withdrawn: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
