//! Two schemas in one database are two knowledge bases that never see each other's rows.

use aiblox_kb::{ItemRepo, NewItem};
use aiblox_kb_testkit::TestKb;

#[tokio::test]
async fn two_schemas_in_one_database_do_not_see_each_other() {
    let (blue, green) = (TestKb::new().await, TestKb::new().await);
    assert_eq!(
        blue.server_url(),
        green.server_url(),
        "same server and database"
    );
    assert_ne!(blue.schema(), green.schema());

    let in_blue = ItemRepo::new(blue.pool())
        .upsert(&[NewItem::new("docs", "same-key", "blue")])
        .await
        .unwrap();
    let in_green = ItemRepo::new(green.pool())
        .upsert(&[NewItem::new("docs", "same-key", "green")])
        .await
        .unwrap();
    assert_eq!(
        in_green[0].status,
        aiblox_kb::UpsertStatus::Inserted,
        "the key is free in the other schema"
    );

    let blue_item = ItemRepo::new(blue.pool())
        .get_by_key("docs", "same-key")
        .await
        .unwrap()
        .unwrap();
    let green_item = ItemRepo::new(green.pool())
        .get_by_key("docs", "same-key")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (blue_item.content.as_str(), green_item.content.as_str()),
        ("blue", "green")
    );
    assert_eq!(blue_item.id, in_blue[0].id);
    assert_eq!(
        ItemRepo::new(green.pool())
            .search("blue", None, 10)
            .await
            .unwrap()
            .len(),
        0
    );
}
