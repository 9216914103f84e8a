//! Contract test: what Palabre serves and sends is what Lemmy 0.19 can read.
//!
//! No Lemmy runs here, so this file writes down, as data, what Lemmy requires of each object
//! and activity it receives from a community (a Palabre consultation), and checks the JSON of a
//! real Palabre node against it. Everything below was read in LemmyNet/lemmy at tag `0.19.20`
//! (paths relative to that repository) and in LemmyNet/activitypub-federation-rust at tag
//! `0.5.11`, the federation library Lemmy 0.19 uses (`activitypub_federation` in Lemmy's
//! Cargo.toml). Two kinds of requirement are checked:
//!
//! - **Deserialization** (the tables `GROUP`, `PERSON`, `PAGE`, `NOTE`, ...): each field of
//!   Lemmy's protocol struct, with its Rust type and how serde reads it. A plain `T` must be
//!   present and not `null`; an `Option<T>` may be absent or `null`; a `#[serde(default)] Vec<T>`
//!   (with or without `deserialize_one_or_many`) may be absent but not `null`; a field with
//!   `deserialize_skip_error` is never refused (a wrong value is silently dropped, which is
//!   checked here too, since Palabre sends those fields to be read). Leaf values are read with
//!   the same serde types Lemmy uses (`url::Url`, `chrono::DateTime<Utc>`).
//! - **Verification** (the `*_rules` functions): the checks Lemmy's `verify` functions make
//!   after parsing (public addressing, who may be the `actor`, matching domains), each cited.
//!   An `ObjectId<T>` is just a URL to serde, but Lemmy dereferences it as `T`: the test fetches
//!   it the way the library does (`Accept: application/activity+json`, Content-Type and `id`
//!   checked) and checks its `type`.
//!
//! How Lemmy receives each activity: Palabre delivers to the follower's shared inbox, which in
//! Lemmy is `SharedInboxActivities` (crates/apub/src/activity_lists.rs, untagged, tried in
//! order). An `Announce` and an `Accept` match their own variants; anything else a community
//! sends (`Update`, `Delete`) falls to the catch-all `RawAnnouncableActivities`, which Lemmy
//! converts into `AnnouncableActivities` (crates/apub/src/activities/community/announce.rs,
//! `RawAnnouncableActivities::receive`), then verifies and applies. The object inside an
//! `Announce` goes the same way. In each of those Lemmy structs (`CreateOrUpdatePage`,
//! `CreateOrUpdateNote`, `Delete`, `UpdateCommunity`) the `actor` is an `ObjectId<ApubPerson>`:
//! Lemmy takes them from a Person (the author; for a removal or a community update, a moderator
//! or any Person on the community's domain), sent directly or inside the Group's `Announce`,
//! never with the Group itself as `actor`. So the `Update` and `Delete` tests look at every
//! activity queued about the object, in either form, and pass when one of them would be
//! accepted.
//!
//! Failures say what is wrong and where Lemmy requires it, e.g. "Note lacks `content`, required
//! by lemmy crates/apub/src/protocol/objects/note.rs Note::content (String)".
mod common;

use std::collections::HashMap;

use common::{TestApp, send_signed};
use palabre::domain::Role;
use palabre::federation::actors::DbPerson;
use palabre::federation::keys;
use palabre::services::accounts;
use palabre::store::delivery;
use reqwest::{Method, StatusCode};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Value, json};

const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";

// ---- the contract, as data ----

/// How serde, in Lemmy's struct, treats the field's presence.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Need {
    /// A plain `T`: present and not `null`.
    Required,
    /// `Option<T>`: absent or `null` reads as `None`; a value must have the shape.
    Optional,
    /// `#[serde(default)]` on a `Vec<T>`: absent reads as empty, but `null` is refused.
    Defaulted,
    /// `#[serde(deserialize_with = "deserialize_skip_error", default)]`: never refused, but a
    /// value of the wrong shape is silently dropped. Checked, since Palabre means it to be read.
    SkipError,
    /// `deserialize_not_present`: must be absent or `null`.
    Absent,
}

/// What a present value must look like.
#[derive(Clone, Copy)]
enum Shape {
    /// `url::Url`, `ObjectId<_>` or `CollectionId<_>` that Lemmy does not dereference on
    /// receipt: a string parsing as a URL.
    Url,
    /// `ObjectId<T>` that Lemmy dereferences: a URL serving an object whose `type` is one of
    /// these, with the name of `T` for messages.
    Ref(&'static str, &'static [&'static str]),
    /// `String`.
    Str,
    /// `bool`.
    Bool,
    /// `chrono::DateTime<Utc>`: an RFC 3339 string.
    Date,
    /// A unit enum serialized as one of these strings (`*Type` kinds, `MediaTypeMarkdown`,
    /// `MediaTypeMarkdownOrHtml`).
    OneOf(&'static [&'static str]),
    /// `Vec<Url>` with `deserialize_one_or_many` (activitypub_federation 0.5.11
    /// src/protocol/helpers.rs): one URL or an array of URLs.
    OneOrManyUrls,
    /// `[ObjectId<T>; 1]`: an array of exactly one URL.
    OneUrlArray,
    /// A nested struct.
    Struct(&'static Contract),
    /// `Vec<T>`: an array whose items have the shape.
    ListOf(&'static Shape),
    /// `IdOrNestedObject<T>` (crates/apub/src/protocol/mod.rs): a URL, or the object inline.
    IdOr(&'static Contract),
    /// `AttributedTo` (crates/apub/src/protocol/objects/mod.rs, untagged): a URL naming the
    /// creator (Lemmy's form), or a list of `{type, id}` (PeerTube's form) with a `Person`.
    AttributedTo,
    /// `Attachment` (crates/apub/src/protocol/objects/page.rs, untagged): `Link`, `Image` or
    /// `Document`.
    Attachment,
    /// `HashMap<Url, String>`: an object whose keys are URLs and values strings.
    UrlKeyedStrings,
    /// A `String` holding the actor's RSA public key in PEM: Lemmy verifies every signature of
    /// the actor with `RsaPublicKey::from_public_key_pem` (activitypub_federation 0.5.11
    /// src/http_signatures.rs verify_signature_inner).
    PublicKeyPem,
    /// Any JSON value (`MentionOrValue` in crates/apub/src/mentions.rs falls back to `Value`).
    Any,
}

struct Field {
    /// The JSON name (Lemmy's structs are `rename_all = "camelCase"`).
    json: &'static str,
    /// The Rust field name, to find it in Lemmy's source.
    rust: &'static str,
    /// The Rust type and serde attributes, as written in Lemmy's source.
    ty: &'static str,
    need: Need,
    shape: Shape,
}

/// One of Lemmy's protocol structs.
struct Contract {
    name: &'static str,
    file: &'static str,
    fields: &'static [Field],
}

const fn f(
    json: &'static str,
    rust: &'static str,
    ty: &'static str,
    need: Need,
    shape: Shape,
) -> Field {
    Field {
        json,
        rust,
        ty,
        need,
        shape,
    }
}

use Need::{Absent, Defaulted, Optional, Required, SkipError};
use Shape::{
    Any, Attachment, AttributedTo, Bool, Date, IdOr, ListOf, OneOf, OneOrManyUrls, OneUrlArray,
    PublicKeyPem, Ref, Str, Struct, Url, UrlKeyedStrings,
};

/// `UserTypes` in crates/apub/src/protocol/objects/person.rs: what an `ObjectId<ApubPerson>`
/// must dereference to.
const PERSON_KINDS: &[&str] = &["Person", "Service", "Organization"];
/// `GroupType` (activitypub_federation 0.5.11 src/kinds, from `activitystreams_kinds`) in
/// crates/apub/src/protocol/objects/group.rs: what an `ObjectId<ApubCommunity>` must
/// dereference to.
const GROUP_KINDS: &[&str] = &["Group"];
/// `PageType` in crates/apub/src/protocol/objects/page.rs.
const PAGE_KINDS: &[&str] = &["Page", "Article", "Note", "Video", "Event"];
/// `PageOrNote` in crates/apub/src/fetcher/post_or_comment.rs: what an
/// `ObjectId<PostOrComment>` must dereference to (a `Page` of any `PageType`, or a `Note`).
const POST_OR_COMMENT_KINDS: &[&str] = &["Page", "Article", "Note", "Video", "Event"];
/// `UserOrCommunity` in crates/apub/src/fetcher/user_or_community.rs.
const USER_OR_COMMUNITY_KINDS: &[&str] = &["Person", "Service", "Organization", "Group"];

const PERSON_REF: Shape = Ref("ObjectId<ApubPerson>", PERSON_KINDS);
const GROUP_REF: Shape = Ref("ObjectId<ApubCommunity>", GROUP_KINDS);

/// activitypub_federation 0.5.11 src/protocol/public_key.rs, struct PublicKey.
const PUBLIC_KEY: Contract = Contract {
    name: "PublicKey",
    file: "(activitypub-federation-rust 0.5.11) src/protocol/public_key.rs",
    fields: &[
        f("id", "id", "String", Required, Str),
        f("owner", "owner", "Url", Required, Url),
        f(
            "publicKeyPem",
            "public_key_pem",
            "String",
            Required,
            PublicKeyPem,
        ),
    ],
};

/// crates/apub/src/protocol/objects/mod.rs, struct Endpoints.
const ENDPOINTS: Contract = Contract {
    name: "Endpoints",
    file: "crates/apub/src/protocol/objects/mod.rs",
    fields: &[f("sharedInbox", "shared_inbox", "Url", Required, Url)],
};

/// crates/apub/src/protocol/mod.rs, struct Source (`MediaTypeMarkdown` is activitypub_federation
/// 0.5.11 src/protocol/values.rs: only `text/markdown`).
const SOURCE: Contract = Contract {
    name: "Source",
    file: "crates/apub/src/protocol/mod.rs",
    fields: &[
        f("content", "content", "String", Required, Str),
        f(
            "mediaType",
            "media_type",
            "MediaTypeMarkdown",
            Required,
            OneOf(&["text/markdown"]),
        ),
    ],
};

/// crates/apub/src/protocol/objects/mod.rs, struct LanguageTag.
const LANGUAGE_TAG: Contract = Contract {
    name: "LanguageTag",
    file: "crates/apub/src/protocol/objects/mod.rs",
    fields: &[
        f("identifier", "identifier", "String", Required, Str),
        f("name", "name", "String", Required, Str),
    ],
};

/// crates/apub/src/protocol/mod.rs, struct ImageObject.
const IMAGE_OBJECT: Contract = Contract {
    name: "ImageObject",
    file: "crates/apub/src/protocol/mod.rs",
    fields: &[
        f("type", "kind", "ImageType", Required, OneOf(&["Image"])),
        f("url", "url", "Url", Required, Url),
    ],
};

/// crates/apub/src/protocol/objects/page.rs, struct Link (an `Attachment`).
const LINK: Contract = Contract {
    name: "Link",
    file: "crates/apub/src/protocol/objects/page.rs",
    fields: &[
        f("href", "href", "Url", Required, Url),
        f("mediaType", "media_type", "Option<String>", Optional, Str),
        f("type", "r#type", "LinkType", Required, OneOf(&["Link"])),
    ],
};

/// crates/apub/src/protocol/objects/page.rs, struct Image (an `Attachment`).
const IMAGE: Contract = Contract {
    name: "Image",
    file: "crates/apub/src/protocol/objects/page.rs",
    fields: &[
        f("type", "kind", "ImageType", Required, OneOf(&["Image"])),
        f("url", "url", "Url", Required, Url),
        f("name", "name", "Option<String>", Optional, Str),
    ],
};

/// crates/apub/src/protocol/objects/page.rs, struct Document (an `Attachment`).
const DOCUMENT: Contract = Contract {
    name: "Document",
    file: "crates/apub/src/protocol/objects/page.rs",
    fields: &[
        f(
            "type",
            "kind",
            "DocumentType",
            Required,
            OneOf(&["Document"]),
        ),
        f("url", "url", "Url", Required, Url),
        f("mediaType", "media_type", "Option<String>", Optional, Str),
        f("name", "name", "Option<String>", Optional, Str),
    ],
};

/// crates/apub/src/protocol/objects/tombstone.rs, struct Tombstone.
const TOMBSTONE: Contract = Contract {
    name: "Tombstone",
    file: "crates/apub/src/protocol/objects/tombstone.rs",
    fields: &[
        f("id", "id", "Url", Required, Url),
        f(
            "type",
            "kind",
            "TombstoneType",
            Required,
            OneOf(&["Tombstone"]),
        ),
    ],
};

/// A community: crates/apub/src/protocol/objects/group.rs, struct Group.
const GROUP: Contract = Contract {
    name: "Group",
    file: "crates/apub/src/protocol/objects/group.rs",
    fields: &[
        f("type", "kind", "GroupType", Required, OneOf(GROUP_KINDS)),
        f("id", "id", "ObjectId<ApubCommunity>", Required, Url),
        f(
            "preferredUsername",
            "preferred_username",
            "String",
            Required,
            Str,
        ),
        f("inbox", "inbox", "Url", Required, Url),
        f(
            "followers",
            "followers",
            "Option<CollectionId<ApubCommunityFollower>>",
            Optional,
            Url,
        ),
        f(
            "publicKey",
            "public_key",
            "PublicKey",
            Required,
            Struct(&PUBLIC_KEY),
        ),
        f("name", "name", "Option<String>", Optional, Str),
        f("summary", "summary", "Option<String>", Optional, Str),
        f(
            "source",
            "source",
            "Option<Source>, deserialize_skip_error",
            SkipError,
            Struct(&SOURCE),
        ),
        f(
            "icon",
            "icon",
            "Option<ImageObject>, deserialize_skip_error",
            SkipError,
            Struct(&IMAGE_OBJECT),
        ),
        f(
            "image",
            "image",
            "Option<ImageObject>, deserialize_skip_error",
            SkipError,
            Struct(&IMAGE_OBJECT),
        ),
        f("sensitive", "sensitive", "Option<bool>", Optional, Bool),
        f(
            "attributedTo",
            "attributed_to",
            "Option<AttributedTo>, deserialize_skip_error",
            SkipError,
            Url,
        ),
        f(
            "postingRestrictedToMods",
            "posting_restricted_to_mods",
            "Option<bool>",
            Optional,
            Bool,
        ),
        f(
            "outbox",
            "outbox",
            "CollectionId<ApubCommunityOutbox>",
            Required,
            Url,
        ),
        f(
            "endpoints",
            "endpoints",
            "Option<Endpoints>",
            Optional,
            Struct(&ENDPOINTS),
        ),
        f(
            "featured",
            "featured",
            "Option<CollectionId<ApubCommunityFeatured>>",
            Optional,
            Url,
        ),
        f(
            "language",
            "language",
            "Vec<LanguageTag>, #[serde(default)]",
            Defaulted,
            ListOf(&Struct(&LANGUAGE_TAG)),
        ),
        f(
            "published",
            "published",
            "Option<DateTime<Utc>>",
            Optional,
            Date,
        ),
        f(
            "updated",
            "updated",
            "Option<DateTime<Utc>>",
            Optional,
            Date,
        ),
    ],
};

/// A user: crates/apub/src/protocol/objects/person.rs, struct Person.
const PERSON: Contract = Contract {
    name: "Person",
    file: "crates/apub/src/protocol/objects/person.rs",
    fields: &[
        f("type", "kind", "UserTypes", Required, OneOf(PERSON_KINDS)),
        f("id", "id", "ObjectId<ApubPerson>", Required, Url),
        f(
            "preferredUsername",
            "preferred_username",
            "String",
            Required,
            Str,
        ),
        f("inbox", "inbox", "Url", Required, Url),
        f("outbox", "outbox", "Url", Required, Url),
        f(
            "publicKey",
            "public_key",
            "PublicKey",
            Required,
            Struct(&PUBLIC_KEY),
        ),
        f("name", "name", "Option<String>", Optional, Str),
        f("summary", "summary", "Option<String>", Optional, Str),
        f(
            "source",
            "source",
            "Option<Source>, deserialize_skip_error",
            SkipError,
            Struct(&SOURCE),
        ),
        f(
            "icon",
            "icon",
            "Option<ImageObject>, deserialize_skip_error",
            SkipError,
            Struct(&IMAGE_OBJECT),
        ),
        f(
            "image",
            "image",
            "Option<ImageObject>, deserialize_skip_error",
            SkipError,
            Struct(&IMAGE_OBJECT),
        ),
        f(
            "matrixUserId",
            "matrix_user_id",
            "Option<String>",
            Optional,
            Str,
        ),
        f(
            "endpoints",
            "endpoints",
            "Option<Endpoints>",
            Optional,
            Struct(&ENDPOINTS),
        ),
        f(
            "published",
            "published",
            "Option<DateTime<Utc>>",
            Optional,
            Date,
        ),
        f(
            "updated",
            "updated",
            "Option<DateTime<Utc>>",
            Optional,
            Date,
        ),
    ],
};

/// A post: crates/apub/src/protocol/objects/page.rs, struct Page.
const PAGE: Contract = Contract {
    name: "Page",
    file: "crates/apub/src/protocol/objects/page.rs",
    fields: &[
        f("type", "kind", "PageType", Required, OneOf(PAGE_KINDS)),
        f("id", "id", "ObjectId<ApubPost>", Required, Url),
        f(
            "attributedTo",
            "attributed_to",
            "AttributedTo",
            Required,
            AttributedTo,
        ),
        f(
            "to",
            "to",
            "Vec<Url>, deserialize_one_or_many, default",
            Defaulted,
            OneOrManyUrls,
        ),
        f(
            "inReplyTo",
            "in_reply_to",
            "Option<String>, deserialize_not_present",
            Absent,
            Any,
        ),
        f("name", "name", "Option<String>", Optional, Str),
        f(
            "cc",
            "cc",
            "Vec<Url>, deserialize_one_or_many, default",
            Defaulted,
            OneOrManyUrls,
        ),
        f("content", "content", "Option<String>", Optional, Str),
        f(
            "mediaType",
            "media_type",
            "Option<MediaTypeMarkdownOrHtml>",
            Optional,
            OneOf(&["text/markdown", "text/html"]),
        ),
        f(
            "source",
            "source",
            "Option<Source>, deserialize_skip_error",
            SkipError,
            Struct(&SOURCE),
        ),
        f(
            "attachment",
            "attachment",
            "Vec<Attachment>, #[serde(default)]",
            Defaulted,
            ListOf(&Attachment),
        ),
        f(
            "image",
            "image",
            "Option<ImageObject>",
            Optional,
            Struct(&IMAGE_OBJECT),
        ),
        f("sensitive", "sensitive", "Option<bool>", Optional, Bool),
        f(
            "published",
            "published",
            "Option<DateTime<Utc>>",
            Optional,
            Date,
        ),
        f(
            "updated",
            "updated",
            "Option<DateTime<Utc>>",
            Optional,
            Date,
        ),
        f(
            "language",
            "language",
            "Option<LanguageTag>",
            Optional,
            Struct(&LANGUAGE_TAG),
        ),
        f(
            "audience",
            "audience",
            "Option<ObjectId<ApubCommunity>>",
            Optional,
            GROUP_REF,
        ),
        f(
            "tag",
            "tag",
            "Vec<Hashtag>, deserialize_skip_error",
            SkipError,
            ListOf(&Any),
        ),
    ],
};

/// A comment: crates/apub/src/protocol/objects/note.rs, struct Note.
const NOTE: Contract = Contract {
    name: "Note",
    file: "crates/apub/src/protocol/objects/note.rs",
    fields: &[
        f("type", "r#type", "NoteType", Required, OneOf(&["Note"])),
        f("id", "id", "ObjectId<ApubComment>", Required, Url),
        f(
            "attributedTo",
            "attributed_to",
            "ObjectId<ApubPerson>",
            Required,
            PERSON_REF,
        ),
        f(
            "to",
            "to",
            "Vec<Url>, deserialize_one_or_many (no default)",
            Required,
            OneOrManyUrls,
        ),
        f(
            "cc",
            "cc",
            "Vec<Url>, deserialize_one_or_many, default",
            Defaulted,
            OneOrManyUrls,
        ),
        f("content", "content", "String", Required, Str),
        f(
            "inReplyTo",
            "in_reply_to",
            "ObjectId<PostOrComment>",
            Required,
            Ref("ObjectId<PostOrComment>", POST_OR_COMMENT_KINDS),
        ),
        f(
            "mediaType",
            "media_type",
            "Option<MediaTypeMarkdownOrHtml>",
            Optional,
            OneOf(&["text/markdown", "text/html"]),
        ),
        f(
            "source",
            "source",
            "Option<Source>, deserialize_skip_error",
            SkipError,
            Struct(&SOURCE),
        ),
        f(
            "published",
            "published",
            "Option<DateTime<Utc>>",
            Optional,
            Date,
        ),
        f(
            "updated",
            "updated",
            "Option<DateTime<Utc>>",
            Optional,
            Date,
        ),
        f(
            "tag",
            "tag",
            "Vec<MentionOrValue>, #[serde(default)]",
            Defaulted,
            ListOf(&Any),
        ),
        f(
            "distinguished",
            "distinguished",
            "Option<bool>",
            Optional,
            Bool,
        ),
        f(
            "language",
            "language",
            "Option<LanguageTag>",
            Optional,
            Struct(&LANGUAGE_TAG),
        ),
        f(
            "audience",
            "audience",
            "Option<ObjectId<ApubCommunity>>",
            Optional,
            GROUP_REF,
        ),
        f(
            "attachment",
            "attachment",
            "Vec<Attachment>, #[serde(default)]",
            Defaulted,
            ListOf(&Attachment),
        ),
    ],
};

/// crates/apub/src/protocol/activities/create_or_update/page.rs, struct CreateOrUpdatePage
/// (`CreateOrUpdateType` is in crates/apub/src/protocol/activities/mod.rs).
const CREATE_OR_UPDATE_PAGE: Contract = Contract {
    name: "CreateOrUpdatePage",
    file: "crates/apub/src/protocol/activities/create_or_update/page.rs",
    fields: &[
        f(
            "actor",
            "actor",
            "ObjectId<ApubPerson>",
            Required,
            PERSON_REF,
        ),
        f(
            "to",
            "to",
            "Vec<Url>, deserialize_one_or_many",
            Required,
            OneOrManyUrls,
        ),
        f("object", "object", "Page", Required, Struct(&PAGE)),
        f(
            "cc",
            "cc",
            "Vec<Url>, deserialize_one_or_many",
            Required,
            OneOrManyUrls,
        ),
        f(
            "type",
            "kind",
            "CreateOrUpdateType",
            Required,
            OneOf(&["Create", "Update"]),
        ),
        f("id", "id", "Url", Required, Url),
        f(
            "audience",
            "audience",
            "Option<ObjectId<ApubCommunity>>",
            Optional,
            GROUP_REF,
        ),
    ],
};

/// crates/apub/src/protocol/activities/create_or_update/note.rs, struct CreateOrUpdateNote.
const CREATE_OR_UPDATE_NOTE: Contract = Contract {
    name: "CreateOrUpdateNote",
    file: "crates/apub/src/protocol/activities/create_or_update/note.rs",
    fields: &[
        f(
            "actor",
            "actor",
            "ObjectId<ApubPerson>",
            Required,
            PERSON_REF,
        ),
        f(
            "to",
            "to",
            "Vec<Url>, deserialize_one_or_many",
            Required,
            OneOrManyUrls,
        ),
        f("object", "object", "Note", Required, Struct(&NOTE)),
        f(
            "cc",
            "cc",
            "Vec<Url>, deserialize_one_or_many",
            Required,
            OneOrManyUrls,
        ),
        f(
            "tag",
            "tag",
            "Vec<MentionOrValue>, #[serde(default)]",
            Defaulted,
            ListOf(&Any),
        ),
        f(
            "type",
            "kind",
            "CreateOrUpdateType",
            Required,
            OneOf(&["Create", "Update"]),
        ),
        f("id", "id", "Url", Required, Url),
        f(
            "audience",
            "audience",
            "Option<ObjectId<ApubCommunity>>",
            Optional,
            GROUP_REF,
        ),
    ],
};

/// crates/apub/src/protocol/activities/community/announce.rs, struct RawAnnouncableActivities:
/// the object of an `Announce`, kept raw (`#[serde(flatten)] other`) and converted later.
const RAW_ANNOUNCABLE: Contract = Contract {
    name: "RawAnnouncableActivities",
    file: "crates/apub/src/protocol/activities/community/announce.rs",
    fields: &[
        f("id", "id", "Url", Required, Url),
        f("actor", "actor", "Url", Required, Url),
    ],
};

/// crates/apub/src/protocol/activities/community/announce.rs, struct AnnounceActivity.
/// crates/apub/src/protocol/collections/group_outbox.rs, struct GroupOutbox: what
/// `ApubCommunityOutbox` (crates/apub/src/collections/community_outbox.rs) reads when a Lemmy
/// user first finds the community. One item of another shape fails the whole collection.
const GROUP_OUTBOX: Contract = Contract {
    name: "GroupOutbox",
    file: "crates/apub/src/protocol/collections/group_outbox.rs",
    fields: &[
        f(
            "type",
            "r#type",
            "OrderedCollectionType",
            Required,
            OneOf(&["OrderedCollection"]),
        ),
        f("id", "id", "Url", Required, Url),
        f("totalItems", "total_items", "i32", Required, Any),
        f(
            "orderedItems",
            "ordered_items",
            "Vec<AnnounceActivity>",
            Required,
            ListOf(&Struct(&ANNOUNCE)),
        ),
    ],
};

const ANNOUNCE: Contract = Contract {
    name: "AnnounceActivity",
    file: "crates/apub/src/protocol/activities/community/announce.rs",
    fields: &[
        f(
            "actor",
            "actor",
            "ObjectId<ApubCommunity>",
            Required,
            GROUP_REF,
        ),
        f(
            "to",
            "to",
            "Vec<Url>, deserialize_one_or_many",
            Required,
            OneOrManyUrls,
        ),
        f(
            "object",
            "object",
            "IdOrNestedObject<RawAnnouncableActivities>",
            Required,
            IdOr(&RAW_ANNOUNCABLE),
        ),
        f(
            "cc",
            "cc",
            "Vec<Url>, deserialize_one_or_many",
            Required,
            OneOrManyUrls,
        ),
        f(
            "type",
            "kind",
            "AnnounceType",
            Required,
            OneOf(&["Announce"]),
        ),
        f("id", "id", "Url", Required, Url),
    ],
};

/// crates/apub/src/protocol/activities/community/update.rs, struct UpdateCommunity.
const UPDATE_COMMUNITY: Contract = Contract {
    name: "UpdateCommunity",
    file: "crates/apub/src/protocol/activities/community/update.rs",
    fields: &[
        f(
            "actor",
            "actor",
            "ObjectId<ApubPerson>",
            Required,
            PERSON_REF,
        ),
        f(
            "to",
            "to",
            "Vec<Url>, deserialize_one_or_many",
            Required,
            OneOrManyUrls,
        ),
        f("object", "object", "Box<Group>", Required, Struct(&GROUP)),
        f(
            "cc",
            "cc",
            "Vec<Url>, deserialize_one_or_many",
            Required,
            OneOrManyUrls,
        ),
        f("type", "kind", "UpdateType", Required, OneOf(&["Update"])),
        f("id", "id", "Url", Required, Url),
        f(
            "audience",
            "audience",
            "Option<ObjectId<ApubCommunity>>",
            Optional,
            GROUP_REF,
        ),
    ],
};

/// crates/apub/src/protocol/activities/deletion/delete.rs, struct Delete.
const DELETE: Contract = Contract {
    name: "Delete",
    file: "crates/apub/src/protocol/activities/deletion/delete.rs",
    fields: &[
        f(
            "actor",
            "actor",
            "ObjectId<ApubPerson>",
            Required,
            PERSON_REF,
        ),
        f(
            "to",
            "to",
            "Vec<Url>, deserialize_one_or_many",
            Required,
            OneOrManyUrls,
        ),
        f(
            "object",
            "object",
            "IdOrNestedObject<Tombstone>",
            Required,
            IdOr(&TOMBSTONE),
        ),
        f("type", "kind", "DeleteType", Required, OneOf(&["Delete"])),
        f("id", "id", "Url", Required, Url),
        f(
            "audience",
            "audience",
            "Option<ObjectId<ApubCommunity>>",
            Optional,
            GROUP_REF,
        ),
        f(
            "cc",
            "cc",
            "Vec<Url>, deserialize_one_or_many, default",
            Defaulted,
            OneOrManyUrls,
        ),
        f("summary", "summary", "Option<String>", Optional, Str),
        f("removeData", "remove_data", "Option<bool>", Optional, Bool),
    ],
};

/// crates/apub/src/protocol/activities/following/follow.rs, struct Follow.
const FOLLOW: Contract = Contract {
    name: "Follow",
    file: "crates/apub/src/protocol/activities/following/follow.rs",
    fields: &[
        f(
            "actor",
            "actor",
            "ObjectId<ApubPerson>",
            Required,
            PERSON_REF,
        ),
        f(
            "to",
            "to",
            "Option<[ObjectId<UserOrCommunity>; 1]>, deserialize_skip_error",
            SkipError,
            OneUrlArray,
        ),
        f(
            "object",
            "object",
            "ObjectId<UserOrCommunity>",
            Required,
            Ref("ObjectId<UserOrCommunity>", USER_OR_COMMUNITY_KINDS),
        ),
        f("type", "kind", "FollowType", Required, OneOf(&["Follow"])),
        f("id", "id", "Url", Required, Url),
    ],
};

/// crates/apub/src/protocol/activities/following/accept.rs, struct AcceptFollow.
const ACCEPT_FOLLOW: Contract = Contract {
    name: "AcceptFollow",
    file: "crates/apub/src/protocol/activities/following/accept.rs",
    fields: &[
        f(
            "actor",
            "actor",
            "ObjectId<ApubCommunity>",
            Required,
            GROUP_REF,
        ),
        f(
            "to",
            "to",
            "Option<[ObjectId<ApubPerson>; 1]>, deserialize_skip_error",
            SkipError,
            OneUrlArray,
        ),
        f("object", "object", "Follow", Required, Struct(&FOLLOW)),
        f("type", "kind", "AcceptType", Required, OneOf(&["Accept"])),
        f("id", "id", "Url", Required, Url),
    ],
};

/// How a Lemmy user finds a community by its handle: activitypub_federation 0.5.11
/// src/fetch/webfinger.rs, struct Webfinger (read by webfinger_resolve_actor).
const WEBFINGER: Contract = Contract {
    name: "Webfinger",
    file: "(activitypub-federation-rust 0.5.11) src/fetch/webfinger.rs",
    fields: &[
        f("subject", "subject", "String", Required, Str),
        f(
            "links",
            "links",
            "Vec<WebfingerLink>",
            Required,
            ListOf(&Struct(&WEBFINGER_LINK)),
        ),
        f(
            "aliases",
            "aliases",
            "Vec<Url>, #[serde(default)]",
            Defaulted,
            ListOf(&Url),
        ),
        f(
            "properties",
            "properties",
            "HashMap<Url, String>, #[serde(default)]",
            Defaulted,
            UrlKeyedStrings,
        ),
    ],
};

/// activitypub_federation 0.5.11 src/fetch/webfinger.rs, struct WebfingerLink.
const WEBFINGER_LINK: Contract = Contract {
    name: "WebfingerLink",
    file: "(activitypub-federation-rust 0.5.11) src/fetch/webfinger.rs",
    fields: &[
        f("rel", "rel", "Option<String>", Optional, Str),
        f("type", "kind", "Option<String>", Optional, Str),
        f("href", "href", "Option<Url>", Optional, Url),
        f("template", "template", "Option<String>", Optional, Str),
        f(
            "properties",
            "properties",
            "HashMap<Url, String>, #[serde(default)]",
            Defaulted,
            UrlKeyedStrings,
        ),
    ],
};

// ---- the checker ----

/// Lemmy's `Accept` when it fetches (activitypub_federation 0.5.11 src/lib.rs
/// FEDERATION_CONTENT_TYPE).
const LEMMY_ACCEPT: &str = "application/activity+json";
/// The only response Content-Types Lemmy's fetcher takes (activitypub_federation 0.5.11
/// src/fetch/mod.rs, fetch_object_http, VALID_RESPONSE_CONTENT_TYPES; compared lowercased).
const LEMMY_CONTENT_TYPES: &[&str] = &[
    "application/activity+json",
    "application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\"",
    "application/activity+json; charset=utf-8",
];

/// An `ObjectId<T>` Lemmy would dereference, to check once the walk is over.
struct Deref {
    at: String,
    url: String,
    target: &'static str,
    kinds: &'static [&'static str],
    cite: String,
}

#[derive(Default)]
struct Report {
    problems: Vec<String>,
    derefs: Vec<Deref>,
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 120 {
        format!("{}…", text.chars().take(120).collect::<String>())
    } else {
        text
    }
}

fn describe(shape: &Shape) -> String {
    match shape {
        Url => "a URL string".into(),
        Ref(target, kinds) => format!(
            "a URL string ({target}, dereferenced as a {})",
            kinds.join(" | ")
        ),
        Str => "a string".into(),
        Bool => "a boolean".into(),
        Date => "an RFC 3339 date string (chrono DateTime<Utc>)".into(),
        OneOf(values) => format!("one of the strings {values:?}"),
        OneOrManyUrls => "a URL string or an array of URL strings".into(),
        OneUrlArray => "an array of exactly one URL string".into(),
        Struct(c) => format!("an object ({})", c.name),
        ListOf(item) => format!("an array of {}", describe(item)),
        IdOr(c) => format!("a URL string or an object ({})", c.name),
        AttributedTo => "a URL string, or an array of {type, id} with a Person".into(),
        UrlKeyedStrings => "an object whose keys are URLs and values strings".into(),
        PublicKeyPem => "an RSA public key in PEM, which Lemmy verifies the actor's signatures \
                         with (activitypub_federation 0.5.11 src/http_signatures.rs \
                         verify_signature_inner, RsaPublicKey::from_public_key_pem)"
            .into(),
        Attachment => "an object of type Link {href}, Image {url} or Document {url}".into(),
        Any => "any value".into(),
    }
}

impl Report {
    fn problem(&mut self, text: String) {
        self.problems.push(text);
    }

    /// Checks `value` against Lemmy's struct `contract`; `at` names it in messages.
    fn check(&mut self, contract: &Contract, value: &Value, at: &str) {
        let Some(map) = value.as_object() else {
            self.problem(format!(
                "{at} is {}, but lemmy {} reads it as the struct {}",
                short(value),
                contract.file,
                contract.name
            ));
            return;
        };
        for field in contract.fields {
            let cite = format!(
                "lemmy {} {}::{} ({})",
                contract.file, contract.name, field.rust, field.ty
            );
            let here = format!("{at}.{}", field.json);
            match (map.get(field.json), field.need) {
                (None, Required) => {
                    self.problem(format!("{at} lacks `{}`, required by {cite}", field.json))
                }
                (Some(Value::Null), Required) => {
                    self.problem(format!("{here} is null, refused by {cite}"))
                }
                (Some(Value::Null), Defaulted) => self.problem(format!(
                    "{here} is null, refused by {cite}: serde's default covers an absent field, \
                     not null (omit it or send [])"
                )),
                (None | Some(Value::Null), _) => {}
                (Some(v), Absent) => self.problem(format!(
                    "{here} is {}, but {cite} refuses any value",
                    short(v)
                )),
                (Some(v), need) => {
                    let before = self.problems.len();
                    self.shape(&field.shape, v, &here, &cite);
                    if need == SkipError {
                        for p in &mut self.problems[before..] {
                            p.push_str(" (deserialize_skip_error: Lemmy silently drops the field)");
                        }
                    }
                }
            }
        }
    }

    fn mismatch(&mut self, shape: &Shape, value: &Value, at: &str, cite: &str) {
        self.problem(format!(
            "{at} is {}, but {cite} needs {}",
            short(value),
            describe(shape)
        ));
    }

    fn url(&mut self, value: &Value, at: &str, cite: &str) -> bool {
        // Exactly what Lemmy's serde does with a `Url` or `ObjectId`.
        if value.is_string() && serde_json::from_value::<url::Url>(value.clone()).is_ok() {
            true
        } else {
            self.mismatch(&Url, value, at, cite);
            false
        }
    }

    fn shape(&mut self, shape: &Shape, value: &Value, at: &str, cite: &str) {
        match *shape {
            Url => {
                self.url(value, at, cite);
            }
            Ref(target, kinds) => {
                if self.url(value, at, cite) {
                    self.derefs.push(Deref {
                        at: at.into(),
                        url: value.as_str().unwrap_or_default().into(),
                        target,
                        kinds,
                        cite: cite.into(),
                    });
                }
            }
            Str => {
                if !value.is_string() {
                    self.mismatch(shape, value, at, cite);
                }
            }
            Bool => {
                if !value.is_boolean() {
                    self.mismatch(shape, value, at, cite);
                }
            }
            Date => {
                if serde_json::from_value::<chrono::DateTime<chrono::Utc>>(value.clone()).is_err() {
                    self.mismatch(shape, value, at, cite);
                }
            }
            OneOf(values) => {
                if !value.as_str().is_some_and(|s| values.contains(&s)) {
                    self.mismatch(shape, value, at, cite);
                }
            }
            OneOrManyUrls => match value {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.url(item, &format!("{at}[{i}]"), cite);
                    }
                }
                other => {
                    self.url(other, at, cite);
                }
            },
            OneUrlArray => match value.as_array() {
                Some(items) if items.len() == 1 => {
                    self.url(&items[0], &format!("{at}[0]"), cite);
                }
                _ => self.mismatch(shape, value, at, cite),
            },
            Struct(contract) => {
                if value.is_object() {
                    self.check(contract, value, at);
                } else {
                    self.mismatch(shape, value, at, cite);
                }
            }
            ListOf(item) => match value.as_array() {
                Some(items) => {
                    for (i, v) in items.iter().enumerate() {
                        self.shape(item, v, &format!("{at}[{i}]"), cite);
                    }
                }
                None => self.mismatch(shape, value, at, cite),
            },
            IdOr(contract) => {
                if value.is_string() {
                    self.url(value, at, cite);
                } else if value.is_object() {
                    self.check(contract, value, at);
                } else {
                    self.mismatch(shape, value, at, cite);
                }
            }
            AttributedTo => match value {
                Value::String(_) => {
                    // `Page::creator()`: the URL is the creator, dereferenced as a Person.
                    self.shape(&PERSON_REF, value, at, cite);
                }
                Value::Array(items) => {
                    let mut people = 0;
                    for (i, item) in items.iter().enumerate() {
                        let kind = item.get("type").and_then(Value::as_str);
                        if !matches!(kind, Some("Person" | "Group")) {
                            self.mismatch(shape, value, &format!("{at}[{i}].type"), cite);
                        }
                        people += usize::from(kind == Some("Person"));
                        self.url(
                            item.get("id").unwrap_or(&Value::Null),
                            &format!("{at}[{i}].id"),
                            cite,
                        );
                    }
                    if people == 0 {
                        self.problem(format!(
                            "{at} names no Person: lemmy crates/apub/src/protocol/objects/page.rs \
                             Page::creator fails with PageDoesNotSpecifyCreator"
                        ));
                    }
                }
                _ => self.mismatch(shape, value, at, cite),
            },
            Attachment => {
                // Untagged: the first variant that reads wins; none reading is an error.
                let fits = [&LINK, &IMAGE, &DOCUMENT].iter().any(|c| {
                    let mut trial = Report::default();
                    trial.check(c, value, at);
                    trial.problems.is_empty()
                });
                if !fits {
                    self.mismatch(shape, value, at, cite);
                }
            }
            PublicKeyPem => {
                use rsa::pkcs8::DecodePublicKey;
                let pem = value.as_str().unwrap_or_default();
                if rsa::RsaPublicKey::from_public_key_pem(pem).is_err() {
                    self.mismatch(shape, value, at, cite);
                }
            }
            UrlKeyedStrings => match value.as_object() {
                Some(map) => {
                    for (k, v) in map {
                        if url::Url::parse(k).is_err() || !v.is_string() {
                            self.mismatch(shape, value, &format!("{at}[{k:?}]"), cite);
                        }
                    }
                }
                None => self.mismatch(shape, value, at, cite),
            },
            Any => {}
        }
    }

    /// Fetches every `ObjectId` met, as Lemmy's fetcher would, and checks what it is.
    async fn dereference_all(&mut self, client: &reqwest::Client) {
        let mut seen: HashMap<String, Result<Value, String>> = HashMap::new();
        for d in std::mem::take(&mut self.derefs) {
            if !seen.contains_key(&d.url) {
                let fetched = fetch_as_lemmy(client, &d.url).await;
                seen.insert(d.url.clone(), fetched);
            }
            match &seen[&d.url] {
                Err(e) => self.problem(format!(
                    "{} = {}: Lemmy dereferences it ({}) and fails: {e}",
                    d.at, d.url, d.cite
                )),
                Ok(object) => {
                    let kind = object.get("type").and_then(Value::as_str).unwrap_or("?");
                    if !d.kinds.contains(&kind) {
                        self.problem(format!(
                            "{} = {} is a `{kind}`, but Lemmy dereferences it as {} ({}), which \
                             accepts only a {}",
                            d.at,
                            d.url,
                            d.target,
                            d.cite,
                            d.kinds.join(" | ")
                        ));
                    }
                }
            }
        }
    }

    /// A check from one of Lemmy's `verify` functions.
    fn rule(&mut self, holds: bool, text: impl FnOnce() -> String) {
        if !holds {
            self.problems.push(text());
        }
    }

    fn assert_ok(&self, what: &str, json: &Value) {
        let mut json = json.clone();
        if let Value::Object(map) = &mut json {
            map.remove("@context");
        }
        assert!(
            self.problems.is_empty(),
            "Lemmy 0.19 would not accept {what}: {} problem(s)\n- {}\n\nThe JSON:\n{}",
            self.problems.len(),
            self.problems.join("\n- "),
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
    }
}

/// GET `url` as Lemmy's fetcher does (activitypub_federation 0.5.11 src/fetch/mod.rs,
/// fetch_object_http): a 410 is "deleted", the Content-Type must be one of three, and the
/// object's `id` must be the URL fetched.
async fn fetch_as_lemmy(client: &reqwest::Client, url: &str) -> Result<Value, String> {
    let response = client
        .get(url)
        .header("accept", LEMMY_ACCEPT)
        .send()
        .await
        .map_err(|e| format!("GET failed: {e}"))?;
    let status = response.status();
    if status != StatusCode::OK {
        return Err(format!("GET answered {status}"));
    }
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_lowercase)
        .unwrap_or_default();
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("not JSON: {e}"))?;
    if !LEMMY_CONTENT_TYPES.contains(&content_type.as_str()) {
        return Err(format!(
            "Content-Type `{content_type}` is not one of {LEMMY_CONTENT_TYPES:?} \
             (activitypub_federation 0.5.11 src/fetch/mod.rs fetch_object_http)"
        ));
    }
    let id = body.get("id").and_then(Value::as_str).map(url::Url::parse);
    if id.and_then(Result::ok) != url::Url::parse(url).ok() {
        return Err(format!(
            "its `id` {} is not the URL fetched (activitypub_federation 0.5.11 \
             src/fetch/mod.rs fetch_object_http: FetchWrongId)",
            body.get("id").map(short).unwrap_or_default()
        ));
    }
    Ok(body)
}

// ---- Lemmy's verify functions, as rules ----

/// A one-or-many URL field as a list of strings.
fn urls(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => vec![],
    }
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The id of an `IdOrNestedObject`.
fn object_id(value: &Value) -> String {
    match value.get("object") {
        Some(Value::String(s)) => s.clone(),
        Some(o) => text(o, "id"),
        None => String::new(),
    }
}

/// Scheme, host and port. Lemmy's `verify_domains_match` compares only `Url::domain()`; the
/// origin is stricter, so what passes here passes there.
fn origin(raw: &str) -> Option<String> {
    url::Url::parse(raw)
        .ok()
        .map(|u| u.origin().ascii_serialization())
}

fn same_origin(a: &str, b: &str) -> bool {
    origin(a).is_some() && origin(a) == origin(b)
}

/// crates/apub/src/activities/mod.rs verify_is_public: `to` or `cc` names as:Public.
fn is_public(value: &Value, fields: &[&str]) -> bool {
    fields
        .iter()
        .any(|f| urls(value.get(*f)).iter().any(|u| u == PUBLIC))
}

/// Any activity posted to an inbox: activitypub_federation 0.5.11 src/lib.rs
/// parse_received_activity calls src/config.rs verify_url_and_domain, which requires the
/// activity's `id` on the `actor`'s domain.
fn inbox_rules(r: &mut Report, activity: &Value, at: &str) {
    let (id, actor) = (text(activity, "id"), text(activity, "actor"));
    r.rule(same_origin(&id, &actor), || {
        format!(
            "{at}.id {id} is not on the domain of its actor {actor} (activitypub_federation \
             0.5.11 src/config.rs verify_url_and_domain)"
        )
    });
}

/// A post as `ApubPost::verify` (crates/apub/src/objects/post.rs) and `Page::community`
/// (crates/apub/src/protocol/objects/page.rs, InCommunity) check it, and the title
/// `ApubPost::from_json` needs.
fn page_rules(r: &mut Report, page: &Value, at: &str, group: &str) {
    r.rule(is_public(page, &["to", "cc"]), || {
        format!(
            "{at} is not public: neither `to` nor `cc` names {PUBLIC} (lemmy \
             crates/apub/src/objects/post.rs ApubPost::verify calls verify_is_public)"
        )
    });
    let (id, creator) = (text(page, "id"), text(page, "attributedTo"));
    r.rule(same_origin(&creator, &id), || {
        format!(
            "{at}.attributedTo {creator} is not on the domain of its id {id} (lemmy \
             crates/apub/src/objects/post.rs ApubPost::verify, verify_domains_match)"
        )
    });
    let audience = page.get("audience").and_then(Value::as_str);
    let addressed: Vec<String> = [urls(page.get("to")), urls(page.get("cc"))].concat();
    r.rule(
        audience == Some(group) || (audience.is_none() && addressed.iter().any(|u| u == group)),
        || {
            format!(
                "{at} does not name its community {group}: Lemmy takes `audience`, else the first \
                 Group in `to`/`cc` (lemmy crates/apub/src/protocol/objects/page.rs, \
                 InCommunity for Page)"
            )
        },
    );
    let titled = page.get("name").is_some_and(Value::is_string)
        || page.get("content").is_some_and(Value::is_string);
    r.rule(titled, || {
        format!(
            "{at} has neither `name` nor `content`: \"Object must have name or content\" (lemmy \
             crates/apub/src/objects/post.rs ApubPost::from_json)"
        )
    });
}

/// A comment as `ApubComment::verify` (crates/apub/src/objects/comment.rs) and `Note::community`
/// (crates/apub/src/protocol/objects/note.rs, InCommunity) check it.
fn note_rules(r: &mut Report, note: &Value, at: &str, group: &str) {
    r.rule(is_public(note, &["to", "cc"]), || {
        format!(
            "{at} is not public: neither `to` nor `cc` names {PUBLIC} (lemmy \
             crates/apub/src/objects/comment.rs ApubComment::verify calls verify_is_public)"
        )
    });
    let (id, author) = (text(note, "id"), text(note, "attributedTo"));
    r.rule(same_origin(&author, &id), || {
        format!(
            "{at}.attributedTo {author} is not on the domain of its id {id} (lemmy \
             crates/apub/src/objects/comment.rs ApubComment::verify, verify_domains_match)"
        )
    });
    if let Some(audience) = note.get("audience").and_then(Value::as_str) {
        r.rule(audience == group, || {
            format!(
                "{at}.audience {audience} is not the community of its post {group} (lemmy \
                 crates/apub/src/protocol/objects/note.rs InCommunity for Note, \
                 verify_community_matches)"
            )
        });
    }
}

/// `CreateOrUpdatePage::verify` (crates/apub/src/activities/create_or_update/post.rs) and
/// `CreateOrUpdateNote::verify` (crates/apub/src/activities/create_or_update/comment.rs), which
/// check the same things; `which` is the struct for messages.
fn create_or_update_rules(r: &mut Report, activity: &Value, at: &str, which: &str, group: &str) {
    let file = if which == "CreateOrUpdatePage" {
        "crates/apub/src/activities/create_or_update/post.rs"
    } else {
        "crates/apub/src/activities/create_or_update/comment.rs"
    };
    r.rule(is_public(activity, &["to", "cc"]), || {
        format!(
            "{at} is not public: neither `to` nor `cc` names {PUBLIC} (lemmy {file} \
             {which}::verify calls verify_is_public)"
        )
    });
    let object = activity.get("object").unwrap_or(&Value::Null);
    let (actor, id, creator) = (
        text(activity, "actor"),
        text(object, "id"),
        text(object, "attributedTo"),
    );
    r.rule(same_origin(&actor, &id), || {
        format!(
            "{at}.actor {actor} is not on the domain of the object {id} (lemmy {file} \
             {which}::verify, verify_domains_match)"
        )
    });
    r.rule(actor == creator, || {
        format!(
            "{at}.actor {actor} is not the object's attributedTo {creator}: only the author may \
             create or update it (lemmy {file} {which}::verify, verify_urls_match)"
        )
    });
    if let Some(audience) = activity.get("audience").and_then(Value::as_str) {
        r.rule(audience == group, || {
            format!(
                "{at}.audience {audience} is not the community {group} (lemmy \
                 crates/apub/src/protocol/activities/create_or_update/*.rs {which}::community, \
                 verify_community_matches)"
            )
        });
    }
}

/// `verify_delete_activity` and `verify_delete_post_or_comment` in
/// crates/apub/src/activities/deletion/mod.rs (for a post or a comment).
fn delete_rules(r: &mut Report, activity: &Value, at: &str, group: &str) {
    r.rule(is_public(activity, &["to"]), || {
        format!(
            "{at}.to does not name {PUBLIC}: for a Delete only `to` counts (lemmy \
             crates/apub/src/activities/deletion/mod.rs verify_delete_activity calls \
             verify_is_public(&activity.to, &[]))"
        )
    });
    let (actor, id) = (text(activity, "actor"), object_id(activity));
    if activity.get("summary").is_some_and(Value::is_string) {
        // A removal by a moderator: verify_mod_action (crates/apub/src/activities/mod.rs)
        // accepts a moderator, or any Person on the community's own domain.
        r.rule(same_origin(&actor, group), || {
            format!(
                "{at} has a `summary`, so Lemmy takes it for a moderator's removal, but its actor \
                 {actor} is not on the community's domain (lemmy crates/apub/src/activities/mod.rs \
                 verify_mod_action)"
            )
        });
    } else {
        r.rule(same_origin(&actor, &id), || {
            format!(
                "{at}.actor {actor} is not on the domain of the deleted object {id}, and without \
                 a `summary` it is not a moderator's removal (lemmy \
                 crates/apub/src/activities/deletion/mod.rs verify_delete_post_or_comment)"
            )
        });
    }
}

/// `UpdateCommunity::verify` (crates/apub/src/activities/community/update.rs).
fn update_community_rules(r: &mut Report, update: &Value, at: &str, group: &str) {
    r.rule(is_public(update, &["to", "cc"]), || {
        format!(
            "{at} is not public: neither `to` nor `cc` names {PUBLIC} (lemmy \
             crates/apub/src/activities/community/update.rs UpdateCommunity::verify)"
        )
    });
    let actor = text(update, "actor");
    r.rule(same_origin(&actor, group), || {
        format!(
            "{at}.actor {actor} is neither a moderator nor on the community's domain (lemmy \
             crates/apub/src/activities/community/update.rs UpdateCommunity::verify calls \
             verify_mod_action, crates/apub/src/activities/mod.rs)"
        )
    });
    let id = text(&update["object"], "id");
    r.rule(id == group, || {
        format!(
            "{at}.object.id {id} is not the community {group} (lemmy \
             crates/apub/src/protocol/activities/community/update.rs UpdateCommunity::community)"
        )
    });
}

/// `AnnounceActivity::verify` (crates/apub/src/activities/community/announce.rs).
fn announce_rules(r: &mut Report, announce: &Value, at: &str) {
    r.rule(is_public(announce, &["to", "cc"]), || {
        format!(
            "{at} is not public: neither `to` nor `cc` names {PUBLIC} (lemmy \
             crates/apub/src/activities/community/announce.rs AnnounceActivity::verify)"
        )
    });
}

/// `AcceptFollow::verify` (crates/apub/src/activities/following/accept.rs).
fn accept_rules(r: &mut Report, accept: &Value, at: &str) {
    let follow = accept.get("object").unwrap_or(&Value::Null);
    let (actor, followed) = (text(accept, "actor"), text(follow, "object"));
    r.rule(actor == followed, || {
        format!(
            "{at}.actor {actor} is not the followed object {followed} (lemmy \
             crates/apub/src/activities/following/accept.rs AcceptFollow::verify, \
             verify_urls_match)"
        )
    });
    if let Some(to) = urls(accept.get("to")).first() {
        let follower = text(follow, "actor");
        r.rule(*to == follower, || {
            format!(
                "{at}.to[0] {to} is not the follower {follower} (lemmy \
                 crates/apub/src/activities/following/accept.rs AcceptFollow::verify)"
            )
        });
    }
}

// ---- Palabre's JSON: a real node, a follower, a debate ----

struct Scenario {
    origin: TestApp,
    /// Keeps the follower's node (and its actor) up while the test fetches from it.
    _remote: TestApp,
    group: String,
    alice: String,
    page: String,
    note: String,
    source: String,
    withdrawn_page: String,
    withdrawn_note: String,
    /// Every activity queued for delivery, in queue order.
    sent: Vec<Value>,
}

async fn api_ok(app: &TestApp, method: Method, path: String, token: &str, body: Value) -> Value {
    let (status, answer) = app.api(method, &path, Some(token), Some(body)).await;
    assert!(status.is_success(), "{path}: {status} {answer}");
    answer
}

async fn scenario() -> Scenario {
    let origin = TestApp::spawn_federating().await;
    let remote = TestApp::spawn_federating().await;
    let admin = origin.user_token("orga", Role::Admin).await;
    origin.consultation(&admin, "velo", 30).await;
    let group = format!("{}/consultations/velo", origin.url);

    // A follower on another node, as a Lemmy user would be. Lemmy resolves the community (fetches
    // the Group) before it sends its Follow.
    fetch_as_lemmy(&origin.client, &group).await.unwrap();
    remote.create_user("claire", Role::Member, None).await;
    let claire = accounts::find_by_username(&remote.state.db, "claire")
        .await
        .unwrap();
    let claire = keys::ensure_account_keys(&remote.state, claire)
        .await
        .unwrap();
    let claire = DbPerson::new(&remote.state, claire).unwrap();
    let follow = json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "type": "Follow",
        "id": format!("{}/activities/follow/lemmy-contract", remote.url),
        "actor": claire.ap_id,
        "object": group,
        "to": [group],
    });
    let status = send_signed(
        &remote,
        &claire,
        &format!("{}/inbox", origin.url),
        &follow,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let alice = origin.user_token("alice", Role::Member).await;
    let bob = origin.user_token("bob", Role::Member).await;
    let propose = |title: &'static str| {
        api_ok(
            &origin,
            Method::POST,
            "/api/v1/consultations/velo/proposals".into(),
            &alice,
            json!({"title": title, "body": "Des **pistes** protégées, [plan](https://example.org/plan)."}),
        )
    };
    let page = propose("Des pistes cyclables").await["id"]
        .as_i64()
        .unwrap();
    let argue = |stance: &'static str| {
        api_ok(
            &origin,
            Method::POST,
            format!("/api/v1/proposals/{page}/arguments"),
            &bob,
            json!({"stance": stance, "body": "Plus *sûr* pour les enfants."}),
        )
    };
    let note = argue("for").await["id"].as_i64().unwrap();
    let source = api_ok(
        &origin,
        Method::POST,
        format!("/api/v1/proposals/{page}/sources"),
        &bob,
        json!({"title": "Étude", "url": "https://example.org/etude", "description": "Chiffres 2024"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let withdrawn_note = argue("against").await["id"].as_i64().unwrap();
    let (status, _) = origin
        .api(
            Method::DELETE,
            &format!("/api/v1/arguments/{withdrawn_note}"),
            Some(&bob),
            None,
        )
        .await;
    assert!(status.is_success(), "withdrawing the argument: {status}");
    let withdrawn_page = propose("Une proposition retirée").await["id"]
        .as_i64()
        .unwrap();
    let (status, _) = origin
        .api(
            Method::DELETE,
            &format!("/api/v1/proposals/{withdrawn_page}"),
            Some(&alice),
            None,
        )
        .await;
    assert!(status.is_success(), "withdrawing the proposal: {status}");
    api_ok(
        &origin,
        Method::PATCH,
        format!("/api/v1/proposals/{page}"),
        &alice,
        json!({"title": "Des pistes cyclables protégées", "body": "Corps **modifié**."}),
    )
    .await;
    api_ok(
        &origin,
        Method::PATCH,
        "/api/v1/consultations/velo".into(),
        &admin,
        json!({"title": "Plan vélo 2030"}),
    )
    .await;
    api_ok(
        &origin,
        Method::PATCH,
        format!("/api/v1/arguments/{note}"),
        &bob,
        json!({"body": "Plus *sûr* pour tous."}),
    )
    .await;

    let sent = delivery::Entity::find()
        .order_by_asc(delivery::Column::Id)
        .all(&origin.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| serde_json::from_str(&row.payload).unwrap())
        .collect();
    let url = origin.url.clone();
    Scenario {
        group,
        alice: format!("{url}/users/alice"),
        page: format!("{url}/proposals/{page}"),
        note: format!("{url}/arguments/{note}"),
        source: format!("{url}/sources/{source}"),
        withdrawn_page: format!("{url}/proposals/{withdrawn_page}"),
        withdrawn_note: format!("{url}/arguments/{withdrawn_note}"),
        sent,
        origin,
        _remote: remote,
    }
}

impl Scenario {
    fn sent_of_type(&self, kind: &str) -> Vec<&Value> {
        self.sent.iter().filter(|a| a["type"] == kind).collect()
    }

    /// The `Announce(Create(X))` of the object `id`.
    fn announce_create(&self, id: &str) -> &Value {
        self.sent_of_type("Announce")
            .into_iter()
            .find(|a| a["object"]["type"] == "Create" && a["object"]["object"]["id"] == id)
            .unwrap_or_else(|| {
                panic!(
                    "no Announce(Create) of {id} was queued; queued: {}",
                    self.kinds()
                )
            })
    }

    fn kinds(&self) -> String {
        self.sent
            .iter()
            .map(|a| match a["object"]["type"].as_str() {
                Some(inner) => format!("{}({inner})", a["type"].as_str().unwrap_or("?")),
                None => a["type"].as_str().unwrap_or("?").to_owned(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// What the follower receives about `id` with the activity type `kind`, in either form
    /// Lemmy could accept: the activity itself, or an `Announce` of it.
    fn about(&self, kind: &str, id: &str) -> Vec<&Value> {
        self.sent
            .iter()
            .filter(|a| {
                let direct = a["type"] == kind && object_id(a) == id;
                let announced = a["type"] == "Announce"
                    && a["object"]["type"] == kind
                    && object_id(&a["object"]) == id;
                direct || announced
            })
            .collect()
    }

    async fn fetch(&self, url: &str) -> Value {
        fetch_as_lemmy(&self.origin.client, url)
            .await
            .unwrap_or_else(|e| panic!("Lemmy cannot fetch {url}: {e}"))
    }
}

/// Checks an activity about a post or comment as Lemmy's inbox would take it: directly (an
/// `AnnouncableActivities` variant reached through `RawAnnouncableActivities`), or inside an
/// `Announce`.
async fn check_relayed(
    s: &Scenario,
    activity: &Value,
    inner: &Contract,
    inner_rules: impl Fn(&mut Report, &Value, &str),
) -> Report {
    let mut r = Report::default();
    let kind = activity["type"].as_str().unwrap_or("?");
    inbox_rules(&mut r, activity, kind);
    if kind == "Announce" {
        let at = format!(
            "Announce({})",
            activity["object"]["type"].as_str().unwrap_or("?")
        );
        r.check(&ANNOUNCE, activity, &at);
        announce_rules(&mut r, activity, &at);
        let object = &activity["object"];
        let at = format!("{at}.object");
        r.check(inner, object, &at);
        inner_rules(&mut r, object, &at);
    } else {
        r.check(inner, activity, kind);
        inner_rules(&mut r, activity, kind);
    }
    r.dereference_all(&s.origin.client).await;
    r
}

/// `Ok` when at least one of `candidates` would be accepted; else why each one is not.
async fn one_accepted(
    s: &Scenario,
    what: &str,
    candidates: Vec<&Value>,
    inner: &Contract,
    inner_rules: impl Fn(&mut Report, &Value, &str) + Copy,
) -> Result<(), String> {
    if candidates.is_empty() {
        return Err(format!(
            "no {what} was queued for the follower; queued: {}",
            s.kinds()
        ));
    }
    let mut why = vec![];
    for candidate in &candidates {
        let report = check_relayed(s, candidate, inner, inner_rules).await;
        if report.problems.is_empty() {
            return Ok(());
        }
        let mut shown = (*candidate).clone();
        if let Value::Object(map) = &mut shown {
            map.remove("@context");
        }
        why.push(format!(
            "{}:\n- {}\n{}",
            candidate["id"],
            report.problems.join("\n- "),
            serde_json::to_string_pretty(&shown).unwrap_or_default()
        ));
    }
    Err(format!(
        "Lemmy 0.19 would accept none of the {} {what} activities queued:\n\n{}",
        candidates.len(),
        why.join("\n\n")
    ))
}

fn assert_all_ok(results: Vec<Result<(), String>>) {
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---- the tests ----

#[tokio::test]
async fn lemmy_reads_the_consultation_as_a_community() {
    let s = scenario().await;
    let group = s.fetch(&s.group).await;
    let mut r = Report::default();
    r.check(&GROUP, &group, "Group");
    r.dereference_all(&s.origin.client).await;
    r.assert_ok("the Group", &group);
}

#[tokio::test]
async fn lemmy_reads_an_account_as_a_person() {
    let s = scenario().await;
    let person = s.fetch(&s.alice).await;
    let mut r = Report::default();
    r.check(&PERSON, &person, "Person");
    r.dereference_all(&s.origin.client).await;
    r.assert_ok("the Person", &person);
}

#[tokio::test]
async fn lemmy_reads_a_proposal_as_a_post() {
    let s = scenario().await;
    let page = s.fetch(&s.page).await;
    let mut r = Report::default();
    r.check(&PAGE, &page, "Page");
    page_rules(&mut r, &page, "Page", &s.group);
    r.dereference_all(&s.origin.client).await;
    r.assert_ok("the Page", &page);
}

#[tokio::test]
async fn lemmy_reads_an_argument_and_a_source_as_comments() {
    let s = scenario().await;
    for (url, what) in [(&s.note, "argument"), (&s.source, "source")] {
        let note = s.fetch(url).await;
        let mut r = Report::default();
        r.check(&NOTE, &note, "Note");
        note_rules(&mut r, &note, "Note", &s.group);
        r.dereference_all(&s.origin.client).await;
        r.assert_ok(&format!("the Note of an {what}"), &note);
    }
}

#[tokio::test]
async fn lemmy_accepts_the_announce_of_a_new_proposal() {
    let s = scenario().await;
    let announce = s.announce_create(&s.page);
    let group = s.group.clone();
    let r = check_relayed(&s, announce, &CREATE_OR_UPDATE_PAGE, |r, create, at| {
        create_or_update_rules(r, create, at, "CreateOrUpdatePage", &group);
        page_rules(r, &create["object"], &format!("{at}.object"), &group);
    })
    .await;
    r.assert_ok("Announce(Create(Page))", announce);
}

#[tokio::test]
async fn lemmy_accepts_the_announce_of_a_new_argument_and_source() {
    let s = scenario().await;
    for id in [&s.note, &s.source] {
        let announce = s.announce_create(id);
        let group = s.group.clone();
        let r = check_relayed(&s, announce, &CREATE_OR_UPDATE_NOTE, |r, create, at| {
            create_or_update_rules(r, create, at, "CreateOrUpdateNote", &group);
            note_rules(r, &create["object"], &format!("{at}.object"), &group);
        })
        .await;
        r.assert_ok("Announce(Create(Note))", announce);
    }
}

#[tokio::test]
async fn lemmy_accepts_the_update_of_an_edited_proposal_and_argument() {
    let s = scenario().await;
    let group = s.group.as_str();
    let page_rules = |r: &mut Report, update: &Value, at: &str| {
        create_or_update_rules(r, update, at, "CreateOrUpdatePage", group);
        page_rules(r, &update["object"], &format!("{at}.object"), group);
    };
    let note_rules = |r: &mut Report, update: &Value, at: &str| {
        create_or_update_rules(r, update, at, "CreateOrUpdateNote", group);
        note_rules(r, &update["object"], &format!("{at}.object"), group);
    };
    assert_all_ok(vec![
        one_accepted(
            &s,
            "Update(Page)",
            s.about("Update", &s.page),
            &CREATE_OR_UPDATE_PAGE,
            page_rules,
        )
        .await,
        one_accepted(
            &s,
            "Update(Note)",
            s.about("Update", &s.note),
            &CREATE_OR_UPDATE_NOTE,
            note_rules,
        )
        .await,
    ]);
}

#[tokio::test]
async fn lemmy_accepts_the_update_of_a_changed_consultation() {
    let s = scenario().await;
    let group = s.group.as_str();
    let rules = |r: &mut Report, update: &Value, at: &str| {
        update_community_rules(r, update, at, group);
    };
    let result = one_accepted(
        &s,
        "Update(Group)",
        s.about("Update", &s.group),
        &UPDATE_COMMUNITY,
        rules,
    )
    .await;
    assert_all_ok(vec![result]);
}

#[tokio::test]
async fn lemmy_accepts_the_delete_of_a_withdrawn_proposal_and_argument() {
    let s = scenario().await;
    let group = s.group.as_str();
    let rules = |r: &mut Report, delete: &Value, at: &str| delete_rules(r, delete, at, group);
    let mut results = vec![];
    for (id, what) in [
        (&s.withdrawn_page, "Delete of a proposal"),
        (&s.withdrawn_note, "Delete of an argument"),
    ] {
        results.push(one_accepted(&s, what, s.about("Delete", id), &DELETE, rules).await);
    }
    assert_all_ok(results);
}

#[tokio::test]
async fn lemmy_accepts_the_accept_of_its_follow() {
    let s = scenario().await;
    let accepts = s.sent_of_type("Accept");
    assert_eq!(accepts.len(), 1, "one Accept; queued: {}", s.kinds());
    let accept = accepts[0];
    let mut r = Report::default();
    inbox_rules(&mut r, accept, "Accept");
    r.check(&ACCEPT_FOLLOW, accept, "Accept");
    accept_rules(&mut r, accept, "Accept");
    r.dereference_all(&s.origin.client).await;
    r.assert_ok("Accept(Follow)", accept);
}

#[tokio::test]
async fn lemmy_finds_the_consultation_by_its_handle() {
    let app = TestApp::spawn_federating().await;
    let admin = app.user_token("orga", Role::Admin).await;
    app.consultation(&admin, "velo", 30).await;
    // webfinger_resolve_actor (activitypub_federation 0.5.11 src/fetch/webfinger.rs): in debug
    // mode (plain http, a port) it asks the domain given in the handle.
    let identifier = format!("velo@{}", app.state.settings.domain());
    let response = app
        .client
        .get(format!(
            "{}/.well-known/webfinger?resource=acct:{identifier}",
            app.url
        ))
        .header("accept", "application/jrd+json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let webfinger: Value = response.json().await.unwrap();
    let mut r = Report::default();
    r.check(&WEBFINGER, &webfinger, "Webfinger");
    let subject = text(&webfinger, "subject");
    r.rule(subject == format!("acct:{identifier}"), || {
        format!(
            "Webfinger.subject {subject} is not acct:{identifier} (webfinger_resolve_actor \
             debug_asserts it)"
        )
    });
    // Lemmy dereferences every link whose `type` starts with `application/` and takes the first
    // that reads as a community.
    let links: Vec<&Value> = webfinger["links"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter(|l| text(l, "type").starts_with("application/") && l["href"].is_string())
                .collect()
        })
        .unwrap_or_default();
    r.rule(!links.is_empty(), || {
        "Webfinger has no link whose `type` starts with application/ and that has an `href` \
         (webfinger_resolve_actor: NoValidLink)"
            .into()
    });
    for (i, link) in links.iter().enumerate() {
        r.shape(
            &GROUP_REF,
            &link["href"],
            &format!("Webfinger.links[{i}].href"),
            "webfinger_resolve_actor (activitypub-federation-rust 0.5.11 src/fetch/webfinger.rs)",
        );
    }
    r.dereference_all(&app.client).await;
    r.assert_ok("the WebFinger answer for a consultation", &webfinger);
}

#[tokio::test]
async fn lemmy_shows_the_earlier_proposals_from_the_outbox() {
    let s = scenario().await;
    let group = s.fetch(&s.group).await;
    let outbox_url = text(&group, "outbox");
    let outbox = s.fetch(&outbox_url).await;
    let mut r = Report::default();
    r.check(&GROUP_OUTBOX, &outbox, "GroupOutbox");
    let total = outbox["totalItems"].as_i64();
    r.rule(total.is_some_and(|t| i32::try_from(t).is_ok()), || {
        format!(
            "GroupOutbox.totalItems {} is not an i32 (lemmy GroupOutbox::total_items)",
            outbox["totalItems"]
        )
    });
    // `Collection::verify` of ApubCommunityOutbox: verify_domains_match(outbox URL, id).
    let id = text(&outbox, "id");
    r.rule(same_origin(&id, &outbox_url), || {
        format!(
            "GroupOutbox.id {id} is not on the domain of {outbox_url} (lemmy \
             crates/apub/src/collections/community_outbox.rs ApubCommunityOutbox::verify)"
        )
    });
    let items = outbox["orderedItems"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (i, announce) in items.iter().enumerate() {
        let at = format!("GroupOutbox.orderedItems[{i}]");
        announce_rules(&mut r, announce, &at);
        // ApubCommunityOutbox::from_json keeps only a `CreateOrUpdatePost` inside, verifies it
        // and receives it.
        let create = &announce["object"];
        let at = format!("{at}.object");
        r.check(&CREATE_OR_UPDATE_PAGE, create, &at);
        create_or_update_rules(&mut r, create, &at, "CreateOrUpdatePage", &s.group);
        page_rules(&mut r, &create["object"], &format!("{at}.object"), &s.group);
    }
    r.dereference_all(&s.origin.client).await;
    r.assert_ok("the Group's outbox", &outbox);

    // What Lemmy users then see: the visible proposal, not the withdrawn one.
    let pages: Vec<&str> = items
        .iter()
        .filter_map(|a| a["object"]["object"]["id"].as_str())
        .collect();
    assert_eq!(pages, vec![s.page.as_str()], "outbox: {outbox:#}");
    assert_eq!(outbox["totalItems"], 1);
}

/// The checker itself: hand-written JSON in Lemmy's own shapes passes, and each kind of fault
/// gives a precise message. (No app needed.)
#[test]
fn the_checker_finds_what_lemmy_refuses() {
    let page = json!({
        "type": "Page", "id": "https://l.example/post/1", "attributedTo": "https://l.example/u/a",
        "to": ["https://l.example/c/m", PUBLIC], "name": "Titre", "mediaType": "text/html",
        "source": {"content": "x", "mediaType": "text/markdown"},
        "attachment": [{"type": "Link", "href": "https://e.example/"}],
        "language": {"identifier": "fr", "name": "Français"},
        "published": "2021-02-26T12:35:34.292626Z", "audience": "https://l.example/c/m",
    });
    let mut r = Report::default();
    r.check(&PAGE, &page, "Page");
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(
        r.derefs.len(),
        2,
        "attributedTo and audience are dereferenced"
    );

    let faults = [
        (
            json!({"attributedTo": null}),
            "Page.attributedTo is null, refused by lemmy crates/apub/src/protocol/objects/page.rs Page::attributed_to",
        ),
        (
            json!({"cc": null}),
            "Page.cc is null, refused by lemmy crates/apub/src/protocol/objects/page.rs Page::cc",
        ),
        (
            json!({"inReplyTo": "https://l.example/post/0"}),
            "Page.inReplyTo is \"https://l.example/post/0\", but lemmy crates/apub/src/protocol/objects/page.rs Page::in_reply_to",
        ),
        (
            json!({"mediaType": "text/plain"}),
            "Page.mediaType is \"text/plain\", but lemmy crates/apub/src/protocol/objects/page.rs Page::media_type",
        ),
        (
            json!({"language": "fr"}),
            "Page.language is \"fr\", but lemmy crates/apub/src/protocol/objects/page.rs Page::language",
        ),
        (
            json!({"published": "yesterday"}),
            "Page.published is \"yesterday\", but lemmy crates/apub/src/protocol/objects/page.rs Page::published",
        ),
        (
            json!({"source": {"content": "x", "mediaType": "text/html"}}),
            "Page.source.mediaType is \"text/html\", but lemmy crates/apub/src/protocol/mod.rs Source::media_type",
        ),
        (
            json!({"attachment": [{"href": "https://e.example/"}]}),
            "Page.attachment[0] is {\"href\":\"https://e.example/\"}, but lemmy crates/apub/src/protocol/objects/page.rs Page::attachment",
        ),
        (
            json!({"to": "not a url"}),
            "Page.to is \"not a url\", but lemmy crates/apub/src/protocol/objects/page.rs Page::to",
        ),
    ];
    for (change, expected) in faults {
        let mut faulty = page.clone();
        for (k, v) in change.as_object().unwrap() {
            faulty[k] = v.clone();
        }
        let mut r = Report::default();
        r.check(&PAGE, &faulty, "Page");
        assert!(
            r.problems.iter().any(|p| p.starts_with(expected)),
            "{change}: expected a problem starting with {expected:?}, got {:?}",
            r.problems
        );
    }
    let mut bare = page.clone();
    bare.as_object_mut().unwrap().remove("attributedTo");
    let mut r = Report::default();
    r.check(&PAGE, &bare, "Page");
    assert_eq!(
        r.problems,
        [
            "Page lacks `attributedTo`, required by lemmy crates/apub/src/protocol/objects/page.rs \
          Page::attributed_to (AttributedTo)"
        ]
    );

    // An empty key reads as a String, but no signature of the actor could be verified with it.
    let mut r = Report::default();
    let key = json!({"id": "https://l.example/u/a#main-key", "owner": "https://l.example/u/a", "publicKeyPem": ""});
    r.check(&PUBLIC_KEY, &key, "PublicKey");
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert!(r.problems[0].starts_with("PublicKey.publicKeyPem is \"\", but"));

    // A Note, unlike a Page, needs `to` and `content`; its `tag` may not be null.
    let note = json!({"type": "Note", "id": "https://l.example/comment/1", "attributedTo": "https://l.example/u/a",
                      "inReplyTo": "https://l.example/post/1", "tag": null});
    let mut r = Report::default();
    r.check(&NOTE, &note, "Note");
    let firsts: Vec<&str> = r
        .problems
        .iter()
        .map(|p| p.split(',').next().unwrap_or_default())
        .collect();
    assert_eq!(
        firsts,
        [
            "Note lacks `to`",
            "Note lacks `content`",
            "Note.tag is null"
        ],
        "{:?}",
        r.problems
    );

    // Rules: a Group may not stand as the author of an Update, nor delete without a summary
    // someone else's post.
    let update = json!({"type": "Update", "id": "https://p.example/activities/update/1",
                        "actor": "https://p.example/consultations/c", "to": [PUBLIC], "cc": [],
                        "object": {"id": "https://p.example/proposals/1", "attributedTo": "https://p.example/users/a"}});
    let mut r = Report::default();
    create_or_update_rules(
        &mut r,
        &update,
        "Update",
        "CreateOrUpdatePage",
        "https://p.example/consultations/c",
    );
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert!(r.problems[0].contains("verify_urls_match"));
    let delete = json!({"type": "Delete", "actor": "https://p.example/consultations/c",
                        "to": ["https://p.example/consultations/c/followers"], "object": "https://q.example/proposals/1"});
    let mut r = Report::default();
    delete_rules(
        &mut r,
        &delete,
        "Delete",
        "https://p.example/consultations/c",
    );
    assert_eq!(r.problems.len(), 2, "{:?}", r.problems);
}
