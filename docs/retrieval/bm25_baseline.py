#!/usr/bin/env python3
"""BM25 baseline for docs/retrieval.md: the standard `bm25s` package (English stop words,
Snowball stemming) over the same pages the service searches, read from the knowledge base.

usage: AIBLOX_KB_DATABASE_URL=... python3 bm25_baseline.py pgdocs-dev.jsonl [--source pgdocs]
needs: pip install bm25s PyStemmer; psql on PATH (or in /usr/lib/postgresql/*/bin)
"""

import glob
import json
import os
import shutil
import subprocess
import sys

import bm25s
import Stemmer


def psql():
    found = shutil.which("psql") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))), None)
    if not found:
        sys.exit("psql not found: install the PostgreSQL client")
    return found


def pages(url, schema, source):
    query = (
        f"COPY (SELECT json_build_object('id', external_id, 'text', coalesce(title, '') || E'\\n' || content) "
        f"FROM {schema}.item WHERE source = '{source}' ORDER BY external_id) TO STDOUT"
    )
    out = subprocess.run([psql(), url, "-Atc", query], check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line.replace("\\\\", "\\")) for line in out.splitlines() if line]
    return [r["id"] for r in rows], [r["text"] for r in rows]


def main():
    args = sys.argv[1:]
    source = "pgdocs"
    if "--source" in args:
        i = args.index("--source")
        source = args[i + 1]
        del args[i : i + 2]
    questions = [json.loads(line) for line in open(args[0]) if line.strip()]
    url = os.environ.get("AIBLOX_KB_DATABASE_URL") or os.environ["DATABASE_URL"]
    schema = os.environ.get("AIBLOX_KB_SCHEMA", "kb")
    ids, texts = pages(url, schema, source)

    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    tokens = bm25s.tokenize([q["q"] for q in questions], stopwords="en", stemmer=stemmer, show_progress=False)
    results, _ = retriever.retrieve(tokens, k=10, show_progress=False)

    s1 = s5 = mrr = 0.0
    for question, row in zip(questions, results):
        ranked = [ids[i] for i in row]
        rank = next((n + 1 for n, page in enumerate(ranked) if page in question["relevant"]), None)
        s1 += rank == 1
        s5 += rank is not None and rank <= 5
        mrr += 1.0 / rank if rank else 0.0
    n = len(questions)
    print(json.dumps({"pages": len(ids), "questions": n, "success_at_1": round(s1 / n, 3),
                      "success_at_5": round(s5 / n, 3), "mrr_at_10": round(mrr / n, 3)}, indent=2))


if __name__ == "__main__":
    main()
