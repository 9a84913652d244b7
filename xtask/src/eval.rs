//! `cargo xtask eval --queries FILE.jsonl [--url URL] [--json] [--mode MODE]`: asks a running orchestrator
//! every question of a relevance file (`{"q": str, "relevant": [external_id, ...]}` per line)
//! and prints success@1, success@5, MRR@10, nDCG@10, the first stage's recall (how often an
//! answering page is among the candidates at all) and MRR@10 (of the candidates in its own
//! order) and latency percentiles. It fails (after
//! printing) when any question failed or got no evidence: such figures measure nothing.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

/// One question and the pages that answer it.
#[derive(Debug, Clone)]
struct Question {
    text: String,
    relevant: Vec<String>,
}

/// The figures of one run.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Figures {
    questions: usize,
    errors: usize,
    success_at_1: f64,
    success_at_5: f64,
    mrr_at_10: f64,
    ndcg_at_10: f64,
    recall_at_candidates: f64,
    first_stage_mrr_at_10: f64,
    latency_ms_p50: f64,
    latency_ms_p90: f64,
    latency_ms_p99: f64,
    latency_ms_mean: f64,
}

pub(crate) fn run(
    queries: &Path,
    url: &str,
    json_output: bool,
    warmup: usize,
    mode: Option<&str>,
) -> anyhow::Result<()> {
    let questions = read_questions(queries)?;
    let address = url
        .strip_prefix("http://")
        .context("--url must start with http:// (no TLS here)")?
        .trim_end_matches('/');
    for _ in 0..warmup {
        for question in &questions {
            let _ = ask(address, &question.text, mode);
        }
    }
    let mut latencies = Vec::with_capacity(questions.len());
    let mut judged = Vec::with_capacity(questions.len());
    let mut errors = 0;
    for question in &questions {
        let started = Instant::now();
        let answer = ask(address, &question.text, mode);
        latencies.push(started.elapsed());
        match answer {
            Ok(answer) => judged.push(Judged::of(&answer, &question.relevant)),
            Err(err) => {
                errors += 1;
                judged.push(Judged::default());
                eprintln!("error: {:?}: {err:#}", question.text);
            }
        }
    }
    let unanswered = judged.iter().filter(|j| j.evidence == 0).count() - errors;
    let figures = figures(&judged, &mut latencies, errors);
    if json_output {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        println!("mode           {}", mode.unwrap_or("the service's default"));
        println!("questions      {}", figures.questions);
        println!("errors         {}", figures.errors);
        println!("success@1      {:.3}", figures.success_at_1);
        println!("success@5      {:.3}", figures.success_at_5);
        println!("MRR@10         {:.3}", figures.mrr_at_10);
        println!("nDCG@10        {:.3}", figures.ndcg_at_10);
        println!("recall@cands   {:.3}", figures.recall_at_candidates);
        println!("MRR@10 cands   {:.3}", figures.first_stage_mrr_at_10);
        println!("latency p50    {:.1} ms", figures.latency_ms_p50);
        println!("latency p90    {:.1} ms", figures.latency_ms_p90);
        println!("latency p99    {:.1} ms", figures.latency_ms_p99);
        println!("latency mean   {:.1} ms", figures.latency_ms_mean);
    }
    if errors > 0 || unanswered > 0 {
        bail!(
            "{errors} of {} questions failed and {unanswered} got no evidence: the figures \
             above do not measure the pipeline",
            questions.len()
        );
    }
    Ok(())
}

fn read_questions(path: &Path) -> anyhow::Result<Vec<Question>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read {}", path.display()))?;
    let mut questions = Vec::new();
    for (index, line) in text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
    {
        let value: Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not JSON", path.display(), index + 1))?;
        let text = value["q"]
            .as_str()
            .with_context(|| format!("{}:{}: no \"q\" string", path.display(), index + 1))?;
        let relevant: Vec<String> = value["relevant"]
            .as_array()
            .with_context(|| format!("{}:{}: no \"relevant\" list", path.display(), index + 1))?
            .iter()
            .filter_map(|id| id.as_str().map(str::to_owned))
            .collect();
        questions.push(Question {
            text: text.to_owned(),
            relevant,
        });
    }
    if questions.is_empty() {
        bail!("{} holds no questions", path.display());
    }
    Ok(questions)
}

/// How the service did on one question.
#[derive(Debug, Clone, Default, PartialEq)]
struct Judged {
    /// 1-based rank of the first answering page among the first 10, if any.
    first_relevant: Option<usize>,
    /// nDCG@10 with binary relevance over distinct pages.
    ndcg: f64,
    /// Whether an answering page was among the candidates at all.
    among_candidates: bool,
    /// 1-based rank of the first answering page among the first 10 candidates (the first
    /// stage's own order), if any.
    first_relevant_candidate: Option<usize>,
    /// Evidence passages in the answer.
    evidence: usize,
}

impl Judged {
    fn of(answer: &Answer, relevant: &[String]) -> Judged {
        Judged {
            first_relevant: first_relevant(&answer.ranked, relevant),
            ndcg: ndcg_at_10(&answer.ranked, relevant),
            among_candidates: answer.candidates.iter().any(|id| relevant.contains(id)),
            first_relevant_candidate: first_relevant(&answer.candidates, relevant),
            evidence: answer.passages,
        }
    }
}

/// 1-based rank of the first relevant item among the first 10, if any.
fn first_relevant(ranked: &[String], relevant: &[String]) -> Option<usize> {
    ranked
        .iter()
        .take(10)
        .position(|id| relevant.contains(id))
        .map(|index| index + 1)
}

/// Normalised discounted cumulative gain of the first 10, each relevant page gaining 1.
fn ndcg_at_10(ranked: &[String], relevant: &[String]) -> f64 {
    let discount = |rank: usize| 1.0 / ((rank + 1) as f64).log2();
    let gained: f64 = ranked
        .iter()
        .take(10)
        .enumerate()
        .filter(|(_, id)| relevant.contains(id))
        .map(|(index, _)| discount(index + 1))
        .sum();
    let ideal: f64 = (1..=relevant.len().min(10)).map(discount).sum();
    // `+ 0.0`: a sum of nothing is -0.0, printed as "-0.000".
    if ideal > 0.0 {
        gained / ideal + 0.0
    } else {
        0.0
    }
}

/// The sum of 1 / rank over the ranks given (a miss adds 0).
fn reciprocal_rank(ranks: impl Iterator<Item = Option<usize>>) -> f64 {
    ranks
        .map(|rank| rank.map_or(0.0, |rank| 1.0 / rank as f64))
        .sum()
}

fn figures(judged: &[Judged], latencies: &mut [Duration], errors: usize) -> Figures {
    let count = judged.len().max(1) as f64;
    let within = |k: usize| {
        judged
            .iter()
            .filter(|j| j.first_relevant.is_some_and(|rank| rank <= k))
            .count() as f64
            / count
    };
    latencies.sort();
    let percentile = |p: f64| {
        let index = ((p * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[index].as_secs_f64() * 1000.0
    };
    Figures {
        questions: judged.len(),
        errors,
        success_at_1: within(1),
        success_at_5: within(5),
        mrr_at_10: reciprocal_rank(judged.iter().map(|j| j.first_relevant)) / count,
        ndcg_at_10: judged.iter().map(|j| j.ndcg).sum::<f64>() / count,
        recall_at_candidates: judged.iter().filter(|j| j.among_candidates).count() as f64 / count,
        first_stage_mrr_at_10: reciprocal_rank(judged.iter().map(|j| j.first_relevant_candidate))
            / count,
        latency_ms_p50: percentile(0.50),
        latency_ms_p90: percentile(0.90),
        latency_ms_p99: percentile(0.99),
        latency_ms_mean: latencies.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0
            / latencies.len().max(1) as f64,
    }
}

/// What the service answered: its distinct pages best first, and every candidate it scored.
#[derive(Debug, Clone, Default)]
struct Answer {
    ranked: Vec<String>,
    candidates: Vec<String>,
    passages: usize,
}

/// Asks one question, with `explain` on to see the candidates.
fn ask(address: &str, question: &str, mode: Option<&str>) -> anyhow::Result<Answer> {
    let mut body = json!({
        "query": question, "top_k": 10, "max_chunks_per_item": 1, "explain": true
    });
    if let Some(mode) = mode {
        body["mode"] = json!(mode);
    }
    let body = body.to_string();
    let (status, response) = crate::http::request(address, "POST", "/v1/query", Some(&body))?;
    if status != 200 {
        bail!("HTTP {status}: {response}");
    }
    let answer: Value =
        serde_json::from_str(&response).context("the service answered invalid JSON")?;
    let mut ranked: Vec<String> = Vec::new();
    let passages = answer["evidence"].as_array().map_or(0, Vec::len);
    for passage in answer["evidence"].as_array().into_iter().flatten() {
        if let Some(id) = passage["external_id"].as_str()
            && !ranked.iter().any(|seen| seen == id)
        {
            ranked.push(id.to_owned());
        }
    }
    let candidates = answer["explain"]["candidates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|candidate| candidate["external_id"].as_str().map(str::to_owned))
        .collect();
    Ok(Answer {
        ranked,
        candidates,
        passages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_follow_their_definitions() {
        let judged: Vec<Judged> = [Some(1), Some(3), None, Some(7)]
            .into_iter()
            .map(|rank| Judged {
                first_relevant: rank,
                ndcg: if rank.is_some() { 0.5 } else { 0.0 },
                among_candidates: rank.is_some(),
                // The first stage put each page one place lower.
                first_relevant_candidate: rank.map(|rank| rank + 1),
                evidence: 1,
            })
            .collect();
        let mut latencies: Vec<Duration> = [10, 20, 30, 40]
            .iter()
            .map(|ms| Duration::from_millis(*ms))
            .collect();
        let figures = figures(&judged, &mut latencies, 0);
        assert_eq!((figures.success_at_1, figures.success_at_5), (0.25, 0.5));
        assert_eq!(
            (figures.ndcg_at_10, figures.recall_at_candidates),
            (0.375, 0.75)
        );
        assert!((figures.mrr_at_10 - (1.0 + 1.0 / 3.0 + 1.0 / 7.0) / 4.0).abs() < 1e-9);
        assert!(
            (figures.first_stage_mrr_at_10 - (1.0 / 2.0 + 1.0 / 4.0 + 1.0 / 8.0) / 4.0).abs()
                < 1e-9
        );
        assert_eq!(
            (figures.latency_ms_p50, figures.latency_ms_p99),
            (20.0, 40.0)
        );
    }

    #[test]
    fn the_first_relevant_item_counts() {
        let ranked: Vec<String> = ["a", "b", "c"].iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(
            first_relevant(&ranked, &["c".to_owned(), "b".to_owned()]),
            Some(2)
        );
        assert_eq!(first_relevant(&ranked, &["z".to_owned()]), None);
    }

    #[test]
    fn ndcg_rewards_every_relevant_page_by_its_rank() {
        let ranked: Vec<String> = ["a", "b", "c"].iter().map(|s| (*s).to_owned()).collect();
        let relevant = |ids: &[&str]| ids.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!((ndcg_at_10(&ranked, &relevant(&["a"])) - 1.0).abs() < 1e-12);
        assert!((ndcg_at_10(&ranked, &relevant(&["a", "b"])) - 1.0).abs() < 1e-12);
        // One relevant page, found second: 1/log2(3).
        assert!((ndcg_at_10(&ranked, &relevant(&["b"])) - 1.0 / 3f64.log2()).abs() < 1e-12);
        // Two relevant pages, only the second found, first: (1) / (1 + 1/log2(3)).
        let expected = 1.0 / (1.0 + 1.0 / 3f64.log2());
        assert!((ndcg_at_10(&ranked, &relevant(&["a", "z"])) - expected).abs() < 1e-12);
        assert_eq!(ndcg_at_10(&ranked, &relevant(&["z"])), 0.0);
    }

    #[test]
    fn the_development_set_is_well_formed() {
        let path = crate::workspace::Workspace::current()
            .unwrap()
            .root()
            .join("docs/retrieval/pgdocs-dev.jsonl");
        let questions = read_questions(&path).unwrap();
        assert!(questions.len() >= 25);
        assert!(
            questions.iter().all(
                |q| !q.relevant.is_empty() && q.relevant.iter().all(|id| id.ends_with(".html"))
            )
        );
    }
}
