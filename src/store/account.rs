use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(unique)]
    pub username: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub role: String,
    pub verified_label: Option<String>,
    pub created_at: DateTimeUtc,
    /// Set for remote accounts only; local ones derive theirs from the public URL.
    #[sea_orm(unique)]
    pub ap_id: Option<String>,
    pub inbox: Option<String>,
    pub shared_inbox: Option<String>,
    pub public_key: Option<String>,
    /// Local accounts only; generated the first time the account federates.
    pub private_key: Option<String>,
    pub last_refreshed_at: Option<DateTimeUtc>,
    /// Failed password logins in a row; reset by a successful one.
    pub failed_logins: i32,
    /// Password login refused until then (too many failures).
    pub locked_until: Option<DateTimeUtc>,
    /// Suspended by moderators (a local account) or blocked (a remote one).
    pub suspended_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
