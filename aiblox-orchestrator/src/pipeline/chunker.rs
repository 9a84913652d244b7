//! Deterministic chunking: splits an item's content on paragraph and sentence boundaries into
//! chunks of at most `max_bytes`, with optional overlap. Every chunk is a byte range of the
//! content on character boundaries, so `&content[start..end]` is its text.

use std::ops::Range;

/// The algorithm's name and version, part of every chunker key. Change the version whenever
/// the output for some input changes: cached chunks of other keys are then ignored.
const ALGORITHM: &str = "para-sent-v1";

/// A chunker with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chunker {
    max_bytes: usize,
    overlap_bytes: usize,
}

/// One chunk: a byte range of the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// Byte range in the content.
    pub range: Range<usize>,
    /// Words in it.
    pub token_count: usize,
}

impl Chunker {
    /// A chunker of chunks up to `max_bytes` (at least 16), repeating up to `overlap_bytes`
    /// of the previous chunk (less than half of `max_bytes`).
    pub(crate) fn new(max_bytes: usize, overlap_bytes: usize) -> Self {
        let max_bytes = max_bytes.max(16);
        Chunker {
            max_bytes,
            overlap_bytes: overlap_bytes.min(max_bytes / 2 - 1),
        }
    }

    /// Names algorithm, version and parameters: the chunk cache's key.
    pub(crate) fn key(&self) -> String {
        format!(
            "{ALGORITHM}:max={},overlap={}",
            self.max_bytes, self.overlap_bytes
        )
    }

    /// The chunk set of an item's content as the chunk cache stores it (`None` when the
    /// content has no chunk: empty or only white space).
    pub(crate) fn chunk_set(&self, item: &aiblox_kb::KbItem) -> Option<aiblox_kb::NewChunkSet> {
        let chunks: Vec<aiblox_kb::NewChunk> = self
            .split_pages(
                &item.content,
                item.page_starts.as_deref().unwrap_or_default(),
            )
            .into_iter()
            .map(|chunk| aiblox_kb::NewChunk {
                start_offset: chunk.range.start as u32,
                end_offset: chunk.range.end as u32,
                text: item.content[chunk.range].to_owned(),
                token_count: chunk.token_count as u32,
            })
            .collect();
        (!chunks.is_empty()).then_some(aiblox_kb::NewChunkSet {
            item_id: item.id,
            content_hash: item.content_hash,
            chunks,
        })
    }

    /// The chunks of `content`, in order. Whitespace-only content has none.
    #[cfg(test)]
    pub(crate) fn split(&self, content: &str) -> Vec<Chunk> {
        self.split_pages(content, &[])
    }

    /// The chunks of `content` whose pages start at `page_starts` (byte offsets): as
    /// [`Chunker::split`], but a chunk at least half full ends where a page ends, and the
    /// chunk after it starts on the new page without overlap, so that most passages cite
    /// one page.
    pub(crate) fn split_pages(&self, content: &str, page_starts: &[u32]) -> Vec<Chunk> {
        let units: Vec<Range<usize>> = sentence_units(content)
            .into_iter()
            .flat_map(|unit| fit(content, unit, self.max_bytes))
            .collect();
        // Whether a page starts between two units (at or after the end of one, at or before
        // the start of the next).
        let page_between = |before: &Range<usize>, after: &Range<usize>| {
            let first_after = page_starts.partition_point(|start| (*start as usize) < before.end);
            page_starts
                .get(first_after)
                .is_some_and(|start| (*start as usize) <= after.start)
        };
        let mut chunks = Vec::new();
        let mut first = 0;
        while first < units.len() {
            let start = units[first].start;
            let mut last = first;
            let mut at_page_end = false;
            while last + 1 < units.len() && units[last + 1].end - start <= self.max_bytes {
                if units[last].end - start >= self.max_bytes / 2
                    && page_between(&units[last], &units[last + 1])
                {
                    at_page_end = true;
                    break;
                }
                last += 1;
            }
            let range = start..units[last].end;
            chunks.push(Chunk {
                token_count: content[range.clone()].split_whitespace().count(),
                range,
            });
            if last + 1 >= units.len() {
                break;
            }
            // The next chunk starts with the trailing units of this one that fit the overlap,
            // but always after this chunk's first unit, so chunking progresses; after a page's
            // end, on the new page.
            let end = units[last].end;
            let mut next = last + 1;
            while !at_page_end
                && next > first + 1
                && end - units[next - 1].start <= self.overlap_bytes
            {
                next -= 1;
            }
            first = next;
        }
        chunks
    }
}

/// Sentences (and paragraph-final fragments) as trimmed byte ranges.
fn sentence_units(content: &str) -> Vec<Range<usize>> {
    let mut units = Vec::new();
    let mut start: Option<usize> = None;
    let mut last_end = 0;
    let mut after_terminator = false;
    let mut newlines_in_gap = 0;
    for (offset, ch) in content.char_indices() {
        if ch.is_whitespace() {
            if ch == '\n' {
                newlines_in_gap += 1;
            }
            let paragraph_break = newlines_in_gap >= 2;
            if let Some(unit_start) = start
                && (after_terminator || paragraph_break)
            {
                units.push(unit_start..last_end);
                start = None;
            }
            continue;
        }
        if let Some(unit_start) = start
            && newlines_in_gap >= 2
        {
            units.push(unit_start..last_end);
            start = None;
        }
        newlines_in_gap = 0;
        if start.is_none() {
            start = Some(offset);
        }
        last_end = offset + ch.len_utf8();
        after_terminator = matches!(ch, '.' | '!' | '?' | '。' | '！' | '？')
            || (after_terminator && matches!(ch, '"' | '\'' | ')' | ']' | '»' | '”' | '’'));
    }
    if let Some(unit_start) = start {
        units.push(unit_start..last_end);
    }
    units
}

/// A unit no longer than `max_bytes`, or its pieces: split at whitespace, else at a character
/// boundary.
fn fit(content: &str, unit: Range<usize>, max_bytes: usize) -> Vec<Range<usize>> {
    let mut pieces = Vec::new();
    let mut start = unit.start;
    while unit.end - start > max_bytes {
        let mut limit = start + max_bytes;
        while !content.is_char_boundary(limit) {
            limit -= 1;
        }
        let window = &content[start..limit];
        let cut = match window.rfind(char::is_whitespace) {
            Some(space) if space > 0 => start + space,
            _ if limit > start => limit,
            // A single character wider than max_bytes: take it whole.
            _ => start + content[start..].chars().next().map_or(1, char::len_utf8),
        };
        pieces.push(start..trim_end(content, start, cut));
        start = cut;
        while start < unit.end && content[start..].starts_with(char::is_whitespace) {
            start += content[start..].chars().next().map_or(1, char::len_utf8);
        }
    }
    if start < unit.end {
        pieces.push(start..unit.end);
    }
    pieces.retain(|piece| !piece.is_empty());
    pieces
}

fn trim_end(content: &str, start: usize, end: usize) -> usize {
    start + content[start..end].trim_end().len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostile::hostile_text;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn chunks_are_exact_ordered_and_cover_every_word(content in hostile_text(), max in 16usize..1500, overlap in 0usize..700, cuts in proptest::collection::vec(0.0f64..1.0, 0..6)) {
        let chunker = Chunker::new(max, overlap);
        // Page starts anywhere on character boundaries (none: plain content).
        let mut starts: Vec<u32> = cuts.iter().map(|cut| {
            let mut at = (cut * content.len() as f64) as usize;
            while !content.is_char_boundary(at) { at -= 1; }
            at as u32
        }).collect();
        if !starts.is_empty() { starts.push(0); }
        starts.sort_unstable();
        let chunks = chunker.split_pages(&content, &starts);
        prop_assert_eq!(&chunks, &chunker.split_pages(&content, &starts), "deterministic");
        let mut covered = vec![false; content.len()];
        let mut previous_start = None;
        for chunk in &chunks {
            let range = chunk.range.clone();
            prop_assert!(range.start < range.end && range.end <= content.len());
            prop_assert!(content.is_char_boundary(range.start) && content.is_char_boundary(range.end));
            let text = &content[range.clone()];
            prop_assert!(range.len() <= max.max(16) || text.chars().count() == 1, "chunk of {} bytes over {max}", range.len());
            prop_assert!(previous_start.is_none_or(|start| start < range.start), "chunks advance");
            previous_start = Some(range.start);
            covered[range].iter_mut().for_each(|byte| *byte = true);
        }
        for (offset, ch) in content.char_indices() {
            prop_assert!(ch.is_whitespace() || covered[offset], "{ch:?} at {offset} is in no chunk");
        }
    }
    }

    fn texts<'a>(content: &'a str, chunker: &Chunker) -> Vec<&'a str> {
        let chunks = chunker.split(content);
        for chunk in &chunks {
            assert!(
                content.is_char_boundary(chunk.range.start)
                    && content.is_char_boundary(chunk.range.end)
            );
            assert!(
                chunk.range.end - chunk.range.start <= chunker.max_bytes
                    || content[chunk.range.clone()].chars().count() == 1
            );
        }
        chunks
            .iter()
            .map(|chunk| &content[chunk.range.clone()])
            .collect()
    }

    #[test]
    fn splits_on_paragraphs_and_sentences_within_the_budget() {
        let content =
            "First sentence here. Second one follows!\n\nA new paragraph starts. It ends.";
        assert_eq!(
            texts(content, &Chunker::new(45, 0)),
            [
                "First sentence here. Second one follows!",
                "A new paragraph starts. It ends."
            ]
        );
        assert_eq!(
            texts(content, &Chunker::new(24, 0)),
            [
                "First sentence here.",
                "Second one follows!",
                "A new paragraph starts.",
                "It ends."
            ]
        );
        assert_eq!(texts(content, &Chunker::new(1000, 0)), [content]);
    }

    #[test]
    fn a_chunk_half_full_ends_with_its_page_and_the_next_starts_on_the_new_page() {
        let pages = [
            "Page one opens. It talks of vacuum.",
            "Page two.",
            "Short three.",
        ];
        let content = pages.join("\n");
        let mut starts = Vec::new();
        let mut at = 0;
        for page in pages {
            starts.push(at as u32);
            at += page.len() + 1;
        }
        let chunker = Chunker::new(60, 20);
        let texts: Vec<&str> = chunker
            .split_pages(&content, &starts)
            .iter()
            .map(|chunk| &content[chunk.range.clone()])
            .collect();
        // Page two fits after page one by size, but page one fills its chunk past half;
        // page two is small, and its chunk runs on into page three.
        assert_eq!(texts, [pages[0], &content[starts[1] as usize..]]);
        // Without pages, one chunk holds all three.
        assert_eq!(chunker.split(&content).len(), 1);
    }

    #[test]
    fn overlap_repeats_the_previous_tail() {
        let content = "One. Two. Three. Four. Five. Six.";
        assert_eq!(
            texts(content, &Chunker::new(16, 6)),
            ["One. Two. Three.", "Three. Four.", "Four. Five. Six."]
        );
    }

    #[test]
    fn long_words_and_text_without_spaces_are_cut_on_character_boundaries() {
        let cjk = "日本語のテキストは空白なしで続きます".repeat(5);
        let chunks = texts(&cjk, &Chunker::new(20, 0));
        assert_eq!(
            chunks.concat(),
            cjk,
            "nothing lost when there is no whitespace at all"
        );
        let combining = "e\u{301}".repeat(40);
        assert_eq!(texts(&combining, &Chunker::new(16, 0)).concat(), combining);
        assert!(texts("   \n\n  ", &Chunker::new(16, 0)).is_empty());
        assert!(texts("", &Chunker::new(16, 0)).is_empty());
    }

    #[test]
    fn the_key_names_algorithm_and_parameters() {
        assert_eq!(
            Chunker::new(800, 100).key(),
            "para-sent-v1:max=800,overlap=100"
        );
    }

    #[test]
    fn chunks_are_deterministic_and_cover_every_word() {
        let content = "Alpha beta. Gamma delta epsilon!\nZeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau.\n\n\n Upsilon phi chi psi omega.";
        let chunker = Chunker::new(30, 0);
        assert_eq!(chunker.split(content), chunker.split(content));
        let words: Vec<&str> = texts(content, &chunker)
            .iter()
            .flat_map(|text| text.split_whitespace())
            .collect();
        assert_eq!(words, content.split_whitespace().collect::<Vec<_>>());
    }
}
