// This file was generated with `cornucopia`. Do not modify.

#[derive(Debug)]
pub struct GetChunksParams<T1: crate::StringSql, T2: crate::BytesSql> {
    pub item_id: i64,
    pub chunker_key: T1,
    pub content_hash: T2,
}
#[derive(Debug)]
pub struct GetChunksForItemsParams<
    T1: crate::ArraySql<Item = i64>,
    T2: crate::BytesSql,
    T3: crate::ArraySql<Item = T2>,
    T4: crate::StringSql,
> {
    pub item_ids: T1,
    pub content_hashes: T3,
    pub chunker_key: T4,
}
#[derive(Debug)]
pub struct PutChunksParams<
    T1: crate::ArraySql<Item = i64>,
    T2: crate::ArraySql<Item = i32>,
    T3: crate::ArraySql<Item = i32>,
    T4: crate::BytesSql,
    T5: crate::ArraySql<Item = T4>,
    T6: crate::ArraySql<Item = i32>,
    T7: crate::ArraySql<Item = i32>,
    T8: crate::StringSql,
    T9: crate::ArraySql<Item = T8>,
    T10: crate::ArraySql<Item = i32>,
    T11: crate::StringSql,
> {
    pub item_ids: T1,
    pub chunk_indexes: T2,
    pub chunk_counts: T3,
    pub content_hashes: T5,
    pub start_offsets: T6,
    pub end_offsets: T7,
    pub texts: T9,
    pub token_counts: T10,
    pub chunker_key: T11,
}
#[derive(Debug)]
pub struct GetChunksAtParams<
    T1: crate::ArraySql<Item = i64>,
    T2: crate::ArraySql<Item = i32>,
    T3: crate::BytesSql,
    T4: crate::ArraySql<Item = T3>,
    T5: crate::StringSql,
> {
    pub item_ids: T1,
    pub chunk_indexes: T2,
    pub content_hashes: T4,
    pub chunker_key: T5,
}
#[derive(Debug)]
pub struct ChunkTermsParams<
    T1: crate::ArraySql<Item = i64>,
    T2: crate::BytesSql,
    T3: crate::ArraySql<Item = T2>,
    T4: crate::StringSql,
> {
    pub item_ids: T1,
    pub content_hashes: T3,
    pub chunker_key: T4,
}
#[derive(Debug, Clone, PartialEq)]
pub struct CachedChunk {
    pub item_id: i64,
    pub chunker_key: String,
    pub chunk_index: i32,
    pub chunk_count: i32,
    pub content_hash: Vec<u8>,
    pub start_offset: i32,
    pub end_offset: i32,
    pub text: String,
    pub token_count: i32,
    pub created_at: chrono::DateTime<chrono::FixedOffset>,
}
pub struct CachedChunkBorrowed<'a> {
    pub item_id: i64,
    pub chunker_key: &'a str,
    pub chunk_index: i32,
    pub chunk_count: i32,
    pub content_hash: &'a [u8],
    pub start_offset: i32,
    pub end_offset: i32,
    pub text: &'a str,
    pub token_count: i32,
    pub created_at: chrono::DateTime<chrono::FixedOffset>,
}
impl<'a> From<CachedChunkBorrowed<'a>> for CachedChunk {
    fn from(
        CachedChunkBorrowed {
            item_id,
            chunker_key,
            chunk_index,
            chunk_count,
            content_hash,
            start_offset,
            end_offset,
            text,
            token_count,
            created_at,
        }: CachedChunkBorrowed<'a>,
    ) -> Self {
        Self {
            item_id,
            chunker_key: chunker_key.into(),
            chunk_index,
            chunk_count,
            content_hash: content_hash.into(),
            start_offset,
            end_offset,
            text: text.into(),
            token_count,
            created_at,
        }
    }
}
#[derive(Debug, Clone, PartialEq, Copy)]
pub struct PutChunks {
    pub chunks_written: i64,
    pub chunks_removed: i64,
}
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkTermList {
    pub item_id: i64,
    pub chunk_index: i32,
    pub chunk_count: i32,
    pub terms: Option<Vec<String>>,
    pub term_frequencies: Option<Vec<i16>>,
    pub term_count: Option<i32>,
}
pub struct ChunkTermListBorrowed<'a> {
    pub item_id: i64,
    pub chunk_index: i32,
    pub chunk_count: i32,
    pub terms: Option<crate::ArrayIterator<'a, &'a str>>,
    pub term_frequencies: Option<crate::ArrayIterator<'a, i16>>,
    pub term_count: Option<i32>,
}
impl<'a> From<ChunkTermListBorrowed<'a>> for ChunkTermList {
    fn from(
        ChunkTermListBorrowed {
            item_id,
            chunk_index,
            chunk_count,
            terms,
            term_frequencies,
            term_count,
        }: ChunkTermListBorrowed<'a>,
    ) -> Self {
        Self {
            item_id,
            chunk_index,
            chunk_count,
            terms: terms.map(|v| v.map(|v| v.into()).collect()),
            term_frequencies: term_frequencies.map(|v| v.map(|v| v).collect()),
            term_count,
        }
    }
}
use crate::client::async_::GenericClient;
use futures::{self, StreamExt, TryStreamExt};
pub struct CachedChunkQuery<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<CachedChunkBorrowed, tokio_postgres::Error>,
    mapper: fn(CachedChunkBorrowed) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> CachedChunkQuery<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(
        self,
        mapper: fn(CachedChunkBorrowed) -> R,
    ) -> CachedChunkQuery<'c, 'a, 's, C, R, N> {
        CachedChunkQuery {
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
pub struct PutChunksQuery<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<PutChunks, tokio_postgres::Error>,
    mapper: fn(PutChunks) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> PutChunksQuery<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(self, mapper: fn(PutChunks) -> R) -> PutChunksQuery<'c, 'a, 's, C, R, N> {
        PutChunksQuery {
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
pub struct ChunkTermListQuery<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<ChunkTermListBorrowed, tokio_postgres::Error>,
    mapper: fn(ChunkTermListBorrowed) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> ChunkTermListQuery<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(
        self,
        mapper: fn(ChunkTermListBorrowed) -> R,
    ) -> ChunkTermListQuery<'c, 'a, 's, C, R, N> {
        ChunkTermListQuery {
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
pub struct GetChunksStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn get_chunks() -> GetChunksStmt {
    GetChunksStmt(
        "SELECT item_id, chunker_key, chunk_index, chunk_count, content_hash, start_offset, end_offset, text, token_count, created_at FROM chunk_cache WHERE item_id = $1 AND chunker_key = $2 AND content_hash = $3 ORDER BY chunk_index",
        None,
    )
}
impl GetChunksStmt {
    pub async fn prepare<'a, C: GenericClient>(
        mut self,
        client: &'a C,
    ) -> Result<Self, tokio_postgres::Error> {
        self.1 = Some(client.prepare(self.0).await?);
        Ok(self)
    }
    pub fn bind<'c, 'a, 's, C: GenericClient, T1: crate::StringSql, T2: crate::BytesSql>(
        &'s self,
        client: &'c C,
        item_id: &'a i64,
        chunker_key: &'a T1,
        content_hash: &'a T2,
    ) -> CachedChunkQuery<'c, 'a, 's, C, CachedChunk, 3> {
        CachedChunkQuery {
            client,
            params: [item_id, chunker_key, content_hash],
            query: self.0,
            cached: self.1.as_ref(),
            extractor:
                |row: &tokio_postgres::Row| -> Result<CachedChunkBorrowed, tokio_postgres::Error> {
                    Ok(CachedChunkBorrowed {
                        item_id: row.try_get(0)?,
                        chunker_key: row.try_get(1)?,
                        chunk_index: row.try_get(2)?,
                        chunk_count: row.try_get(3)?,
                        content_hash: row.try_get(4)?,
                        start_offset: row.try_get(5)?,
                        end_offset: row.try_get(6)?,
                        text: row.try_get(7)?,
                        token_count: row.try_get(8)?,
                        created_at: row.try_get(9)?,
                    })
                },
            mapper: |it| CachedChunk::from(it),
        }
    }
}
impl<'c, 'a, 's, C: GenericClient, T1: crate::StringSql, T2: crate::BytesSql>
    crate::client::async_::Params<
        'c,
        'a,
        's,
        GetChunksParams<T1, T2>,
        CachedChunkQuery<'c, 'a, 's, C, CachedChunk, 3>,
        C,
    > for GetChunksStmt
{
    fn params(
        &'s self,
        client: &'c C,
        params: &'a GetChunksParams<T1, T2>,
    ) -> CachedChunkQuery<'c, 'a, 's, C, CachedChunk, 3> {
        self.bind(
            client,
            &params.item_id,
            &params.chunker_key,
            &params.content_hash,
        )
    }
}
pub struct GetChunksForItemsStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn get_chunks_for_items() -> GetChunksForItemsStmt {
    GetChunksForItemsStmt(
        "SELECT c.item_id, c.chunker_key, c.chunk_index, c.chunk_count, c.content_hash, c.start_offset, c.end_offset, c.text, c.token_count, c.created_at FROM unnest($1::bigint[], $2::bytea[]) AS k(item_id, content_hash) JOIN chunk_cache AS c ON c.item_id = k.item_id AND c.content_hash = k.content_hash AND c.chunker_key = $3 ORDER BY c.item_id, c.chunk_index",
        None,
    )
}
impl GetChunksForItemsStmt {
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
    >(
        &'s self,
        client: &'c C,
        item_ids: &'a T1,
        content_hashes: &'a T3,
        chunker_key: &'a T4,
    ) -> CachedChunkQuery<'c, 'a, 's, C, CachedChunk, 3> {
        CachedChunkQuery {
            client,
            params: [item_ids, content_hashes, chunker_key],
            query: self.0,
            cached: self.1.as_ref(),
            extractor:
                |row: &tokio_postgres::Row| -> Result<CachedChunkBorrowed, tokio_postgres::Error> {
                    Ok(CachedChunkBorrowed {
                        item_id: row.try_get(0)?,
                        chunker_key: row.try_get(1)?,
                        chunk_index: row.try_get(2)?,
                        chunk_count: row.try_get(3)?,
                        content_hash: row.try_get(4)?,
                        start_offset: row.try_get(5)?,
                        end_offset: row.try_get(6)?,
                        text: row.try_get(7)?,
                        token_count: row.try_get(8)?,
                        created_at: row.try_get(9)?,
                    })
                },
            mapper: |it| CachedChunk::from(it),
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
>
    crate::client::async_::Params<
        'c,
        'a,
        's,
        GetChunksForItemsParams<T1, T2, T3, T4>,
        CachedChunkQuery<'c, 'a, 's, C, CachedChunk, 3>,
        C,
    > for GetChunksForItemsStmt
{
    fn params(
        &'s self,
        client: &'c C,
        params: &'a GetChunksForItemsParams<T1, T2, T3, T4>,
    ) -> CachedChunkQuery<'c, 'a, 's, C, CachedChunk, 3> {
        self.bind(
            client,
            &params.item_ids,
            &params.content_hashes,
            &params.chunker_key,
        )
    }
}
pub struct PutChunksStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn put_chunks() -> PutChunksStmt {
    PutChunksStmt(
        "WITH input AS ( SELECT * FROM unnest( $1::bigint[], $2::int[], $3::int[], $4::bytea[], $5::int[], $6::int[], $7::text[], $8::int[] ) AS t(item_id, chunk_index, chunk_count, content_hash, start_offset, end_offset, text, token_count) ), written AS ( INSERT INTO chunk_cache AS c (item_id, chunker_key, chunk_index, chunk_count, content_hash, start_offset, end_offset, text, token_count, terms, term_frequencies, term_count) SELECT input.item_id, $9::text, input.chunk_index, input.chunk_count, input.content_hash, input.start_offset, input.end_offset, input.text, input.token_count, stats.terms, stats.term_frequencies, stats.term_count FROM input JOIN item ON item.id = input.item_id AND item.content_hash = input.content_hash CROSS JOIN LATERAL ( SELECT coalesce(array_agg(u.lexeme ORDER BY u.lexeme), '{}') AS terms, coalesce(array_agg(cardinality(u.positions)::smallint ORDER BY u.lexeme), '{}') AS term_frequencies, coalesce(sum(cardinality(u.positions)), 0)::integer AS term_count FROM unnest(to_tsvector('english'::regconfig, input.text)) AS u ) AS stats ORDER BY input.item_id, input.chunk_index ON CONFLICT (item_id, chunker_key, chunk_index) DO UPDATE SET chunk_count = excluded.chunk_count, content_hash = excluded.content_hash, start_offset = excluded.start_offset, end_offset = excluded.end_offset, text = excluded.text, token_count = excluded.token_count, terms = excluded.terms, term_frequencies = excluded.term_frequencies, term_count = excluded.term_count, created_at = now() RETURNING c.item_id, c.chunk_count ), trimmed AS ( DELETE FROM chunk_cache AS c USING (SELECT DISTINCT item_id, chunk_count FROM written) AS sets WHERE c.item_id = sets.item_id AND c.chunker_key = $9::text AND c.chunk_index >= sets.chunk_count RETURNING 1 ) SELECT (SELECT count(*) FROM written) AS chunks_written, (SELECT count(*) FROM trimmed) AS chunks_removed",
        None,
    )
}
impl PutChunksStmt {
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
        T6: crate::ArraySql<Item = i32>,
        T7: crate::ArraySql<Item = i32>,
        T8: crate::StringSql,
        T9: crate::ArraySql<Item = T8>,
        T10: crate::ArraySql<Item = i32>,
        T11: crate::StringSql,
    >(
        &'s self,
        client: &'c C,
        item_ids: &'a T1,
        chunk_indexes: &'a T2,
        chunk_counts: &'a T3,
        content_hashes: &'a T5,
        start_offsets: &'a T6,
        end_offsets: &'a T7,
        texts: &'a T9,
        token_counts: &'a T10,
        chunker_key: &'a T11,
    ) -> PutChunksQuery<'c, 'a, 's, C, PutChunks, 9> {
        PutChunksQuery {
            client,
            params: [
                item_ids,
                chunk_indexes,
                chunk_counts,
                content_hashes,
                start_offsets,
                end_offsets,
                texts,
                token_counts,
                chunker_key,
            ],
            query: self.0,
            cached: self.1.as_ref(),
            extractor: |row: &tokio_postgres::Row| -> Result<PutChunks, tokio_postgres::Error> {
                Ok(PutChunks {
                    chunks_written: row.try_get(0)?,
                    chunks_removed: row.try_get(1)?,
                })
            },
            mapper: |it| PutChunks::from(it),
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
    T6: crate::ArraySql<Item = i32>,
    T7: crate::ArraySql<Item = i32>,
    T8: crate::StringSql,
    T9: crate::ArraySql<Item = T8>,
    T10: crate::ArraySql<Item = i32>,
    T11: crate::StringSql,
>
    crate::client::async_::Params<
        'c,
        'a,
        's,
        PutChunksParams<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11>,
        PutChunksQuery<'c, 'a, 's, C, PutChunks, 9>,
        C,
    > for PutChunksStmt
{
    fn params(
        &'s self,
        client: &'c C,
        params: &'a PutChunksParams<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11>,
    ) -> PutChunksQuery<'c, 'a, 's, C, PutChunks, 9> {
        self.bind(
            client,
            &params.item_ids,
            &params.chunk_indexes,
            &params.chunk_counts,
            &params.content_hashes,
            &params.start_offsets,
            &params.end_offsets,
            &params.texts,
            &params.token_counts,
            &params.chunker_key,
        )
    }
}
pub struct DeleteStaleChunksStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn delete_stale_chunks() -> DeleteStaleChunksStmt {
    DeleteStaleChunksStmt(
        "DELETE FROM chunk_cache AS c USING item AS i WHERE c.item_id = i.id AND c.content_hash <> i.content_hash",
        None,
    )
}
impl DeleteStaleChunksStmt {
    pub async fn prepare<'a, C: GenericClient>(
        mut self,
        client: &'a C,
    ) -> Result<Self, tokio_postgres::Error> {
        self.1 = Some(client.prepare(self.0).await?);
        Ok(self)
    }
    pub async fn bind<'c, 'a, 's, C: GenericClient>(
        &'s self,
        client: &'c C,
    ) -> Result<u64, tokio_postgres::Error> {
        client.execute(self.0, &[]).await
    }
}
pub struct DeleteChunksOfOtherChunkersStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn delete_chunks_of_other_chunkers() -> DeleteChunksOfOtherChunkersStmt {
    DeleteChunksOfOtherChunkersStmt("DELETE FROM chunk_cache WHERE chunker_key <> $1", None)
}
impl DeleteChunksOfOtherChunkersStmt {
    pub async fn prepare<'a, C: GenericClient>(
        mut self,
        client: &'a C,
    ) -> Result<Self, tokio_postgres::Error> {
        self.1 = Some(client.prepare(self.0).await?);
        Ok(self)
    }
    pub async fn bind<'c, 'a, 's, C: GenericClient, T1: crate::StringSql>(
        &'s self,
        client: &'c C,
        chunker_key: &'a T1,
    ) -> Result<u64, tokio_postgres::Error> {
        client.execute(self.0, &[chunker_key]).await
    }
}
pub struct GetChunksAtStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn get_chunks_at() -> GetChunksAtStmt {
    GetChunksAtStmt(
        "SELECT c.item_id, c.chunker_key, c.chunk_index, c.chunk_count, c.content_hash, c.start_offset, c.end_offset, c.text, c.token_count, c.created_at FROM unnest($1::bigint[], $2::int[], $3::bytea[]) AS k(item_id, chunk_index, content_hash) CROSS JOIN LATERAL ( SELECT x.* FROM chunk_cache AS x WHERE x.item_id = k.item_id AND x.chunker_key = $4 AND x.chunk_index = k.chunk_index AND x.content_hash = k.content_hash OFFSET 0 ) AS c ORDER BY c.item_id, c.chunk_index",
        None,
    )
}
impl GetChunksAtStmt {
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
        T3: crate::BytesSql,
        T4: crate::ArraySql<Item = T3>,
        T5: crate::StringSql,
    >(
        &'s self,
        client: &'c C,
        item_ids: &'a T1,
        chunk_indexes: &'a T2,
        content_hashes: &'a T4,
        chunker_key: &'a T5,
    ) -> CachedChunkQuery<'c, 'a, 's, C, CachedChunk, 4> {
        CachedChunkQuery {
            client,
            params: [item_ids, chunk_indexes, content_hashes, chunker_key],
            query: self.0,
            cached: self.1.as_ref(),
            extractor:
                |row: &tokio_postgres::Row| -> Result<CachedChunkBorrowed, tokio_postgres::Error> {
                    Ok(CachedChunkBorrowed {
                        item_id: row.try_get(0)?,
                        chunker_key: row.try_get(1)?,
                        chunk_index: row.try_get(2)?,
                        chunk_count: row.try_get(3)?,
                        content_hash: row.try_get(4)?,
                        start_offset: row.try_get(5)?,
                        end_offset: row.try_get(6)?,
                        text: row.try_get(7)?,
                        token_count: row.try_get(8)?,
                        created_at: row.try_get(9)?,
                    })
                },
            mapper: |it| CachedChunk::from(it),
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
    T3: crate::BytesSql,
    T4: crate::ArraySql<Item = T3>,
    T5: crate::StringSql,
>
    crate::client::async_::Params<
        'c,
        'a,
        's,
        GetChunksAtParams<T1, T2, T3, T4, T5>,
        CachedChunkQuery<'c, 'a, 's, C, CachedChunk, 4>,
        C,
    > for GetChunksAtStmt
{
    fn params(
        &'s self,
        client: &'c C,
        params: &'a GetChunksAtParams<T1, T2, T3, T4, T5>,
    ) -> CachedChunkQuery<'c, 'a, 's, C, CachedChunk, 4> {
        self.bind(
            client,
            &params.item_ids,
            &params.chunk_indexes,
            &params.content_hashes,
            &params.chunker_key,
        )
    }
}
pub struct ChunkTermsStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn chunk_terms() -> ChunkTermsStmt {
    ChunkTermsStmt(
        "SELECT c.item_id, c.chunk_index, c.chunk_count, c.terms, c.term_frequencies, c.term_count FROM unnest($1::bigint[], $2::bytea[]) AS k(item_id, content_hash) CROSS JOIN LATERAL ( SELECT x.item_id, x.chunk_index, x.chunk_count, x.terms, x.term_frequencies, x.term_count FROM chunk_cache AS x WHERE x.item_id = k.item_id AND x.chunker_key = $3 AND x.content_hash = k.content_hash OFFSET 0 ) AS c ORDER BY c.item_id, c.chunk_index",
        None,
    )
}
impl ChunkTermsStmt {
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
    >(
        &'s self,
        client: &'c C,
        item_ids: &'a T1,
        content_hashes: &'a T3,
        chunker_key: &'a T4,
    ) -> ChunkTermListQuery<'c, 'a, 's, C, ChunkTermList, 3> {
        ChunkTermListQuery {
            client,
            params: [item_ids, content_hashes, chunker_key],
            query: self.0,
            cached: self.1.as_ref(),
            extractor:
                |row: &tokio_postgres::Row| -> Result<ChunkTermListBorrowed, tokio_postgres::Error> {
                    Ok(ChunkTermListBorrowed {
                        item_id: row.try_get(0)?,
                        chunk_index: row.try_get(1)?,
                        chunk_count: row.try_get(2)?,
                        terms: row.try_get(3)?,
                        term_frequencies: row.try_get(4)?,
                        term_count: row.try_get(5)?,
                    })
                },
            mapper: |it| ChunkTermList::from(it),
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
>
    crate::client::async_::Params<
        'c,
        'a,
        's,
        ChunkTermsParams<T1, T2, T3, T4>,
        ChunkTermListQuery<'c, 'a, 's, C, ChunkTermList, 3>,
        C,
    > for ChunkTermsStmt
{
    fn params(
        &'s self,
        client: &'c C,
        params: &'a ChunkTermsParams<T1, T2, T3, T4>,
    ) -> ChunkTermListQuery<'c, 'a, 's, C, ChunkTermList, 3> {
        self.bind(
            client,
            &params.item_ids,
            &params.content_hashes,
            &params.chunker_key,
        )
    }
}
