//! A second program on the contract, using nothing but `aiblox-kb`'s public API: it migrates
//! the schema, **writes** a few items (source `example`) and caches chunks for one, then reads
//! everything back. Takes `--database-url` and `--schema` like every binary of the workspace.
//!
//! ```sh
//! AIBLOX_KB_DATABASE_URL=postgresql://user:password@host/db cargo run -p aiblox-kb --example write_and_read [-- --schema NAME]
//! ```
//! (`cargo run -p aiblox-localpg` prints the URL of a scratch server to try it on.)

use aiblox_kb::{ChunkCacheRepo, ItemRepo, KbConfig, KbPool, NewChunk, NewChunkSet, NewItem};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let (mut database_url, mut schema) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--database-url", Some(value)) => database_url = Some(value),
            ("--schema", Some(value)) => schema = Some(value),
            _ => {
                eprintln!(
                    "usage: write_and_read [--database-url URL] [--schema NAME]\n\
                     (defaults: AIBLOX_KB_DATABASE_URL or DATABASE_URL, AIBLOX_KB_SCHEMA or kb)"
                );
                return std::process::ExitCode::from(2);
            }
        }
    }
    let result = match KbConfig::from_flags(database_url.as_deref(), schema.as_deref()) {
        Ok(config) => {
            eprintln!(
                "knowledge base: schema {} at {} (this example writes to it)",
                config.schema(),
                config.redacted_url()
            );
            run(&config).await
        }
        Err(err) => Err(err.into()),
    };
    match result {
        Ok(seen) => {
            seen.iter().for_each(|line| println!("{line}"));
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Does the work and returns what it saw, one line per fact.
pub(crate) async fn run(
    config: &KbConfig,
) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    let mut seen = Vec::new();
    let report = aiblox_kb::migrate(config).await?;
    seen.push(format!(
        "migrated {config}: {} applied now, {} before",
        report.applied.len(),
        report.already_applied
    ));

    let pool = KbPool::new(config)?;
    let items = ItemRepo::new(&pool);
    let outcomes = items
        .upsert(&[
            NewItem::new(
                "example",
                "greeting.txt",
                "Hello from the second block. It writes through the contract.",
            )
            .with_title("Greeting"),
            NewItem::new(
                "example",
                "notes.txt",
                "Blocks never copy SQL; they share aiblox-kb.",
            ),
        ])
        .await?;
    for outcome in &outcomes {
        seen.push(format!("item {} {:?}", outcome.id, outcome.status));
    }

    let greeting = items
        .get_by_key("example", "greeting.txt")
        .await?
        .ok_or("the greeting just written is not there")?;
    let split = greeting
        .content
        .find(". ")
        .map_or(greeting.content.len(), |i| i + 2);
    let set = NewChunkSet {
        item_id: greeting.id,
        content_hash: greeting.content_hash,
        chunks: vec![
            NewChunk {
                start_offset: 0,
                end_offset: split as u32,
                text: greeting.content[..split].to_owned(),
                token_count: 6,
            },
            NewChunk {
                start_offset: split as u32,
                end_offset: greeting.content.len() as u32,
                text: greeting.content[split..].to_owned(),
                token_count: 5,
            },
        ],
    };
    let cache = ChunkCacheRepo::new(&pool);
    cache.put("example-sentences-v1", &[set]).await?;
    let chunks = cache
        .get(greeting.id, "example-sentences-v1", &greeting.content_hash)
        .await?
        .unwrap_or_default();
    seen.push(format!(
        "{} cached chunks for {}",
        chunks.len(),
        greeting.external_id
    ));

    for hit in items
        .search("contract", Some(&["example".to_owned()]), 5)
        .await?
    {
        seen.push(format!(
            "search hit {} ({:.3})",
            hit.item.external_id, hit.rank
        ));
    }
    pool.close();
    Ok(seen)
}
