// This file was generated with `cornucopia`. Do not modify.

#[derive(Debug)]
pub struct ClaimUnembeddedParams<T1: crate::StringSql, T2: crate::StringSql> {
    pub chunker_key: T1,
    pub model_key: T2,
    pub max_items: i64,
    pub lease_seconds: f64,
}
#[derive(Debug)]
pub struct FinishClaimsParams<
    T1: crate::ArraySql<Item = i64>,
    T2: crate::BytesSql,
    T3: crate::ArraySql<Item = T2>,
    T4: crate::StringSql,
    T5: crate::StringSql,
> {
    pub item_ids: T1,
    pub content_hashes: T3,
    pub chunker_key: T4,
    pub model_key: T5,
}
#[derive(Debug)]
pub struct PutEmbeddingsParams<
    T1: crate::ArraySql<Item = i64>,
    T2: crate::ArraySql<Item = i32>,
    T3: crate::ArraySql<Item = i32>,
    T4: crate::BytesSql,
    T5: crate::ArraySql<Item = T4>,
    T6: crate::BytesSql,
    T7: crate::ArraySql<Item = T6>,
    T8: crate::StringSql,
    T9: crate::StringSql,
> {
    pub item_ids: T1,
    pub chunk_indexes: T2,
    pub chunk_counts: T3,
    pub content_hashes: T5,
    pub vectors: T7,
    pub chunker_key: T8,
    pub model_key: T9,
}
#[derive(Debug)]
pub struct EmbeddingsSinceParams<T1: crate::StringSql, T2: crate::StringSql> {
    pub chunker_key: T1,
    pub model_key: T2,
    pub from_transaction: i64,
    pub max_rows: i64,
}
#[derive(Debug)]
pub struct EmbeddingProgressParams<T1: crate::StringSql, T2: crate::StringSql> {
    pub chunker_key: T1,
    pub model_key: T2,
}
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimUnembedded {
    pub item_id: i64,
    pub content_hash: Vec<u8>,
}
pub struct ClaimUnembeddedBorrowed<'a> {
    pub item_id: i64,
    pub content_hash: &'a [u8],
}
impl<'a> From<ClaimUnembeddedBorrowed<'a>> for ClaimUnembedded {
    fn from(
        ClaimUnembeddedBorrowed {
            item_id,
            content_hash,
        }: ClaimUnembeddedBorrowed<'a>,
    ) -> Self {
        Self {
            item_id,
            content_hash: content_hash.into(),
        }
    }
}
#[derive(Debug, Clone, PartialEq, Copy)]
pub struct PutEmbeddings {
    pub vectors_written: i64,
    pub vectors_removed: i64,
}
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEmbedding {
    pub item_id: Option<i64>,
    pub chunk_index: Option<i32>,
    pub chunk_count: Option<i32>,
    pub content_hash: Option<Vec<u8>>,
    pub vector: Option<Vec<u8>>,
    pub source: Option<String>,
    pub written_by: Option<i64>,
    pub horizon: i64,
}
pub struct StoredEmbeddingBorrowed<'a> {
    pub item_id: Option<i64>,
    pub chunk_index: Option<i32>,
    pub chunk_count: Option<i32>,
    pub content_hash: Option<&'a [u8]>,
    pub vector: Option<&'a [u8]>,
    pub source: Option<&'a str>,
    pub written_by: Option<i64>,
    pub horizon: i64,
}
impl<'a> From<StoredEmbeddingBorrowed<'a>> for StoredEmbedding {
    fn from(
        StoredEmbeddingBorrowed {
            item_id,
            chunk_index,
            chunk_count,
            content_hash,
            vector,
            source,
            written_by,
            horizon,
        }: StoredEmbeddingBorrowed<'a>,
    ) -> Self {
        Self {
            item_id,
            chunk_index,
            chunk_count,
            content_hash: content_hash.map(|v| v.into()),
            vector: vector.map(|v| v.into()),
            source: source.map(|v| v.into()),
            written_by,
            horizon,
        }
    }
}
#[derive(Debug, Clone, PartialEq, Copy)]
pub struct EmbeddingProgress {
    pub items: i64,
    pub indexed: i64,
}
use crate::client::async_::GenericClient;
use futures::{self, StreamExt, TryStreamExt};
pub struct ClaimUnembeddedQuery<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<ClaimUnembeddedBorrowed, tokio_postgres::Error>,
    mapper: fn(ClaimUnembeddedBorrowed) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> ClaimUnembeddedQuery<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(
        self,
        mapper: fn(ClaimUnembeddedBorrowed) -> R,
    ) -> ClaimUnembeddedQuery<'c, 'a, 's, C, R, N> {
        ClaimUnembeddedQuery {
            client: self.client,
            params: self.params,
            query: self.query,
            cached: self.cached,
            extractor: self.extractor,
            mapper,
        }
    }
    pub async fn one(self) -> Result<T, tokio_postgres::Error> {
        let row =
            crate::client::async_::one(self.client, self.query, &self.params, self.cached).await?;
        Ok((self.mapper)((self.extractor)(&row)?))
    }
    pub async fn all(self) -> Result<Vec<T>, tokio_postgres::Error> {
        self.iter().await?.try_collect().await
    }
    pub async fn opt(self) -> Result<Option<T>, tokio_postgres::Error> {
        let opt_row =
            crate::client::async_::opt(self.client, self.query, &self.params, self.cached).await?;
        Ok(opt_row
            .map(|row| {
                let extracted = (self.extractor)(&row)?;
                Ok((self.mapper)(extracted))
            })
            .transpose()?)
    }
    pub async fn iter(
        self,
    ) -> Result<
        impl futures::Stream<Item = Result<T, tokio_postgres::Error>> + 'c,
        tokio_postgres::Error,
    > {
        let stream = crate::client::async_::raw(
            self.client,
            self.query,
            crate::slice_iter(&self.params),
            self.cached,
        )
        .await?;
        let mapped = stream
            .map(move |res| {
                res.and_then(|row| {
                    let extracted = (self.extractor)(&row)?;
                    Ok((self.mapper)(extracted))
                })
            })
            .into_stream();
        Ok(mapped)
    }
}
pub struct I64Query<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<i64, tokio_postgres::Error>,
    mapper: fn(i64) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> I64Query<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(self, mapper: fn(i64) -> R) -> I64Query<'c, 'a, 's, C, R, N> {
        I64Query {
            client: self.client,
            params: self.params,
            query: self.query,
            cached: self.cached,
            extractor: self.extractor,
            mapper,
        }
    }
    pub async fn one(self) -> Result<T, tokio_postgres::Error> {
        let row =
            crate::client::async_::one(self.client, self.query, &self.params, self.cached).await?;
        Ok((self.mapper)((self.extractor)(&row)?))
    }
    pub async fn all(self) -> Result<Vec<T>, tokio_postgres::Error> {
        self.iter().await?.try_collect().await
    }
    pub async fn opt(self) -> Result<Option<T>, tokio_postgres::Error> {
        let opt_row =
            crate::client::async_::opt(self.client, self.query, &self.params, self.cached).await?;
        Ok(opt_row
            .map(|row| {
                let extracted = (self.extractor)(&row)?;
                Ok((self.mapper)(extracted))
            })
            .transpose()?)
    }
    pub async fn iter(
        self,
    ) -> Result<
        impl futures::Stream<Item = Result<T, tokio_postgres::Error>> + 'c,
        tokio_postgres::Error,
    > {
        let stream = crate::client::async_::raw(
            self.client,
            self.query,
            crate::slice_iter(&self.params),
            self.cached,
        )
        .await?;
        let mapped = stream
            .map(move |res| {
                res.and_then(|row| {
                    let extracted = (self.extractor)(&row)?;
                    Ok((self.mapper)(extracted))
                })
            })
            .into_stream();
        Ok(mapped)
    }
}
pub struct PutEmbeddingsQuery<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<PutEmbeddings, tokio_postgres::Error>,
    mapper: fn(PutEmbeddings) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> PutEmbeddingsQuery<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(self, mapper: fn(PutEmbeddings) -> R) -> PutEmbeddingsQuery<'c, 'a, 's, C, R, N> {
        PutEmbeddingsQuery {
            client: self.client,
            params: self.params,
            query: self.query,
            cached: self.cached,
            extractor: self.extractor,
            mapper,
        }
    }
    pub async fn one(self) -> Result<T, tokio_postgres::Error> {
        let row =
            crate::client::async_::one(self.client, self.query, &self.params, self.cached).await?;
        Ok((self.mapper)((self.extractor)(&row)?))
    }
    pub async fn all(self) -> Result<Vec<T>, tokio_postgres::Error> {
        self.iter().await?.try_collect().await
    }
    pub async fn opt(self) -> Result<Option<T>, tokio_postgres::Error> {
        let opt_row =
            crate::client::async_::opt(self.client, self.query, &self.params, self.cached).await?;
        Ok(opt_row
            .map(|row| {
                let extracted = (self.extractor)(&row)?;
                Ok((self.mapper)(extracted))
            })
            .transpose()?)
    }
    pub async fn iter(
        self,
    ) -> Result<
        impl futures::Stream<Item = Result<T, tokio_postgres::Error>> + 'c,
        tokio_postgres::Error,
    > {
        let stream = crate::client::async_::raw(
            self.client,
            self.query,
            crate::slice_iter(&self.params),
            self.cached,
        )
        .await?;
        let mapped = stream
            .map(move |res| {
                res.and_then(|row| {
                    let extracted = (self.extractor)(&row)?;
                    Ok((self.mapper)(extracted))
                })
            })
            .into_stream();
        Ok(mapped)
    }
}
pub struct StoredEmbeddingQuery<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<StoredEmbeddingBorrowed, tokio_postgres::Error>,
    mapper: fn(StoredEmbeddingBorrowed) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> StoredEmbeddingQuery<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(
        self,
        mapper: fn(StoredEmbeddingBorrowed) -> R,
    ) -> StoredEmbeddingQuery<'c, 'a, 's, C, R, N> {
        StoredEmbeddingQuery {
            client: self.client,
            params: self.params,
            query: self.query,
            cached: self.cached,
            extractor: self.extractor,
            mapper,
        }
    }
    pub async fn one(self) -> Result<T, tokio_postgres::Error> {
        let row =
            crate::client::async_::one(self.client, self.query, &self.params, self.cached).await?;
        Ok((self.mapper)((self.extractor)(&row)?))
    }
    pub async fn all(self) -> Result<Vec<T>, tokio_postgres::Error> {
        self.iter().await?.try_collect().await
    }
    pub async fn opt(self) -> Result<Option<T>, tokio_postgres::Error> {
        let opt_row =
            crate::client::async_::opt(self.client, self.query, &self.params, self.cached).await?;
        Ok(opt_row
            .map(|row| {
                let extracted = (self.extractor)(&row)?;
                Ok((self.mapper)(extracted))
            })
            .transpose()?)
    }
    pub async fn iter(
        self,
    ) -> Result<
        impl futures::Stream<Item = Result<T, tokio_postgres::Error>> + 'c,
        tokio_postgres::Error,
    > {
        let stream = crate::client::async_::raw(
            self.client,
            self.query,
            crate::slice_iter(&self.params),
            self.cached,
        )
        .await?;
        let mapped = stream
            .map(move |res| {
                res.and_then(|row| {
                    let extracted = (self.extractor)(&row)?;
                    Ok((self.mapper)(extracted))
                })
            })
            .into_stream();
        Ok(mapped)
    }
}
pub struct EmbeddingProgressQuery<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<EmbeddingProgress, tokio_postgres::Error>,
    mapper: fn(EmbeddingProgress) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> EmbeddingProgressQuery<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(
        self,
        mapper: fn(EmbeddingProgress) -> R,
    ) -> EmbeddingProgressQuery<'c, 'a, 's, C, R, N> {
        EmbeddingProgressQuery {
            client: self.client,
            params: self.params,
            query: self.query,
            cached: self.cached,
            extractor: self.extractor,
            mapper,
        }
    }
    pub async fn one(self) -> Result<T, tokio_postgres::Error> {
        let row =
            crate::client::async_::one(self.client, self.query, &self.params, self.cached).await?;
        Ok((self.mapper)((self.extractor)(&row)?))
    }
    pub async fn all(self) -> Result<Vec<T>, tokio_postgres::Error> {
        self.iter().await?.try_collect().await
    }
    pub async fn opt(self) -> Result<Option<T>, tokio_postgres::Error> {
        let opt_row =
            crate::client::async_::opt(self.client, self.query, &self.params, self.cached).await?;
        Ok(opt_row
            .map(|row| {
                let extracted = (self.extractor)(&row)?;
                Ok((self.mapper)(extracted))
            })
            .transpose()?)
    }
    pub async fn iter(
        self,
    ) -> Result<
        impl futures::Stream<Item = Result<T, tokio_postgres::Error>> + 'c,
        tokio_postgres::Error,
    > {
        let stream = crate::client::async_::raw(
            self.client,
            self.query,
            crate::slice_iter(&self.params),
            self.cached,
        )
        .await?;
        let mapped = stream
            .map(move |res| {
                res.and_then(|row| {
                    let extracted = (self.extractor)(&row)?;
                    Ok((self.mapper)(extracted))
                })
            })
            .into_stream();
        Ok(mapped)
    }
}
pub struct ClaimUnembeddedStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn claim_unembedded() -> ClaimUnembeddedStmt {
    ClaimUnembeddedStmt(
        "WITH wanted AS ( SELECT i.id, i.content_hash FROM item AS i WHERE NOT EXISTS ( SELECT 1 FROM chunk_embedding AS e WHERE e.item_id = i.id AND e.chunker_key = $1 AND e.model_key = $2 AND e.chunk_index = 0 AND e.content_hash = i.content_hash ) AND NOT EXISTS ( SELECT 1 FROM embedding_claim AS c WHERE c.item_id = i.id AND c.chunker_key = $1 AND c.model_key = $2 AND c.content_hash = i.content_hash AND c.claimed_until > now() ) ORDER BY i.id LIMIT $3::bigint ) INSERT INTO embedding_claim AS c (item_id, chunker_key, model_key, content_hash, claimed_until) SELECT wanted.id, $1::text, $2::text, wanted.content_hash, now() + make_interval(secs => $4::double precision) FROM wanted ORDER BY wanted.id ON CONFLICT (item_id, chunker_key, model_key) DO UPDATE SET content_hash = excluded.content_hash, claimed_until = excluded.claimed_until WHERE c.claimed_until <= now() OR c.content_hash <> excluded.content_hash RETURNING c.item_id, c.content_hash",
        None,
    )
}
impl ClaimUnembeddedStmt {
    pub async fn prepare<'a, C: GenericClient>(
        mut self,
        client: &'a C,
    ) -> Result<Self, tokio_postgres::Error> {
        self.1 = Some(client.prepare(self.0).await?);
        Ok(self)
    }
    pub fn bind<'c, 'a, 's, C: GenericClient, T1: crate::StringSql, T2: crate::StringSql>(
        &'s self,
        client: &'c C,
        chunker_key: &'a T1,
        model_key: &'a T2,
        max_items: &'a i64,
        lease_seconds: &'a f64,
    ) -> ClaimUnembeddedQuery<'c, 'a, 's, C, ClaimUnembedded, 4> {
        ClaimUnembeddedQuery {
            client,
            params: [chunker_key, model_key, max_items, lease_seconds],
            query: self.0,
            cached: self.1.as_ref(),
            extractor: |
                row: &tokio_postgres::Row,
            | -> Result<ClaimUnembeddedBorrowed, tokio_postgres::Error> {
                Ok(ClaimUnembeddedBorrowed {
                    item_id: row.try_get(0)?,
                    content_hash: row.try_get(1)?,
                })
            },
            mapper: |it| ClaimUnembedded::from(it),
        }
    }
}
impl<'c, 'a, 's, C: GenericClient, T1: crate::StringSql, T2: crate::StringSql>
    crate::client::async_::Params<
        'c,
        'a,
        's,
        ClaimUnembeddedParams<T1, T2>,
        ClaimUnembeddedQuery<'c, 'a, 's, C, ClaimUnembedded, 4>,
        C,
    > for ClaimUnembeddedStmt
{
    fn params(
        &'s self,
        client: &'c C,
        params: &'a ClaimUnembeddedParams<T1, T2>,
    ) -> ClaimUnembeddedQuery<'c, 'a, 's, C, ClaimUnembedded, 4> {
        self.bind(
            client,
            &params.chunker_key,
            &params.model_key,
            &params.max_items,
            &params.lease_seconds,
        )
    }
}
pub struct FinishClaimsStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn finish_claims() -> FinishClaimsStmt {
    FinishClaimsStmt(
        "WITH done AS ( UPDATE embedding_claim AS c SET claimed_until = 'infinity' FROM unnest($1::bigint[], $2::bytea[]) AS k(item_id, content_hash) WHERE c.item_id = k.item_id AND c.chunker_key = $3 AND c.model_key = $4 AND c.content_hash = k.content_hash RETURNING 1 ) SELECT count(*) AS marked FROM done",
        None,
    )
}
impl FinishClaimsStmt {
    pub async fn prepare<'a, C: GenericClient>(
        mut self,
        client: &'a C,
    ) -> Result<Self, tokio_postgres::Error> {
        self.1 = Some(client.prepare(self.0).await?);
        Ok(self)
    }
    pub fn bind<
        'c,
        'a,
        's,
        C: GenericClient,
        T1: crate::ArraySql<Item = i64>,
        T2: crate::BytesSql,
        T3: crate::ArraySql<Item = T2>,
        T4: crate::StringSql,
        T5: crate::StringSql,
    >(
        &'s self,
        client: &'c C,
        item_ids: &'a T1,
        content_hashes: &'a T3,
        chunker_key: &'a T4,
        model_key: &'a T5,
    ) -> I64Query<'c, 'a, 's, C, i64, 4> {
        I64Query {
            client,
            params: [item_ids, content_hashes, chunker_key, model_key],
            query: self.0,
            cached: self.1.as_ref(),
            extractor: |row| Ok(row.try_get(0)?),
            mapper: |it| it,
        }
    }
}
impl<
    'c,
    'a,
    's,
    C: GenericClient,
    T1: crate::ArraySql<Item = i64>,
    T2: crate::BytesSql,
    T3: crate::ArraySql<Item = T2>,
    T4: crate::StringSql,
    T5: crate::StringSql,
>
    crate::client::async_::Params<
        'c,
        'a,
        's,
        FinishClaimsParams<T1, T2, T3, T4, T5>,
        I64Query<'c, 'a, 's, C, i64, 4>,
        C,
    > for FinishClaimsStmt
{
    fn params(
        &'s self,
        client: &'c C,
        params: &'a FinishClaimsParams<T1, T2, T3, T4, T5>,
    ) -> I64Query<'c, 'a, 's, C, i64, 4> {
        self.bind(
            client,
            &params.item_ids,
            &params.content_hashes,
            &params.chunker_key,
            &params.model_key,
        )
    }
}
pub struct PutEmbeddingsStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn put_embeddings() -> PutEmbeddingsStmt {
    PutEmbeddingsStmt(
        "WITH input AS ( SELECT * FROM unnest( $1::bigint[], $2::int[], $3::int[], $4::bytea[], $5::bytea[] ) AS t(item_id, chunk_index, chunk_count, content_hash, vector) ), written AS ( INSERT INTO chunk_embedding AS e (item_id, chunker_key, model_key, chunk_index, chunk_count, content_hash, vector) SELECT input.item_id, $6::text, $7::text, input.chunk_index, input.chunk_count, input.content_hash, input.vector FROM input JOIN item ON item.id = input.item_id AND item.content_hash = input.content_hash ORDER BY input.item_id, input.chunk_index ON CONFLICT (item_id, chunker_key, model_key, chunk_index) DO UPDATE SET chunk_count = excluded.chunk_count, content_hash = excluded.content_hash, vector = excluded.vector, written_by = pg_current_xact_id()::text::bigint RETURNING e.item_id, e.chunk_count ), trimmed AS ( DELETE FROM chunk_embedding AS e USING (SELECT DISTINCT item_id, chunk_count FROM written) AS sets WHERE e.item_id = sets.item_id AND e.chunker_key = $6::text AND e.model_key = $7::text AND e.chunk_index >= sets.chunk_count RETURNING 1 ) SELECT (SELECT count(*) FROM written) AS vectors_written, (SELECT count(*) FROM trimmed) AS vectors_removed",
        None,
    )
}
impl PutEmbeddingsStmt {
    pub async fn prepare<'a, C: GenericClient>(
        mut self,
        client: &'a C,
    ) -> Result<Self, tokio_postgres::Error> {
        self.1 = Some(client.prepare(self.0).await?);
        Ok(self)
    }
    pub fn bind<
        'c,
        'a,
        's,
        C: GenericClient,
        T1: crate::ArraySql<Item = i64>,
        T2: crate::ArraySql<Item = i32>,
        T3: crate::ArraySql<Item = i32>,
        T4: crate::BytesSql,
        T5: crate::ArraySql<Item = T4>,
        T6: crate::BytesSql,
        T7: crate::ArraySql<Item = T6>,
        T8: crate::StringSql,
        T9: crate::StringSql,
    >(
        &'s self,
        client: &'c C,
        item_ids: &'a T1,
        chunk_indexes: &'a T2,
        chunk_counts: &'a T3,
        content_hashes: &'a T5,
        vectors: &'a T7,
        chunker_key: &'a T8,
        model_key: &'a T9,
    ) -> PutEmbeddingsQuery<'c, 'a, 's, C, PutEmbeddings, 7> {
        PutEmbeddingsQuery {
            client,
            params: [
                item_ids,
                chunk_indexes,
                chunk_counts,
                content_hashes,
                vectors,
                chunker_key,
                model_key,
            ],
            query: self.0,
            cached: self.1.as_ref(),
            extractor: |row: &tokio_postgres::Row| -> Result<PutEmbeddings, tokio_postgres::Error> {
                Ok(PutEmbeddings {
                    vectors_written: row.try_get(0)?,
                    vectors_removed: row.try_get(1)?,
                })
            },
            mapper: |it| PutEmbeddings::from(it),
        }
    }
}
impl<
    'c,
    'a,
    's,
    C: GenericClient,
    T1: crate::ArraySql<Item = i64>,
    T2: crate::ArraySql<Item = i32>,
    T3: crate::ArraySql<Item = i32>,
    T4: crate::BytesSql,
    T5: crate::ArraySql<Item = T4>,
    T6: crate::BytesSql,
    T7: crate::ArraySql<Item = T6>,
    T8: crate::StringSql,
    T9: crate::StringSql,
>
    crate::client::async_::Params<
        'c,
        'a,
        's,
        PutEmbeddingsParams<T1, T2, T3, T4, T5, T6, T7, T8, T9>,
        PutEmbeddingsQuery<'c, 'a, 's, C, PutEmbeddings, 7>,
        C,
    > for PutEmbeddingsStmt
{
    fn params(
        &'s self,
        client: &'c C,
        params: &'a PutEmbeddingsParams<T1, T2, T3, T4, T5, T6, T7, T8, T9>,
    ) -> PutEmbeddingsQuery<'c, 'a, 's, C, PutEmbeddings, 7> {
        self.bind(
            client,
            &params.item_ids,
            &params.chunk_indexes,
            &params.chunk_counts,
            &params.content_hashes,
            &params.vectors,
            &params.chunker_key,
            &params.model_key,
        )
    }
}
pub struct EmbeddingsSinceStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn embeddings_since() -> EmbeddingsSinceStmt {
    EmbeddingsSinceStmt(
        "WITH snapshot AS ( SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon ) SELECT v.item_id, v.chunk_index, v.chunk_count, v.content_hash, v.vector, v.source, v.written_by, snapshot.horizon FROM snapshot LEFT JOIN LATERAL ( SELECT e.item_id, e.chunk_index, e.chunk_count, e.content_hash, e.vector, i.source, e.written_by FROM chunk_embedding AS e JOIN item AS i ON i.id = e.item_id AND i.content_hash = e.content_hash WHERE e.chunker_key = $1 AND e.model_key = $2 AND e.written_by >= $3::bigint ORDER BY e.written_by, e.item_id, e.chunk_index LIMIT $4::bigint ) AS v ON true ORDER BY v.written_by, v.item_id, v.chunk_index",
        None,
    )
}
impl EmbeddingsSinceStmt {
    pub async fn prepare<'a, C: GenericClient>(
        mut self,
        client: &'a C,
    ) -> Result<Self, tokio_postgres::Error> {
        self.1 = Some(client.prepare(self.0).await?);
        Ok(self)
    }
    pub fn bind<'c, 'a, 's, C: GenericClient, T1: crate::StringSql, T2: crate::StringSql>(
        &'s self,
        client: &'c C,
        chunker_key: &'a T1,
        model_key: &'a T2,
        from_transaction: &'a i64,
        max_rows: &'a i64,
    ) -> StoredEmbeddingQuery<'c, 'a, 's, C, StoredEmbedding, 4> {
        StoredEmbeddingQuery {
            client,
            params: [chunker_key, model_key, from_transaction, max_rows],
            query: self.0,
            cached: self.1.as_ref(),
            extractor: |
                row: &tokio_postgres::Row,
            | -> Result<StoredEmbeddingBorrowed, tokio_postgres::Error> {
                Ok(StoredEmbeddingBorrowed {
                    item_id: row.try_get(0)?,
                    chunk_index: row.try_get(1)?,
                    chunk_count: row.try_get(2)?,
                    content_hash: row.try_get(3)?,
                    vector: row.try_get(4)?,
                    source: row.try_get(5)?,
                    written_by: row.try_get(6)?,
                    horizon: row.try_get(7)?,
                })
            },
            mapper: |it| StoredEmbedding::from(it),
        }
    }
}
impl<'c, 'a, 's, C: GenericClient, T1: crate::StringSql, T2: crate::StringSql>
    crate::client::async_::Params<
        'c,
        'a,
        's,
        EmbeddingsSinceParams<T1, T2>,
        StoredEmbeddingQuery<'c, 'a, 's, C, StoredEmbedding, 4>,
        C,
    > for EmbeddingsSinceStmt
{
    fn params(
        &'s self,
        client: &'c C,
        params: &'a EmbeddingsSinceParams<T1, T2>,
    ) -> StoredEmbeddingQuery<'c, 'a, 's, C, StoredEmbedding, 4> {
        self.bind(
            client,
            &params.chunker_key,
            &params.model_key,
            &params.from_transaction,
            &params.max_rows,
        )
    }
}
pub struct EmbeddingProgressStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn embedding_progress() -> EmbeddingProgressStmt {
    EmbeddingProgressStmt(
        "SELECT count(*) AS items, count(*) FILTER ( WHERE EXISTS ( SELECT 1 FROM chunk_embedding AS e WHERE e.item_id = i.id AND e.chunker_key = $1 AND e.model_key = $2 AND e.chunk_index = 0 AND e.content_hash = i.content_hash ) OR EXISTS ( SELECT 1 FROM embedding_claim AS c WHERE c.item_id = i.id AND c.chunker_key = $1 AND c.model_key = $2 AND c.content_hash = i.content_hash AND c.claimed_until = 'infinity' ) ) AS indexed FROM item AS i",
        None,
    )
}
impl EmbeddingProgressStmt {
    pub async fn prepare<'a, C: GenericClient>(
        mut self,
        client: &'a C,
    ) -> Result<Self, tokio_postgres::Error> {
        self.1 = Some(client.prepare(self.0).await?);
        Ok(self)
    }
    pub fn bind<'c, 'a, 's, C: GenericClient, T1: crate::StringSql, T2: crate::StringSql>(
        &'s self,
        client: &'c C,
        chunker_key: &'a T1,
        model_key: &'a T2,
    ) -> EmbeddingProgressQuery<'c, 'a, 's, C, EmbeddingProgress, 2> {
        EmbeddingProgressQuery {
            client,
            params: [chunker_key, model_key],
            query: self.0,
            cached: self.1.as_ref(),
            extractor:
                |row: &tokio_postgres::Row| -> Result<EmbeddingProgress, tokio_postgres::Error> {
                    Ok(EmbeddingProgress {
                        items: row.try_get(0)?,
                        indexed: row.try_get(1)?,
                    })
                },
            mapper: |it| EmbeddingProgress::from(it),
        }
    }
}
impl<'c, 'a, 's, C: GenericClient, T1: crate::StringSql, T2: crate::StringSql>
    crate::client::async_::Params<
        'c,
        'a,
        's,
        EmbeddingProgressParams<T1, T2>,
        EmbeddingProgressQuery<'c, 'a, 's, C, EmbeddingProgress, 2>,
        C,
    > for EmbeddingProgressStmt
{
    fn params(
        &'s self,
        client: &'c C,
        params: &'a EmbeddingProgressParams<T1, T2>,
    ) -> EmbeddingProgressQuery<'c, 'a, 's, C, EmbeddingProgress, 2> {
        self.bind(client, &params.chunker_key, &params.model_key)
    }
}
