// This file was generated with `cornucopia`. Do not modify.

pub mod chunk_cache;
pub mod embedding;
pub mod item;
