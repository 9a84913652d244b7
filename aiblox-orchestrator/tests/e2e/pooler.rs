//! The service behind PgBouncer in session mode (Debian's, started by `aiblox-localpg`;
//! skipped where it is not installed unless `AIBLOX_TEST_REQUIRE_PGBOUNCER` is set, as in CI):
//! with the search path on the role, as docs/operations.md says, it migrates through the
//! pooler at start, and answers questions about documents ingested through it.

use aiblox_kb::{ItemRepo, KbConfig, KbPool};
use aiblox_kb_testkit::pooler;
use aiblox_localpg::{LocalCluster, PoolMode};
use serde_json::json;

use crate::TestApp;

#[tokio::test]
async fn the_service_migrates_and_answers_through_pgbouncer_in_session_mode() {
    let cluster = LocalCluster::start_temporary().unwrap();
    pooler::set_search_path_for_role(&cluster, "kb").await;
    let Some(bouncer) = pooler::pgbouncer(&cluster, PoolMode::Session, 8) else {
        return;
    };
    let url = bouncer.url("postgres");
    let config = KbConfig::new(&url).unwrap();
    let app = TestApp::spawn_with(crate::settings_with(&config, &url, Vec::new()), None).await;

    let ingester = KbPool::builder(&config).max_size(1).build().unwrap();
    ItemRepo::new(&ingester)
        .upsert(&crate::corpus())
        .await
        .unwrap();
    for _ in 0..20 {
        let (status, body) = app
            .query(json!({"query": "vacuum dead tuples", "top_k": 2}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["evidence"][0]["external_id"], "vacuum.md", "{body}");
    }
}
