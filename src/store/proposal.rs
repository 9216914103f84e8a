use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "proposals")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub number: i64,
    pub consultation_id: i32,
    pub author_id: i32,
    pub title: String,
    pub body: String,
    pub state: String,
    pub official_answer: Option<String>,
    pub answered_at: Option<DateTimeUtc>,
    pub duplicate_of: Option<i32>,
    pub hidden: bool,
    pub withdrawn: bool,
    // Counts of visible contributions, kept in step by `services::tally` in the same
    // transaction as every change, so that lists sort and paginate on them cheaply.
    pub arguments_for: i32,
    pub arguments_against: i32,
    pub argument_count: i32,
    pub source_count: i32,
    pub agree: i32,
    pub mixed: i32,
    pub disagree: i32,
    pub vote_count: i32,
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
