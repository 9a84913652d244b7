// This file was generated with `cornucopia`. Do not modify.

#[derive(Debug)]
pub struct UpsertItemsParams<
    T1: crate::StringSql,
    T2: crate::ArraySql<Item = T1>,
    T3: crate::StringSql,
    T4: crate::ArraySql<Item = T3>,
    T5: crate::StringSql,
    T6: crate::ArraySql<Item = Option<T5>>,
    T7: crate::StringSql,
    T8: crate::ArraySql<Item = T7>,
    T9: crate::BytesSql,
    T10: crate::ArraySql<Item = T9>,
    T11: crate::JsonSql,
    T12: crate::ArraySql<Item = T11>,
    T13: crate::StringSql,
    T14: crate::ArraySql<Item = Option<T13>>,
> {
    pub sources: T2,
    pub external_ids: T4,
    pub titles: T6,
    pub contents: T8,
    pub content_hashes: T10,
    pub metadata: T12,
    pub page_starts: T14,
}
#[derive(Debug)]
pub struct GetItemByKeyParams<T1: crate::StringSql, T2: crate::StringSql> {
    pub source: T1,
    pub external_id: T2,
}
#[derive(Debug)]
pub struct GetItemIdsByKeysParams<
    T1: crate::StringSql,
    T2: crate::ArraySql<Item = T1>,
    T3: crate::StringSql,
    T4: crate::ArraySql<Item = T3>,
> {
    pub sources: T2,
    pub external_ids: T4,
}
#[derive(Debug)]
pub struct DeleteItemByKeyParams<T1: crate::StringSql, T2: crate::StringSql> {
    pub source: T1,
    pub external_id: T2,
}
#[derive(Debug)]
pub struct SourceItemKeysParams<T1: crate::StringSql, T2: crate::StringSql> {
    pub source: T1,
    pub after: Option<T2>,
    pub limit: i64,
}
#[derive(Debug)]
pub struct SourceItemDigestsParams<T1: crate::StringSql, T2: crate::StringSql> {
    pub source: T1,
    pub after: Option<T2>,
    pub limit: i64,
}
#[derive(Debug)]
pub struct SearchItemsParams<
    T1: crate::StringSql,
    T2: crate::StringSql,
    T3: crate::ArraySql<Item = T2>,
> {
    pub query: T1,
    pub sources: Option<T3>,
    pub limit: i64,
}
#[derive(Debug)]
pub struct SearchItemsAnyWordParams<
    T1: crate::StringSql,
    T2: crate::StringSql,
    T3: crate::ArraySql<Item = T2>,
> {
    pub query: T1,
    pub sources: Option<T3>,
    pub limit: i64,
}
#[derive(Debug)]
pub struct LexicalCorpusParams<
    T1: crate::StringSql,
    T2: crate::StringSql,
    T3: crate::ArraySql<Item = T2>,
> {
    pub question: T1,
    pub sources: Option<T3>,
}
#[derive(Debug)]
pub struct MergePostingsParams<T1: crate::StringSql> {
    pub after: Option<T1>,
    pub most_terms: i32,
}
#[derive(Debug)]
pub struct ItemFilterMatchesParams<T1: crate::StringSql> {
    pub known_version: i64,
    pub filter: T1,
}
#[derive(Debug)]
pub struct ItemFilterMatchesNarrowedParams<T1: crate::StringSql, T2: crate::StringSql> {
    pub known_version: i64,
    pub narrowing: T1,
    pub filter: T2,
}
#[derive(Debug, Clone, PartialEq, Copy)]
pub struct UpsertItems {
    pub ordinal: i64,
    pub id: Option<i64>,
    pub inserted: bool,
    pub written: bool,
}
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: i64,
    pub source: String,
    pub external_id: String,
    pub title: Option<String>,
    pub content: String,
    pub content_hash: Vec<u8>,
    pub metadata: String,
    pub created_at: chrono::DateTime<chrono::FixedOffset>,
    pub updated_at: chrono::DateTime<chrono::FixedOffset>,
    pub page_starts: Option<Vec<i32>>,
}
pub struct ItemBorrowed<'a> {
    pub id: i64,
    pub source: &'a str,
    pub external_id: &'a str,
    pub title: Option<&'a str>,
    pub content: &'a str,
    pub content_hash: &'a [u8],
    pub metadata: &'a str,
    pub created_at: chrono::DateTime<chrono::FixedOffset>,
    pub updated_at: chrono::DateTime<chrono::FixedOffset>,
    pub page_starts: Option<crate::ArrayIterator<'a, i32>>,
}
impl<'a> From<ItemBorrowed<'a>> for Item {
    fn from(
        ItemBorrowed {
            id,
            source,
            external_id,
            title,
            content,
            content_hash,
            metadata,
            created_at,
            updated_at,
            page_starts,
        }: ItemBorrowed<'a>,
    ) -> Self {
        Self {
            id,
            source: source.into(),
            external_id: external_id.into(),
            title: title.map(|v| v.into()),
            content: content.into(),
            content_hash: content_hash.into(),
            metadata: metadata.into(),
            created_at,
            updated_at,
            page_starts: page_starts.map(|v| v.map(|v| v).collect()),
        }
    }
}
#[derive(Debug, Clone, PartialEq)]
pub struct GetItemMetadata {
    pub id: i64,
    pub metadata: String,
}
pub struct GetItemMetadataBorrowed<'a> {
    pub id: i64,
    pub metadata: &'a str,
}
impl<'a> From<GetItemMetadataBorrowed<'a>> for GetItemMetadata {
    fn from(GetItemMetadataBorrowed { id, metadata }: GetItemMetadataBorrowed<'a>) -> Self {
        Self {
            id,
            metadata: metadata.into(),
        }
    }
}
#[derive(Debug, Clone, PartialEq)]
pub struct GetItemIdsByKeys {
    pub id: i64,
    pub source: String,
    pub external_id: String,
}
pub struct GetItemIdsByKeysBorrowed<'a> {
    pub id: i64,
    pub source: &'a str,
    pub external_id: &'a str,
}
impl<'a> From<GetItemIdsByKeysBorrowed<'a>> for GetItemIdsByKeys {
    fn from(
        GetItemIdsByKeysBorrowed {
            id,
            source,
            external_id,
        }: GetItemIdsByKeysBorrowed<'a>,
    ) -> Self {
        Self {
            id,
            source: source.into(),
            external_id: external_id.into(),
        }
    }
}
#[derive(Debug, Clone, PartialEq)]
pub struct SourceItemKeys {
    pub id: i64,
    pub external_id: String,
}
pub struct SourceItemKeysBorrowed<'a> {
    pub id: i64,
    pub external_id: &'a str,
}
impl<'a> From<SourceItemKeysBorrowed<'a>> for SourceItemKeys {
    fn from(SourceItemKeysBorrowed { id, external_id }: SourceItemKeysBorrowed<'a>) -> Self {
        Self {
            id,
            external_id: external_id.into(),
        }
    }
}
#[derive(Debug, Clone, PartialEq)]
pub struct SourceItemDigests {
    pub id: i64,
    pub external_id: String,
    pub content_hash: Vec<u8>,
    pub updated_at: chrono::DateTime<chrono::FixedOffset>,
}
pub struct SourceItemDigestsBorrowed<'a> {
    pub id: i64,
    pub external_id: &'a str,
    pub content_hash: &'a [u8],
    pub updated_at: chrono::DateTime<chrono::FixedOffset>,
}
impl<'a> From<SourceItemDigestsBorrowed<'a>> for SourceItemDigests {
    fn from(
        SourceItemDigestsBorrowed {
            id,
            external_id,
            content_hash,
            updated_at,
        }: SourceItemDigestsBorrowed<'a>,
    ) -> Self {
        Self {
            id,
            external_id: external_id.into(),
            content_hash: content_hash.into(),
            updated_at,
        }
    }
}
#[derive(Debug, Clone, PartialEq)]
pub struct SourceCounts {
    pub source: String,
    pub items: i64,
}
pub struct SourceCountsBorrowed<'a> {
    pub source: &'a str,
    pub items: i64,
}
impl<'a> From<SourceCountsBorrowed<'a>> for SourceCounts {
    fn from(SourceCountsBorrowed { source, items }: SourceCountsBorrowed<'a>) -> Self {
        Self {
            source: source.into(),
            items,
        }
    }
}
#[derive(Debug, Clone, PartialEq)]
pub struct ItemHit {
    pub id: i64,
    pub source: String,
    pub external_id: String,
    pub title: Option<String>,
    pub content: String,
    pub content_hash: Vec<u8>,
    pub metadata: String,
    pub created_at: chrono::DateTime<chrono::FixedOffset>,
    pub updated_at: chrono::DateTime<chrono::FixedOffset>,
    pub page_starts: Option<Vec<i32>>,
    pub rank: f32,
}
pub struct ItemHitBorrowed<'a> {
    pub id: i64,
    pub source: &'a str,
    pub external_id: &'a str,
    pub title: Option<&'a str>,
    pub content: &'a str,
    pub content_hash: &'a [u8],
    pub metadata: &'a str,
    pub created_at: chrono::DateTime<chrono::FixedOffset>,
    pub updated_at: chrono::DateTime<chrono::FixedOffset>,
    pub page_starts: Option<crate::ArrayIterator<'a, i32>>,
    pub rank: f32,
}
impl<'a> From<ItemHitBorrowed<'a>> for ItemHit {
    fn from(
        ItemHitBorrowed {
            id,
            source,
            external_id,
            title,
            content,
            content_hash,
            metadata,
            created_at,
            updated_at,
            page_starts,
            rank,
        }: ItemHitBorrowed<'a>,
    ) -> Self {
        Self {
            id,
            source: source.into(),
            external_id: external_id.into(),
            title: title.map(|v| v.into()),
            content: content.into(),
            content_hash: content_hash.into(),
            metadata: metadata.into(),
            created_at,
            updated_at,
            page_starts: page_starts.map(|v| v.map(|v| v).collect()),
            rank,
        }
    }
}
#[derive(Debug, Clone, PartialEq)]
pub struct LexicalCorpus {
    pub version: i64,
    pub items: i64,
    pub title_length: i64,
    pub content_length: i64,
    pub terms: Vec<String>,
    pub source_ids: Vec<i32>,
}
pub struct LexicalCorpusBorrowed<'a> {
    pub version: i64,
    pub items: i64,
    pub title_length: i64,
    pub content_length: i64,
    pub terms: crate::ArrayIterator<'a, &'a str>,
    pub source_ids: crate::ArrayIterator<'a, i32>,
}
impl<'a> From<LexicalCorpusBorrowed<'a>> for LexicalCorpus {
    fn from(
        LexicalCorpusBorrowed {
            version,
            items,
            title_length,
            content_length,
            terms,
            source_ids,
        }: LexicalCorpusBorrowed<'a>,
    ) -> Self {
        Self {
            version,
            items,
            title_length,
            content_length,
            terms: terms.map(|v| v.into()).collect(),
            source_ids: source_ids.map(|v| v).collect(),
        }
    }
}
#[derive(Debug, Clone, PartialEq)]
pub struct LexicalPostings {
    pub term: String,
    pub block: Option<i64>,
    pub item_ids: Option<Vec<i64>>,
    pub title_tfs: Option<Vec<i16>>,
    pub content_tfs: Option<Vec<i16>>,
    pub title_lengths: Option<Vec<i32>>,
    pub content_lengths: Option<Vec<i32>>,
    pub source_ids: Option<Vec<i32>>,
    pub dead_item_ids: Option<Vec<i64>>,
    pub version: i64,
}
pub struct LexicalPostingsBorrowed<'a> {
    pub term: &'a str,
    pub block: Option<i64>,
    pub item_ids: Option<crate::ArrayIterator<'a, i64>>,
    pub title_tfs: Option<crate::ArrayIterator<'a, i16>>,
    pub content_tfs: Option<crate::ArrayIterator<'a, i16>>,
    pub title_lengths: Option<crate::ArrayIterator<'a, i32>>,
    pub content_lengths: Option<crate::ArrayIterator<'a, i32>>,
    pub source_ids: Option<crate::ArrayIterator<'a, i32>>,
    pub dead_item_ids: Option<crate::ArrayIterator<'a, i64>>,
    pub version: i64,
}
impl<'a> From<LexicalPostingsBorrowed<'a>> for LexicalPostings {
    fn from(
        LexicalPostingsBorrowed {
            term,
            block,
            item_ids,
            title_tfs,
            content_tfs,
            title_lengths,
            content_lengths,
            source_ids,
            dead_item_ids,
            version,
        }: LexicalPostingsBorrowed<'a>,
    ) -> Self {
        Self {
            term: term.into(),
            block,
            item_ids: item_ids.map(|v| v.map(|v| v).collect()),
            title_tfs: title_tfs.map(|v| v.map(|v| v).collect()),
            content_tfs: content_tfs.map(|v| v.map(|v| v).collect()),
            title_lengths: title_lengths.map(|v| v.map(|v| v).collect()),
            content_lengths: content_lengths.map(|v| v.map(|v| v).collect()),
            source_ids: source_ids.map(|v| v.map(|v| v).collect()),
            dead_item_ids: dead_item_ids.map(|v| v.map(|v| v).collect()),
            version,
        }
    }
}
#[derive(Debug, Clone, PartialEq)]
pub struct ItemHead {
    pub id: i64,
    pub source: String,
    pub external_id: String,
    pub title: Option<String>,
    pub content_hash: Vec<u8>,
    pub page_starts: Option<Vec<i32>>,
    pub version: i64,
}
pub struct ItemHeadBorrowed<'a> {
    pub id: i64,
    pub source: &'a str,
    pub external_id: &'a str,
    pub title: Option<&'a str>,
    pub content_hash: &'a [u8],
    pub page_starts: Option<crate::ArrayIterator<'a, i32>>,
    pub version: i64,
}
impl<'a> From<ItemHeadBorrowed<'a>> for ItemHead {
    fn from(
        ItemHeadBorrowed {
            id,
            source,
            external_id,
            title,
            content_hash,
            page_starts,
            version,
        }: ItemHeadBorrowed<'a>,
    ) -> Self {
        Self {
            id,
            source: source.into(),
            external_id: external_id.into(),
            title: title.map(|v| v.into()),
            content_hash: content_hash.into(),
            page_starts: page_starts.map(|v| v.map(|v| v).collect()),
            version,
        }
    }
}
#[derive(Debug, Clone, PartialEq)]
pub struct ItemMatches {
    pub version: i64,
    pub ids: Option<Vec<i64>>,
}
pub struct ItemMatchesBorrowed<'a> {
    pub version: i64,
    pub ids: Option<crate::ArrayIterator<'a, i64>>,
}
impl<'a> From<ItemMatchesBorrowed<'a>> for ItemMatches {
    fn from(ItemMatchesBorrowed { version, ids }: ItemMatchesBorrowed<'a>) -> Self {
        Self {
            version,
            ids: ids.map(|v| v.map(|v| v).collect()),
        }
    }
}
use crate::client::async_::GenericClient;
use futures::{self, StreamExt, TryStreamExt};
pub struct UpsertItemsQuery<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<UpsertItems, tokio_postgres::Error>,
    mapper: fn(UpsertItems) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> UpsertItemsQuery<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(self, mapper: fn(UpsertItems) -> R) -> UpsertItemsQuery<'c, 'a, 's, C, R, N> {
        UpsertItemsQuery {
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
pub struct ItemQuery<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<ItemBorrowed, tokio_postgres::Error>,
    mapper: fn(ItemBorrowed) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> ItemQuery<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(self, mapper: fn(ItemBorrowed) -> R) -> ItemQuery<'c, 'a, 's, C, R, N> {
        ItemQuery {
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
pub struct GetItemMetadataQuery<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<GetItemMetadataBorrowed, tokio_postgres::Error>,
    mapper: fn(GetItemMetadataBorrowed) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> GetItemMetadataQuery<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(
        self,
        mapper: fn(GetItemMetadataBorrowed) -> R,
    ) -> GetItemMetadataQuery<'c, 'a, 's, C, R, N> {
        GetItemMetadataQuery {
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
pub struct GetItemIdsByKeysQuery<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<GetItemIdsByKeysBorrowed, tokio_postgres::Error>,
    mapper: fn(GetItemIdsByKeysBorrowed) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> GetItemIdsByKeysQuery<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(
        self,
        mapper: fn(GetItemIdsByKeysBorrowed) -> R,
    ) -> GetItemIdsByKeysQuery<'c, 'a, 's, C, R, N> {
        GetItemIdsByKeysQuery {
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
pub struct SourceItemKeysQuery<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<SourceItemKeysBorrowed, tokio_postgres::Error>,
    mapper: fn(SourceItemKeysBorrowed) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> SourceItemKeysQuery<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(
        self,
        mapper: fn(SourceItemKeysBorrowed) -> R,
    ) -> SourceItemKeysQuery<'c, 'a, 's, C, R, N> {
        SourceItemKeysQuery {
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
pub struct SourceItemDigestsQuery<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<SourceItemDigestsBorrowed, tokio_postgres::Error>,
    mapper: fn(SourceItemDigestsBorrowed) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> SourceItemDigestsQuery<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(
        self,
        mapper: fn(SourceItemDigestsBorrowed) -> R,
    ) -> SourceItemDigestsQuery<'c, 'a, 's, C, R, N> {
        SourceItemDigestsQuery {
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
pub struct SourceCountsQuery<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<SourceCountsBorrowed, tokio_postgres::Error>,
    mapper: fn(SourceCountsBorrowed) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> SourceCountsQuery<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(
        self,
        mapper: fn(SourceCountsBorrowed) -> R,
    ) -> SourceCountsQuery<'c, 'a, 's, C, R, N> {
        SourceCountsQuery {
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
pub struct StringQuery<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<&str, tokio_postgres::Error>,
    mapper: fn(&str) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> StringQuery<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(self, mapper: fn(&str) -> R) -> StringQuery<'c, 'a, 's, C, R, N> {
        StringQuery {
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
pub struct ItemHitQuery<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<ItemHitBorrowed, tokio_postgres::Error>,
    mapper: fn(ItemHitBorrowed) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> ItemHitQuery<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(self, mapper: fn(ItemHitBorrowed) -> R) -> ItemHitQuery<'c, 'a, 's, C, R, N> {
        ItemHitQuery {
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
pub struct LexicalCorpusQuery<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<LexicalCorpusBorrowed, tokio_postgres::Error>,
    mapper: fn(LexicalCorpusBorrowed) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> LexicalCorpusQuery<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(
        self,
        mapper: fn(LexicalCorpusBorrowed) -> R,
    ) -> LexicalCorpusQuery<'c, 'a, 's, C, R, N> {
        LexicalCorpusQuery {
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
pub struct LexicalPostingsQuery<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<LexicalPostingsBorrowed, tokio_postgres::Error>,
    mapper: fn(LexicalPostingsBorrowed) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> LexicalPostingsQuery<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(
        self,
        mapper: fn(LexicalPostingsBorrowed) -> R,
    ) -> LexicalPostingsQuery<'c, 'a, 's, C, R, N> {
        LexicalPostingsQuery {
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
pub struct I32Query<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<i32, tokio_postgres::Error>,
    mapper: fn(i32) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> I32Query<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(self, mapper: fn(i32) -> R) -> I32Query<'c, 'a, 's, C, R, N> {
        I32Query {
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
pub struct OptionStringQuery<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<Option<&str>, tokio_postgres::Error>,
    mapper: fn(Option<&str>) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> OptionStringQuery<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(self, mapper: fn(Option<&str>) -> R) -> OptionStringQuery<'c, 'a, 's, C, R, N> {
        OptionStringQuery {
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
pub struct ItemHeadQuery<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<ItemHeadBorrowed, tokio_postgres::Error>,
    mapper: fn(ItemHeadBorrowed) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> ItemHeadQuery<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(self, mapper: fn(ItemHeadBorrowed) -> R) -> ItemHeadQuery<'c, 'a, 's, C, R, N> {
        ItemHeadQuery {
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
pub struct ItemMatchesQuery<'c, 'a, 's, C: GenericClient, T, const N: usize> {
    client: &'c C,
    params: [&'a (dyn postgres_types::ToSql + Sync); N],
    query: &'static str,
    cached: Option<&'s tokio_postgres::Statement>,
    extractor: fn(&tokio_postgres::Row) -> Result<ItemMatchesBorrowed, tokio_postgres::Error>,
    mapper: fn(ItemMatchesBorrowed) -> T,
}
impl<'c, 'a, 's, C, T: 'c, const N: usize> ItemMatchesQuery<'c, 'a, 's, C, T, N>
where
    C: GenericClient,
{
    pub fn map<R>(
        self,
        mapper: fn(ItemMatchesBorrowed) -> R,
    ) -> ItemMatchesQuery<'c, 'a, 's, C, R, N> {
        ItemMatchesQuery {
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
pub struct UpsertItemsStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn upsert_items() -> UpsertItemsStmt {
    UpsertItemsStmt(
        "WITH input AS ( SELECT * FROM unnest( $1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::jsonb[], $7::text[] ) WITH ORDINALITY AS t(source, external_id, title, content, content_hash, metadata, page_starts, ordinal) ), written AS ( INSERT INTO item AS i (source, external_id, title, content, content_hash, metadata, page_starts) SELECT source, external_id, title, content, content_hash, metadata, page_starts::integer[] FROM input ORDER BY source, external_id ON CONFLICT (source, external_id) DO UPDATE SET title = excluded.title, content = excluded.content, content_hash = excluded.content_hash, metadata = excluded.metadata, page_starts = excluded.page_starts, updated_at = greatest(now(), i.created_at) WHERE (i.title, i.content_hash, i.metadata, i.page_starts) IS DISTINCT FROM (excluded.title, excluded.content_hash, excluded.metadata, excluded.page_starts) RETURNING i.id, i.source, i.external_id, (i.xmax = 0) AS inserted ) SELECT input.ordinal, coalesce(written.id, existing.id) AS id, coalesce(written.inserted, false) AS inserted, (written.id IS NOT NULL) AS written FROM input LEFT JOIN written ON written.source = input.source AND written.external_id = input.external_id LEFT JOIN item AS existing ON written.id IS NULL AND existing.source = input.source AND existing.external_id = input.external_id ORDER BY input.ordinal",
        None,
    )
}
impl UpsertItemsStmt {
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
        T1: crate::StringSql,
        T2: crate::ArraySql<Item = T1>,
        T3: crate::StringSql,
        T4: crate::ArraySql<Item = T3>,
        T5: crate::StringSql,
        T6: crate::ArraySql<Item = Option<T5>>,
        T7: crate::StringSql,
        T8: crate::ArraySql<Item = T7>,
        T9: crate::BytesSql,
        T10: crate::ArraySql<Item = T9>,
        T11: crate::JsonSql,
        T12: crate::ArraySql<Item = T11>,
        T13: crate::StringSql,
        T14: crate::ArraySql<Item = Option<T13>>,
    >(
        &'s self,
        client: &'c C,
        sources: &'a T2,
        external_ids: &'a T4,
        titles: &'a T6,
        contents: &'a T8,
        content_hashes: &'a T10,
        metadata: &'a T12,
        page_starts: &'a T14,
    ) -> UpsertItemsQuery<'c, 'a, 's, C, UpsertItems, 7> {
        UpsertItemsQuery {
            client,
            params: [
                sources,
                external_ids,
                titles,
                contents,
                content_hashes,
                metadata,
                page_starts,
            ],
            query: self.0,
            cached: self.1.as_ref(),
            extractor: |row: &tokio_postgres::Row| -> Result<UpsertItems, tokio_postgres::Error> {
                Ok(UpsertItems {
                    ordinal: row.try_get(0)?,
                    id: row.try_get(1)?,
                    inserted: row.try_get(2)?,
                    written: row.try_get(3)?,
                })
            },
            mapper: |it| UpsertItems::from(it),
        }
    }
}
impl<
    'c,
    'a,
    's,
    C: GenericClient,
    T1: crate::StringSql,
    T2: crate::ArraySql<Item = T1>,
    T3: crate::StringSql,
    T4: crate::ArraySql<Item = T3>,
    T5: crate::StringSql,
    T6: crate::ArraySql<Item = Option<T5>>,
    T7: crate::StringSql,
    T8: crate::ArraySql<Item = T7>,
    T9: crate::BytesSql,
    T10: crate::ArraySql<Item = T9>,
    T11: crate::JsonSql,
    T12: crate::ArraySql<Item = T11>,
    T13: crate::StringSql,
    T14: crate::ArraySql<Item = Option<T13>>,
>
    crate::client::async_::Params<
        'c,
        'a,
        's,
        UpsertItemsParams<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14>,
        UpsertItemsQuery<'c, 'a, 's, C, UpsertItems, 7>,
        C,
    > for UpsertItemsStmt
{
    fn params(
        &'s self,
        client: &'c C,
        params: &'a UpsertItemsParams<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14>,
    ) -> UpsertItemsQuery<'c, 'a, 's, C, UpsertItems, 7> {
        self.bind(
            client,
            &params.sources,
            &params.external_ids,
            &params.titles,
            &params.contents,
            &params.content_hashes,
            &params.metadata,
            &params.page_starts,
        )
    }
}
pub struct GetItemStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn get_item() -> GetItemStmt {
    GetItemStmt(
        "SELECT id, source, external_id, title, content, content_hash, metadata::text AS metadata, created_at, updated_at, page_starts FROM item WHERE id = $1",
        None,
    )
}
impl GetItemStmt {
    pub async fn prepare<'a, C: GenericClient>(
        mut self,
        client: &'a C,
    ) -> Result<Self, tokio_postgres::Error> {
        self.1 = Some(client.prepare(self.0).await?);
        Ok(self)
    }
    pub fn bind<'c, 'a, 's, C: GenericClient>(
        &'s self,
        client: &'c C,
        id: &'a i64,
    ) -> ItemQuery<'c, 'a, 's, C, Item, 1> {
        ItemQuery {
            client,
            params: [id],
            query: self.0,
            cached: self.1.as_ref(),
            extractor: |row: &tokio_postgres::Row| -> Result<ItemBorrowed, tokio_postgres::Error> {
                Ok(ItemBorrowed {
                    id: row.try_get(0)?,
                    source: row.try_get(1)?,
                    external_id: row.try_get(2)?,
                    title: row.try_get(3)?,
                    content: row.try_get(4)?,
                    content_hash: row.try_get(5)?,
                    metadata: row.try_get(6)?,
                    created_at: row.try_get(7)?,
                    updated_at: row.try_get(8)?,
                    page_starts: row.try_get(9)?,
                })
            },
            mapper: |it| Item::from(it),
        }
    }
}
pub struct GetItemsStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn get_items() -> GetItemsStmt {
    GetItemsStmt(
        "SELECT id, source, external_id, title, content, content_hash, metadata::text AS metadata, created_at, updated_at, page_starts FROM item WHERE id = ANY($1::bigint[])",
        None,
    )
}
impl GetItemsStmt {
    pub async fn prepare<'a, C: GenericClient>(
        mut self,
        client: &'a C,
    ) -> Result<Self, tokio_postgres::Error> {
        self.1 = Some(client.prepare(self.0).await?);
        Ok(self)
    }
    pub fn bind<'c, 'a, 's, C: GenericClient, T1: crate::ArraySql<Item = i64>>(
        &'s self,
        client: &'c C,
        ids: &'a T1,
    ) -> ItemQuery<'c, 'a, 's, C, Item, 1> {
        ItemQuery {
            client,
            params: [ids],
            query: self.0,
            cached: self.1.as_ref(),
            extractor: |row: &tokio_postgres::Row| -> Result<ItemBorrowed, tokio_postgres::Error> {
                Ok(ItemBorrowed {
                    id: row.try_get(0)?,
                    source: row.try_get(1)?,
                    external_id: row.try_get(2)?,
                    title: row.try_get(3)?,
                    content: row.try_get(4)?,
                    content_hash: row.try_get(5)?,
                    metadata: row.try_get(6)?,
                    created_at: row.try_get(7)?,
                    updated_at: row.try_get(8)?,
                    page_starts: row.try_get(9)?,
                })
            },
            mapper: |it| Item::from(it),
        }
    }
}
pub struct GetItemMetadataStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn get_item_metadata() -> GetItemMetadataStmt {
    GetItemMetadataStmt(
        "SELECT id, metadata::text AS metadata FROM item WHERE id = ANY($1::bigint[])",
        None,
    )
}
impl GetItemMetadataStmt {
    pub async fn prepare<'a, C: GenericClient>(
        mut self,
        client: &'a C,
    ) -> Result<Self, tokio_postgres::Error> {
        self.1 = Some(client.prepare(self.0).await?);
        Ok(self)
    }
    pub fn bind<'c, 'a, 's, C: GenericClient, T1: crate::ArraySql<Item = i64>>(
        &'s self,
        client: &'c C,
        ids: &'a T1,
    ) -> GetItemMetadataQuery<'c, 'a, 's, C, GetItemMetadata, 1> {
        GetItemMetadataQuery {
            client,
            params: [ids],
            query: self.0,
            cached: self.1.as_ref(),
            extractor: |
                row: &tokio_postgres::Row,
            | -> Result<GetItemMetadataBorrowed, tokio_postgres::Error> {
                Ok(GetItemMetadataBorrowed {
                    id: row.try_get(0)?,
                    metadata: row.try_get(1)?,
                })
            },
            mapper: |it| GetItemMetadata::from(it),
        }
    }
}
pub struct GetItemByKeyStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn get_item_by_key() -> GetItemByKeyStmt {
    GetItemByKeyStmt(
        "SELECT id, source, external_id, title, content, content_hash, metadata::text AS metadata, created_at, updated_at, page_starts FROM item WHERE source = $1 AND external_id = $2",
        None,
    )
}
impl GetItemByKeyStmt {
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
        source: &'a T1,
        external_id: &'a T2,
    ) -> ItemQuery<'c, 'a, 's, C, Item, 2> {
        ItemQuery {
            client,
            params: [source, external_id],
            query: self.0,
            cached: self.1.as_ref(),
            extractor: |row: &tokio_postgres::Row| -> Result<ItemBorrowed, tokio_postgres::Error> {
                Ok(ItemBorrowed {
                    id: row.try_get(0)?,
                    source: row.try_get(1)?,
                    external_id: row.try_get(2)?,
                    title: row.try_get(3)?,
                    content: row.try_get(4)?,
                    content_hash: row.try_get(5)?,
                    metadata: row.try_get(6)?,
                    created_at: row.try_get(7)?,
                    updated_at: row.try_get(8)?,
                    page_starts: row.try_get(9)?,
                })
            },
            mapper: |it| Item::from(it),
        }
    }
}
impl<'c, 'a, 's, C: GenericClient, T1: crate::StringSql, T2: crate::StringSql>
    crate::client::async_::Params<
        'c,
        'a,
        's,
        GetItemByKeyParams<T1, T2>,
        ItemQuery<'c, 'a, 's, C, Item, 2>,
        C,
    > for GetItemByKeyStmt
{
    fn params(
        &'s self,
        client: &'c C,
        params: &'a GetItemByKeyParams<T1, T2>,
    ) -> ItemQuery<'c, 'a, 's, C, Item, 2> {
        self.bind(client, &params.source, &params.external_id)
    }
}
pub struct GetItemIdsByKeysStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn get_item_ids_by_keys() -> GetItemIdsByKeysStmt {
    GetItemIdsByKeysStmt(
        "SELECT i.id, i.source, i.external_id FROM unnest($1::text[], $2::text[]) AS k(source, external_id) JOIN item AS i ON i.source = k.source AND i.external_id = k.external_id",
        None,
    )
}
impl GetItemIdsByKeysStmt {
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
        T1: crate::StringSql,
        T2: crate::ArraySql<Item = T1>,
        T3: crate::StringSql,
        T4: crate::ArraySql<Item = T3>,
    >(
        &'s self,
        client: &'c C,
        sources: &'a T2,
        external_ids: &'a T4,
    ) -> GetItemIdsByKeysQuery<'c, 'a, 's, C, GetItemIdsByKeys, 2> {
        GetItemIdsByKeysQuery {
            client,
            params: [sources, external_ids],
            query: self.0,
            cached: self.1.as_ref(),
            extractor: |
                row: &tokio_postgres::Row,
            | -> Result<GetItemIdsByKeysBorrowed, tokio_postgres::Error> {
                Ok(GetItemIdsByKeysBorrowed {
                    id: row.try_get(0)?,
                    source: row.try_get(1)?,
                    external_id: row.try_get(2)?,
                })
            },
            mapper: |it| GetItemIdsByKeys::from(it),
        }
    }
}
impl<
    'c,
    'a,
    's,
    C: GenericClient,
    T1: crate::StringSql,
    T2: crate::ArraySql<Item = T1>,
    T3: crate::StringSql,
    T4: crate::ArraySql<Item = T3>,
>
    crate::client::async_::Params<
        'c,
        'a,
        's,
        GetItemIdsByKeysParams<T1, T2, T3, T4>,
        GetItemIdsByKeysQuery<'c, 'a, 's, C, GetItemIdsByKeys, 2>,
        C,
    > for GetItemIdsByKeysStmt
{
    fn params(
        &'s self,
        client: &'c C,
        params: &'a GetItemIdsByKeysParams<T1, T2, T3, T4>,
    ) -> GetItemIdsByKeysQuery<'c, 'a, 's, C, GetItemIdsByKeys, 2> {
        self.bind(client, &params.sources, &params.external_ids)
    }
}
pub struct DeleteItemStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn delete_item() -> DeleteItemStmt {
    DeleteItemStmt("DELETE FROM item WHERE id = $1", None)
}
impl DeleteItemStmt {
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
        id: &'a i64,
    ) -> Result<u64, tokio_postgres::Error> {
        client.execute(self.0, &[id]).await
    }
}
pub struct DeleteItemByKeyStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn delete_item_by_key() -> DeleteItemByKeyStmt {
    DeleteItemByKeyStmt(
        "DELETE FROM item WHERE source = $1 AND external_id = $2",
        None,
    )
}
impl DeleteItemByKeyStmt {
    pub async fn prepare<'a, C: GenericClient>(
        mut self,
        client: &'a C,
    ) -> Result<Self, tokio_postgres::Error> {
        self.1 = Some(client.prepare(self.0).await?);
        Ok(self)
    }
    pub async fn bind<'c, 'a, 's, C: GenericClient, T1: crate::StringSql, T2: crate::StringSql>(
        &'s self,
        client: &'c C,
        source: &'a T1,
        external_id: &'a T2,
    ) -> Result<u64, tokio_postgres::Error> {
        client.execute(self.0, &[source, external_id]).await
    }
}
impl<'a, C: GenericClient + Send + Sync, T1: crate::StringSql, T2: crate::StringSql>
    crate::client::async_::Params<
        'a,
        'a,
        'a,
        DeleteItemByKeyParams<T1, T2>,
        std::pin::Pin<
            Box<dyn futures::Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'a>,
        >,
        C,
    > for DeleteItemByKeyStmt
{
    fn params(
        &'a self,
        client: &'a C,
        params: &'a DeleteItemByKeyParams<T1, T2>,
    ) -> std::pin::Pin<
        Box<dyn futures::Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'a>,
    > {
        Box::pin(self.bind(client, &params.source, &params.external_id))
    }
}
pub struct DeleteItemsStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn delete_items() -> DeleteItemsStmt {
    DeleteItemsStmt("DELETE FROM item WHERE id = ANY($1::bigint[])", None)
}
impl DeleteItemsStmt {
    pub async fn prepare<'a, C: GenericClient>(
        mut self,
        client: &'a C,
    ) -> Result<Self, tokio_postgres::Error> {
        self.1 = Some(client.prepare(self.0).await?);
        Ok(self)
    }
    pub async fn bind<'c, 'a, 's, C: GenericClient, T1: crate::ArraySql<Item = i64>>(
        &'s self,
        client: &'c C,
        ids: &'a T1,
    ) -> Result<u64, tokio_postgres::Error> {
        client.execute(self.0, &[ids]).await
    }
}
pub struct SourceItemKeysStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn source_item_keys() -> SourceItemKeysStmt {
    SourceItemKeysStmt(
        "SELECT id, external_id FROM item WHERE source = $1 AND ($2::text IS NULL OR external_id > $2::text) ORDER BY external_id LIMIT $3::bigint",
        None,
    )
}
impl SourceItemKeysStmt {
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
        source: &'a T1,
        after: &'a Option<T2>,
        limit: &'a i64,
    ) -> SourceItemKeysQuery<'c, 'a, 's, C, SourceItemKeys, 3> {
        SourceItemKeysQuery {
            client,
            params: [source, after, limit],
            query: self.0,
            cached: self.1.as_ref(),
            extractor: |
                row: &tokio_postgres::Row,
            | -> Result<SourceItemKeysBorrowed, tokio_postgres::Error> {
                Ok(SourceItemKeysBorrowed {
                    id: row.try_get(0)?,
                    external_id: row.try_get(1)?,
                })
            },
            mapper: |it| SourceItemKeys::from(it),
        }
    }
}
impl<'c, 'a, 's, C: GenericClient, T1: crate::StringSql, T2: crate::StringSql>
    crate::client::async_::Params<
        'c,
        'a,
        's,
        SourceItemKeysParams<T1, T2>,
        SourceItemKeysQuery<'c, 'a, 's, C, SourceItemKeys, 3>,
        C,
    > for SourceItemKeysStmt
{
    fn params(
        &'s self,
        client: &'c C,
        params: &'a SourceItemKeysParams<T1, T2>,
    ) -> SourceItemKeysQuery<'c, 'a, 's, C, SourceItemKeys, 3> {
        self.bind(client, &params.source, &params.after, &params.limit)
    }
}
pub struct SourceItemDigestsStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn source_item_digests() -> SourceItemDigestsStmt {
    SourceItemDigestsStmt(
        "SELECT id, external_id, content_hash, updated_at FROM item WHERE source = $1 AND ($2::text IS NULL OR external_id > $2::text) ORDER BY external_id LIMIT $3::bigint",
        None,
    )
}
impl SourceItemDigestsStmt {
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
        source: &'a T1,
        after: &'a Option<T2>,
        limit: &'a i64,
    ) -> SourceItemDigestsQuery<'c, 'a, 's, C, SourceItemDigests, 3> {
        SourceItemDigestsQuery {
            client,
            params: [source, after, limit],
            query: self.0,
            cached: self.1.as_ref(),
            extractor: |
                row: &tokio_postgres::Row,
            | -> Result<SourceItemDigestsBorrowed, tokio_postgres::Error> {
                Ok(SourceItemDigestsBorrowed {
                    id: row.try_get(0)?,
                    external_id: row.try_get(1)?,
                    content_hash: row.try_get(2)?,
                    updated_at: row.try_get(3)?,
                })
            },
            mapper: |it| SourceItemDigests::from(it),
        }
    }
}
impl<'c, 'a, 's, C: GenericClient, T1: crate::StringSql, T2: crate::StringSql>
    crate::client::async_::Params<
        'c,
        'a,
        's,
        SourceItemDigestsParams<T1, T2>,
        SourceItemDigestsQuery<'c, 'a, 's, C, SourceItemDigests, 3>,
        C,
    > for SourceItemDigestsStmt
{
    fn params(
        &'s self,
        client: &'c C,
        params: &'a SourceItemDigestsParams<T1, T2>,
    ) -> SourceItemDigestsQuery<'c, 'a, 's, C, SourceItemDigests, 3> {
        self.bind(client, &params.source, &params.after, &params.limit)
    }
}
pub struct SourceCountsStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn source_counts() -> SourceCountsStmt {
    SourceCountsStmt(
        "SELECT source, count(*)::bigint AS items FROM item GROUP BY source ORDER BY source",
        None,
    )
}
impl SourceCountsStmt {
    pub async fn prepare<'a, C: GenericClient>(
        mut self,
        client: &'a C,
    ) -> Result<Self, tokio_postgres::Error> {
        self.1 = Some(client.prepare(self.0).await?);
        Ok(self)
    }
    pub fn bind<'c, 'a, 's, C: GenericClient>(
        &'s self,
        client: &'c C,
    ) -> SourceCountsQuery<'c, 'a, 's, C, SourceCounts, 0> {
        SourceCountsQuery {
            client,
            params: [],
            query: self.0,
            cached: self.1.as_ref(),
            extractor:
                |row: &tokio_postgres::Row| -> Result<SourceCountsBorrowed, tokio_postgres::Error> {
                    Ok(SourceCountsBorrowed {
                        source: row.try_get(0)?,
                        items: row.try_get(1)?,
                    })
                },
            mapper: |it| SourceCounts::from(it),
        }
    }
}
pub struct SourcesWithItemsStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn sources_with_items() -> SourcesWithItemsStmt {
    SourcesWithItemsStmt(
        "SELECT s.source FROM unnest($1::text[]) WITH ORDINALITY AS s(source, position) WHERE EXISTS (SELECT 1 FROM item AS i WHERE i.source = s.source) ORDER BY s.position",
        None,
    )
}
impl SourcesWithItemsStmt {
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
        T1: crate::StringSql,
        T2: crate::ArraySql<Item = T1>,
    >(
        &'s self,
        client: &'c C,
        sources: &'a T2,
    ) -> StringQuery<'c, 'a, 's, C, String, 1> {
        StringQuery {
            client,
            params: [sources],
            query: self.0,
            cached: self.1.as_ref(),
            extractor: |row| Ok(row.try_get(0)?),
            mapper: |it| it.into(),
        }
    }
}
pub struct SearchItemsStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn search_items() -> SearchItemsStmt {
    SearchItemsStmt(
        "WITH ranked AS ( SELECT i.id, ts_rank_cd(i.search_vector, q.query) AS rank FROM item AS i, websearch_to_tsquery('english'::regconfig, $1::text) AS q(query) WHERE i.search_vector @@ q.query AND ($2::text[] IS NULL OR i.source = ANY($2::text[])) ORDER BY rank DESC, i.id LIMIT $3::bigint ) SELECT i.id, i.source, i.external_id, i.title, i.content, i.content_hash, i.metadata::text AS metadata, i.created_at, i.updated_at, i.page_starts, ranked.rank FROM ranked JOIN item AS i ON i.id = ranked.id ORDER BY ranked.rank DESC, i.id",
        None,
    )
}
impl SearchItemsStmt {
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
        T1: crate::StringSql,
        T2: crate::StringSql,
        T3: crate::ArraySql<Item = T2>,
    >(
        &'s self,
        client: &'c C,
        query: &'a T1,
        sources: &'a Option<T3>,
        limit: &'a i64,
    ) -> ItemHitQuery<'c, 'a, 's, C, ItemHit, 3> {
        ItemHitQuery {
            client,
            params: [query, sources, limit],
            query: self.0,
            cached: self.1.as_ref(),
            extractor:
                |row: &tokio_postgres::Row| -> Result<ItemHitBorrowed, tokio_postgres::Error> {
                    Ok(ItemHitBorrowed {
                        id: row.try_get(0)?,
                        source: row.try_get(1)?,
                        external_id: row.try_get(2)?,
                        title: row.try_get(3)?,
                        content: row.try_get(4)?,
                        content_hash: row.try_get(5)?,
                        metadata: row.try_get(6)?,
                        created_at: row.try_get(7)?,
                        updated_at: row.try_get(8)?,
                        page_starts: row.try_get(9)?,
                        rank: row.try_get(10)?,
                    })
                },
            mapper: |it| ItemHit::from(it),
        }
    }
}
impl<
    'c,
    'a,
    's,
    C: GenericClient,
    T1: crate::StringSql,
    T2: crate::StringSql,
    T3: crate::ArraySql<Item = T2>,
>
    crate::client::async_::Params<
        'c,
        'a,
        's,
        SearchItemsParams<T1, T2, T3>,
        ItemHitQuery<'c, 'a, 's, C, ItemHit, 3>,
        C,
    > for SearchItemsStmt
{
    fn params(
        &'s self,
        client: &'c C,
        params: &'a SearchItemsParams<T1, T2, T3>,
    ) -> ItemHitQuery<'c, 'a, 's, C, ItemHit, 3> {
        self.bind(client, &params.query, &params.sources, &params.limit)
    }
}
pub struct SearchItemsAnyWordStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn search_items_any_word() -> SearchItemsAnyWordStmt {
    SearchItemsAnyWordStmt(
        "WITH ranked AS ( SELECT i.id, ts_rank(i.search_vector, q.query) AS rank FROM item AS i, websearch_to_tsquery('english'::regconfig, $1::text) AS q(query) WHERE i.search_vector @@ q.query AND ($2::text[] IS NULL OR i.source = ANY($2::text[])) ORDER BY rank DESC, i.id LIMIT $3::bigint ) SELECT i.id, i.source, i.external_id, i.title, i.content, i.content_hash, i.metadata::text AS metadata, i.created_at, i.updated_at, i.page_starts, ranked.rank FROM ranked JOIN item AS i ON i.id = ranked.id ORDER BY ranked.rank DESC, i.id",
        None,
    )
}
impl SearchItemsAnyWordStmt {
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
        T1: crate::StringSql,
        T2: crate::StringSql,
        T3: crate::ArraySql<Item = T2>,
    >(
        &'s self,
        client: &'c C,
        query: &'a T1,
        sources: &'a Option<T3>,
        limit: &'a i64,
    ) -> ItemHitQuery<'c, 'a, 's, C, ItemHit, 3> {
        ItemHitQuery {
            client,
            params: [query, sources, limit],
            query: self.0,
            cached: self.1.as_ref(),
            extractor:
                |row: &tokio_postgres::Row| -> Result<ItemHitBorrowed, tokio_postgres::Error> {
                    Ok(ItemHitBorrowed {
                        id: row.try_get(0)?,
                        source: row.try_get(1)?,
                        external_id: row.try_get(2)?,
                        title: row.try_get(3)?,
                        content: row.try_get(4)?,
                        content_hash: row.try_get(5)?,
                        metadata: row.try_get(6)?,
                        created_at: row.try_get(7)?,
                        updated_at: row.try_get(8)?,
                        page_starts: row.try_get(9)?,
                        rank: row.try_get(10)?,
                    })
                },
            mapper: |it| ItemHit::from(it),
        }
    }
}
impl<
    'c,
    'a,
    's,
    C: GenericClient,
    T1: crate::StringSql,
    T2: crate::StringSql,
    T3: crate::ArraySql<Item = T2>,
>
    crate::client::async_::Params<
        'c,
        'a,
        's,
        SearchItemsAnyWordParams<T1, T2, T3>,
        ItemHitQuery<'c, 'a, 's, C, ItemHit, 3>,
        C,
    > for SearchItemsAnyWordStmt
{
    fn params(
        &'s self,
        client: &'c C,
        params: &'a SearchItemsAnyWordParams<T1, T2, T3>,
    ) -> ItemHitQuery<'c, 'a, 's, C, ItemHit, 3> {
        self.bind(client, &params.query, &params.sources, &params.limit)
    }
}
pub struct LexicalCorpusStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn lexical_corpus() -> LexicalCorpusStmt {
    LexicalCorpusStmt(
        "SELECT coalesce(sum(s.version), 0)::bigint AS version, coalesce(sum(s.items), 0)::bigint AS items, coalesce(sum(s.title_length), 0)::bigint AS title_length, coalesce(sum(s.content_length), 0)::bigint AS content_length, array( SELECT u.lexeme FROM unnest(to_tsvector('english'::regconfig, $1::text)) AS u ) AS terms, array( SELECT x.id FROM item_source AS x WHERE x.source = ANY($2::text[]) ) AS source_ids FROM item_term_stats AS s",
        None,
    )
}
impl LexicalCorpusStmt {
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
        T1: crate::StringSql,
        T2: crate::StringSql,
        T3: crate::ArraySql<Item = T2>,
    >(
        &'s self,
        client: &'c C,
        question: &'a T1,
        sources: &'a Option<T3>,
    ) -> LexicalCorpusQuery<'c, 'a, 's, C, LexicalCorpus, 2> {
        LexicalCorpusQuery {
            client,
            params: [question, sources],
            query: self.0,
            cached: self.1.as_ref(),
            extractor:
                |row: &tokio_postgres::Row| -> Result<LexicalCorpusBorrowed, tokio_postgres::Error> {
                    Ok(LexicalCorpusBorrowed {
                        version: row.try_get(0)?,
                        items: row.try_get(1)?,
                        title_length: row.try_get(2)?,
                        content_length: row.try_get(3)?,
                        terms: row.try_get(4)?,
                        source_ids: row.try_get(5)?,
                    })
                },
            mapper: |it| LexicalCorpus::from(it),
        }
    }
}
impl<
    'c,
    'a,
    's,
    C: GenericClient,
    T1: crate::StringSql,
    T2: crate::StringSql,
    T3: crate::ArraySql<Item = T2>,
>
    crate::client::async_::Params<
        'c,
        'a,
        's,
        LexicalCorpusParams<T1, T2, T3>,
        LexicalCorpusQuery<'c, 'a, 's, C, LexicalCorpus, 2>,
        C,
    > for LexicalCorpusStmt
{
    fn params(
        &'s self,
        client: &'c C,
        params: &'a LexicalCorpusParams<T1, T2, T3>,
    ) -> LexicalCorpusQuery<'c, 'a, 's, C, LexicalCorpus, 2> {
        self.bind(client, &params.question, &params.sources)
    }
}
pub struct LexicalPostingsStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn lexical_postings() -> LexicalPostingsStmt {
    LexicalPostingsStmt(
        "SELECT q.term, p.block, p.item_ids, p.title_tfs, p.content_tfs, p.title_lengths, p.content_lengths, p.source_ids, p.dead_item_ids, (SELECT coalesce(sum(s.version), 0)::bigint FROM item_term_stats AS s) AS version FROM unnest($1::text[]) AS q(term) LEFT JOIN LATERAL ( SELECT b.block, b.item_ids, b.title_tfs, b.content_tfs, b.title_lengths, b.content_lengths, b.source_ids, array( SELECT d.item_id FROM item_posting_dead AS d WHERE d.before_block > b.block ) AS dead_item_ids FROM item_posting AS b WHERE b.term = q.term UNION ALL SELECT NULL, array_agg(f.item_id), array_agg(f.title_tf), array_agg(f.content_tf), array_agg(f.title_length), array_agg(f.content_length), array_agg(f.source_id), '{}' FROM ( SELECT i.id AS item_id, tf.title::smallint AS title_tf, (tf.every - tf.title)::smallint AS content_tf, t.title_length, t.content_length, s.id AS source_id FROM item_posting_fresh AS x CROSS JOIN LATERAL ( SELECT item.id, item.source, item.search_vector FROM item WHERE item.id = x.item_id OFFSET 0 ) AS i CROSS JOIN LATERAL ( SELECT y.title_length, y.content_length FROM item_term AS y WHERE y.item_id = i.id OFFSET 0 ) AS t CROSS JOIN LATERAL ( SELECT z.id FROM item_source AS z WHERE z.source = i.source OFFSET 0 ) AS s CROSS JOIN LATERAL ( SELECT ( SELECT coalesce(sum(cardinality(u.positions)), 0) FROM unnest(ts_filter(setweight(i.search_vector, 'D', ARRAY[q.term]), '{d}')) AS u ) AS every, ( SELECT coalesce(sum(cardinality(u.positions)), 0) FROM unnest(ts_filter( setweight(ts_filter(i.search_vector, '{a}'), 'D', ARRAY[q.term]), '{d}')) AS u ) AS title OFFSET 0 ) AS tf WHERE i.search_vector @@ quote_literal(q.term)::tsquery AND tf.every > 0 ) AS f HAVING count(*) > 0 ) AS p ON true",
        None,
    )
}
impl LexicalPostingsStmt {
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
        T1: crate::StringSql,
        T2: crate::ArraySql<Item = T1>,
    >(
        &'s self,
        client: &'c C,
        terms: &'a T2,
    ) -> LexicalPostingsQuery<'c, 'a, 's, C, LexicalPostings, 1> {
        LexicalPostingsQuery {
            client,
            params: [terms],
            query: self.0,
            cached: self.1.as_ref(),
            extractor: |
                row: &tokio_postgres::Row,
            | -> Result<LexicalPostingsBorrowed, tokio_postgres::Error> {
                Ok(LexicalPostingsBorrowed {
                    term: row.try_get(0)?,
                    block: row.try_get(1)?,
                    item_ids: row.try_get(2)?,
                    title_tfs: row.try_get(3)?,
                    content_tfs: row.try_get(4)?,
                    title_lengths: row.try_get(5)?,
                    content_lengths: row.try_get(6)?,
                    source_ids: row.try_get(7)?,
                    dead_item_ids: row.try_get(8)?,
                    version: row.try_get(9)?,
                })
            },
            mapper: |it| LexicalPostings::from(it),
        }
    }
}
pub struct MergeFreshPostingsStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn merge_fresh_postings() -> MergeFreshPostingsStmt {
    MergeFreshPostingsStmt(
        "SELECT merge_fresh_item_postings($1::integer) AS taken",
        None,
    )
}
impl MergeFreshPostingsStmt {
    pub async fn prepare<'a, C: GenericClient>(
        mut self,
        client: &'a C,
    ) -> Result<Self, tokio_postgres::Error> {
        self.1 = Some(client.prepare(self.0).await?);
        Ok(self)
    }
    pub fn bind<'c, 'a, 's, C: GenericClient>(
        &'s self,
        client: &'c C,
        most_items: &'a i32,
    ) -> I32Query<'c, 'a, 's, C, i32, 1> {
        I32Query {
            client,
            params: [most_items],
            query: self.0,
            cached: self.1.as_ref(),
            extractor: |row| Ok(row.try_get(0)?),
            mapper: |it| it,
        }
    }
}
pub struct MergePostingsStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn merge_postings() -> MergePostingsStmt {
    MergePostingsStmt(
        "SELECT merge_item_postings($1::text, $2::integer) AS last_term",
        None,
    )
}
impl MergePostingsStmt {
    pub async fn prepare<'a, C: GenericClient>(
        mut self,
        client: &'a C,
    ) -> Result<Self, tokio_postgres::Error> {
        self.1 = Some(client.prepare(self.0).await?);
        Ok(self)
    }
    pub fn bind<'c, 'a, 's, C: GenericClient, T1: crate::StringSql>(
        &'s self,
        client: &'c C,
        after: &'a Option<T1>,
        most_terms: &'a i32,
    ) -> OptionStringQuery<'c, 'a, 's, C, Option<String>, 2> {
        OptionStringQuery {
            client,
            params: [after, most_terms],
            query: self.0,
            cached: self.1.as_ref(),
            extractor: |row| Ok(row.try_get(0)?),
            mapper: |it| it.map(|v| v.into()),
        }
    }
}
impl<'c, 'a, 's, C: GenericClient, T1: crate::StringSql>
    crate::client::async_::Params<
        'c,
        'a,
        's,
        MergePostingsParams<T1>,
        OptionStringQuery<'c, 'a, 's, C, Option<String>, 2>,
        C,
    > for MergePostingsStmt
{
    fn params(
        &'s self,
        client: &'c C,
        params: &'a MergePostingsParams<T1>,
    ) -> OptionStringQuery<'c, 'a, 's, C, Option<String>, 2> {
        self.bind(client, &params.after, &params.most_terms)
    }
}
pub struct GetItemHeadsStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn get_item_heads() -> GetItemHeadsStmt {
    GetItemHeadsStmt(
        "SELECT i.id, i.source, i.external_id, i.title, i.content_hash, i.page_starts, (SELECT coalesce(sum(s.version), 0)::bigint FROM item_term_stats AS s) AS version FROM unnest($1::bigint[]) AS k(id) CROSS JOIN LATERAL ( SELECT item.id, item.source, item.external_id, item.title, item.content_hash, item.page_starts FROM item WHERE item.id = k.id OFFSET 0 ) AS i",
        None,
    )
}
impl GetItemHeadsStmt {
    pub async fn prepare<'a, C: GenericClient>(
        mut self,
        client: &'a C,
    ) -> Result<Self, tokio_postgres::Error> {
        self.1 = Some(client.prepare(self.0).await?);
        Ok(self)
    }
    pub fn bind<'c, 'a, 's, C: GenericClient, T1: crate::ArraySql<Item = i64>>(
        &'s self,
        client: &'c C,
        ids: &'a T1,
    ) -> ItemHeadQuery<'c, 'a, 's, C, ItemHead, 1> {
        ItemHeadQuery {
            client,
            params: [ids],
            query: self.0,
            cached: self.1.as_ref(),
            extractor:
                |row: &tokio_postgres::Row| -> Result<ItemHeadBorrowed, tokio_postgres::Error> {
                    Ok(ItemHeadBorrowed {
                        id: row.try_get(0)?,
                        source: row.try_get(1)?,
                        external_id: row.try_get(2)?,
                        title: row.try_get(3)?,
                        content_hash: row.try_get(4)?,
                        page_starts: row.try_get(5)?,
                        version: row.try_get(6)?,
                    })
                },
            mapper: |it| ItemHead::from(it),
        }
    }
}
pub struct ItemFilterMatchesStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn item_filter_matches() -> ItemFilterMatchesStmt {
    ItemFilterMatchesStmt(
        "SELECT v.version, CASE WHEN v.version = $1::bigint THEN NULL ELSE ( SELECT coalesce(array_agg(i.id), '{}') FROM item AS i WHERE item_filter_document(i.source, i.external_id, i.created_at, i.updated_at, i.metadata) @@ $2::text::jsonpath ) END AS ids FROM (SELECT sum(version)::bigint AS version FROM item_facts_stats) AS v",
        None,
    )
}
impl ItemFilterMatchesStmt {
    pub async fn prepare<'a, C: GenericClient>(
        mut self,
        client: &'a C,
    ) -> Result<Self, tokio_postgres::Error> {
        self.1 = Some(client.prepare(self.0).await?);
        Ok(self)
    }
    pub fn bind<'c, 'a, 's, C: GenericClient, T1: crate::StringSql>(
        &'s self,
        client: &'c C,
        known_version: &'a i64,
        filter: &'a T1,
    ) -> ItemMatchesQuery<'c, 'a, 's, C, ItemMatches, 2> {
        ItemMatchesQuery {
            client,
            params: [known_version, filter],
            query: self.0,
            cached: self.1.as_ref(),
            extractor:
                |row: &tokio_postgres::Row| -> Result<ItemMatchesBorrowed, tokio_postgres::Error> {
                    Ok(ItemMatchesBorrowed {
                        version: row.try_get(0)?,
                        ids: row.try_get(1)?,
                    })
                },
            mapper: |it| ItemMatches::from(it),
        }
    }
}
impl<'c, 'a, 's, C: GenericClient, T1: crate::StringSql>
    crate::client::async_::Params<
        'c,
        'a,
        's,
        ItemFilterMatchesParams<T1>,
        ItemMatchesQuery<'c, 'a, 's, C, ItemMatches, 2>,
        C,
    > for ItemFilterMatchesStmt
{
    fn params(
        &'s self,
        client: &'c C,
        params: &'a ItemFilterMatchesParams<T1>,
    ) -> ItemMatchesQuery<'c, 'a, 's, C, ItemMatches, 2> {
        self.bind(client, &params.known_version, &params.filter)
    }
}
pub struct ItemFilterMatchesNarrowedStmt(&'static str, Option<tokio_postgres::Statement>);
pub fn item_filter_matches_narrowed() -> ItemFilterMatchesNarrowedStmt {
    ItemFilterMatchesNarrowedStmt(
        "SELECT v.version, CASE WHEN v.version = $1::bigint THEN NULL ELSE ( SELECT coalesce(array_agg(i.id), '{}') FROM item AS i WHERE i.metadata @@ $2::text::jsonpath AND item_filter_document(i.source, i.external_id, i.created_at, i.updated_at, i.metadata) @@ $3::text::jsonpath ) END AS ids FROM (SELECT sum(version)::bigint AS version FROM item_facts_stats) AS v",
        None,
    )
}
impl ItemFilterMatchesNarrowedStmt {
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
        known_version: &'a i64,
        narrowing: &'a T1,
        filter: &'a T2,
    ) -> ItemMatchesQuery<'c, 'a, 's, C, ItemMatches, 3> {
        ItemMatchesQuery {
            client,
            params: [known_version, narrowing, filter],
            query: self.0,
            cached: self.1.as_ref(),
            extractor:
                |row: &tokio_postgres::Row| -> Result<ItemMatchesBorrowed, tokio_postgres::Error> {
                    Ok(ItemMatchesBorrowed {
                        version: row.try_get(0)?,
                        ids: row.try_get(1)?,
                    })
                },
            mapper: |it| ItemMatches::from(it),
        }
    }
}
impl<'c, 'a, 's, C: GenericClient, T1: crate::StringSql, T2: crate::StringSql>
    crate::client::async_::Params<
        'c,
        'a,
        's,
        ItemFilterMatchesNarrowedParams<T1, T2>,
        ItemMatchesQuery<'c, 'a, 's, C, ItemMatches, 3>,
        C,
    > for ItemFilterMatchesNarrowedStmt
{
    fn params(
        &'s self,
        client: &'c C,
        params: &'a ItemFilterMatchesNarrowedParams<T1, T2>,
    ) -> ItemMatchesQuery<'c, 'a, 's, C, ItemMatches, 3> {
        self.bind(
            client,
            &params.known_version,
            &params.narrowing,
            &params.filter,
        )
    }
}
