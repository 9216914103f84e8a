//! Backfill from software whose URLs do not say what an item is (Lemmy's `/post/1`,
//! `/comment/1`): the node asks each item for its type, and stores proposals before the replies
//! that answer them, whatever the order of the collection.
use palabre::store::{argument, proposal};
use sea_orm::EntityTrait;
use serde_json::json;

use super::hostile::{
    AP, Node, Raw, accepted, addr, document, follow_accepted, group, keys, not_found,
};

const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";

#[tokio::test]
async fn backfill_asks_each_item_its_type_when_the_url_does_not_say_it() {
    let node = Node::plain().await;
    let remote = Raw::start(addr("127.0.0.1", 0), |request, stream| async move {
        let here = format!("http://{}", request.host);
        let group_id = format!("{here}/c/velo");
        let alice = format!("{here}/u/alice");
        let post = format!("{here}/post/1");
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/c/velo") => document(stream, AP, &group(&group_id, "Vélo")).await,
            // The reply first: a proposal must still be stored before it.
            ("GET", "/c/velo/context") => {
                let collection = json!({
                    "@context": "https://www.w3.org/ns/activitystreams",
                    "type": "OrderedCollection",
                    "id": request.url(),
                    "orderedItems": [format!("{here}/comment/1"), post],
                });
                document(stream, AP, &collection).await;
            }
            ("GET", "/u/alice") => {
                let person = json!({
                    "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
                    "type": "Person",
                    "id": alice,
                    "preferredUsername": "alice",
                    "inbox": format!("{alice}/inbox"),
                    "publicKey": {"id": format!("{alice}#main-key"), "owner": alice, "publicKeyPem": keys().0},
                });
                document(stream, AP, &person).await;
            }
            ("GET", "/post/1") => {
                let page = json!({
                    "@context": "https://www.w3.org/ns/activitystreams",
                    "type": "Page",
                    "id": post,
                    "attributedTo": alice,
                    "name": "Une piste le long du canal",
                    "content": "<p>Elle relierait les deux quartiers.</p>",
                    "to": [group_id, PUBLIC],
                    "audience": group_id,
                });
                document(stream, AP, &page).await;
            }
            ("GET", "/comment/1") => {
                let comment = json!({
                    "@context": "https://www.w3.org/ns/activitystreams",
                    "type": "Note",
                    "id": request.url(),
                    "attributedTo": alice,
                    "content": "<p>Moins de voitures en centre-ville #pour</p>",
                    "inReplyTo": post,
                    "to": [PUBLIC],
                    "cc": [group_id],
                    "audience": group_id,
                });
                document(stream, AP, &comment).await;
            }
            ("GET", _) => not_found(stream).await,
            _ => accepted(stream).await,
        }
    })
    .await;
    let group_id = format!("http://localhost:{}/c/velo", remote.port());
    follow_accepted(&node, &group_id).await;
    remote.quiet().await;

    // Each item was asked what it is, as its URL did not say.
    assert!(remote.gets("/post/1") >= 1 && remote.gets("/comment/1") >= 1);
    let db = &node.app.state.db;
    let proposals = proposal::Entity::find().all(db).await.expect("query");
    assert_eq!(proposals.len(), 1, "{proposals:?}");
    assert_eq!(proposals[0].title, "Une piste le long du canal");
    let arguments = argument::Entity::find().all(db).await.expect("query");
    assert_eq!(arguments.len(), 1, "{arguments:?}");
    assert_eq!(arguments[0].proposal_id, proposals[0].id);
    assert_eq!(arguments[0].stance, "for");
}
