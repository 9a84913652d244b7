//! The example program (a second block using only the public API) runs against a real
//! database and sees what it wrote.

use aiblox_kb_testkit::TestKb;

#[allow(
    dead_code,
    reason = "the example's main is not called here; its run() is"
)]
#[path = "../../examples/write_and_read.rs"]
mod write_and_read;

#[tokio::test]
async fn the_example_program_writes_and_reads_through_the_public_api() {
    let kb = TestKb::unmigrated().await;
    let seen = write_and_read::run(kb.config()).await.unwrap();
    let embedded = super::migrations::embedded().len();
    assert!(
        seen[0].contains(&format!("{embedded} applied now, 0 before")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .filter(|line| line.ends_with("Inserted"))
            .count()
            == 2,
        "{seen:?}"
    );
    assert!(
        seen.contains(&"2 cached chunks for greeting.txt".to_owned()),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|line| line.starts_with("search hit greeting.txt")),
        "{seen:?}"
    );

    let again = write_and_read::run(kb.config()).await.unwrap();
    assert!(
        again
            .iter()
            .filter(|line| line.ends_with("Unchanged"))
            .count()
            == 2,
        "rerunning changes nothing: {again:?}"
    );
}
