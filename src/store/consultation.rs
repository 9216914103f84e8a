use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consultations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(unique)]
    pub slug: String,
    pub title: String,
    pub body: String,
    /// A JSON array of strings.
    pub themes: String,
    pub opens_at: DateTimeUtc,
    pub closes_at: DateTimeUtc,
    pub created_by: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Set for remote (followed) consultations only.
    #[sea_orm(unique)]
    pub ap_id: Option<String>,
    pub inbox: Option<String>,
    pub shared_inbox: Option<String>,
    pub public_key: Option<String>,
    pub private_key: Option<String>,
    pub last_refreshed_at: Option<DateTimeUtc>,
    /// For a remote consultation: a member of this node followed it, so it is mirrored here.
    pub mirrored: bool,
    /// Replies from other servers refused because they arrived after the period closed.
    pub late_refused: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
